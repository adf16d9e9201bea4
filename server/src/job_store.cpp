// JobStore: opening the store, the schema and its migrations, the statement
// cache and reading job rows. The other concerns live in job_store_*.cpp.
#include "cardbureau/server/job_store.h"

#include <openssl/rand.h>

#include "cardbureau/core/bytes.h"
#include "job_store_sql.h"

namespace cardbureau::server {
namespace {

// Schema migrations; index i migrates user_version i -> i+1.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE jobs(
  job_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  school_code TEXT NOT NULL DEFAULT '',
  card_no TEXT NOT NULL DEFAULT '',
  student_name TEXT,
  job_json TEXT,
  photo_sha256 TEXT NOT NULL DEFAULT '',
  report_id TEXT,
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  acked_at INTEGER,
  purged_at INTEGER);
CREATE INDEX jobs_state ON jobs(state);
CREATE INDEX jobs_school ON jobs(school_code);
CREATE INDEX jobs_photo ON jobs(photo_sha256);
CREATE INDEX jobs_retention ON jobs(acked_at) WHERE purged_at IS NULL;
CREATE TABLE job_history(
  id INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  at INTEGER NOT NULL,
  note TEXT NOT NULL DEFAULT '');
CREATE INDEX history_job ON job_history(job_id);
CREATE TABLE outbox(
  report_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  type TEXT NOT NULL,
  frame0 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  acked_at INTEGER);
CREATE INDEX outbox_job ON outbox(job_id);
CREATE INDEX outbox_pending ON outbox(created_at) WHERE acked_at IS NULL;
CREATE TABLE audit(
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  job_id TEXT NOT NULL,
  event TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '');
CREATE INDEX audit_job ON audit(job_id);
)sql",
    R"sql(
ALTER TABLE jobs ADD COLUMN reprint_of TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN reprinted_by TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN voided_at INTEGER;
CREATE TABLE reprints(
  reprint_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_at INTEGER,
  new_job_id TEXT NOT NULL DEFAULT '');
CREATE INDEX reprints_job ON reprints(job_id);
)sql",
    // Schema 3: job_history becomes the job's one history (see job_store.h).
    R"sql(
ALTER TABLE job_history ADD COLUMN kind TEXT NOT NULL DEFAULT 'state';
ALTER TABLE job_history ADD COLUMN station TEXT NOT NULL DEFAULT '';
ALTER TABLE job_history ADD COLUMN printer TEXT NOT NULL DEFAULT '';
ALTER TABLE job_history ADD COLUMN uid TEXT NOT NULL DEFAULT '';
ALTER TABLE job_history ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE job_history ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE job_history ADD COLUMN code TEXT NOT NULL DEFAULT '';
ALTER TABLE job_history ADD COLUMN field TEXT NOT NULL DEFAULT '';
ALTER TABLE job_history ADD COLUMN message TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN card_uid TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_card_uid ON jobs(card_uid) WHERE card_uid<>'';
)sql",
    // Schema 4: the job's kind (new/reissue) outlives the purge of its JSON,
    // for the batch manifest.
    R"sql(
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT '';
)sql",
    // Schema 5 (job_store_record.cpp): the dashboard audit trail's chain
    // head (was DATA/dashboard-audit.head) and the centre's error answers to
    // reports still in the outbox.
    R"sql(
CREATE TABLE audit_head(
  id INTEGER PRIMARY KEY CHECK(id=1),
  entries INTEGER NOT NULL,
  last_hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE report_answers(
  report_id TEXT PRIMARY KEY,
  code TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 1);
)sql",
    // Schema 6: station faults until acknowledged (job_store_dashboard.cpp).
    R"sql(
CREATE TABLE station_faults(
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  station TEXT NOT NULL,
  code TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  job_id TEXT NOT NULL DEFAULT '',
  acked_at INTEGER,
  acked_by TEXT NOT NULL DEFAULT '');
CREATE INDEX station_faults_station ON station_faults(station, id);
CREATE INDEX station_faults_open ON station_faults(id) WHERE acked_at IS NULL;
CREATE INDEX history_to_state ON job_history(to_state, at) WHERE kind='state';
)sql",
    // Schema 7: card stock lots (stock.h, stock_store.cpp).
    R"sql(
CREATE TABLE stock_lots(
  lot_id TEXT PRIMARY KEY,
  file_sha256 TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  imported_at INTEGER NOT NULL,
  cards INTEGER NOT NULL);
CREATE UNIQUE INDEX stock_lots_file ON stock_lots(file_sha256);
CREATE TABLE stock_cards(
  uid TEXT PRIMARY KEY,
  lot_id TEXT NOT NULL,
  line INTEGER NOT NULL,
  transit_no TEXT NOT NULL,
  card_type TEXT NOT NULL,
  expires TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'unused',
  job_id TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  at INTEGER);
CREATE INDEX stock_cards_lot ON stock_cards(lot_id, status);
CREATE INDEX stock_cards_spoiled ON stock_cards(at) WHERE status='spoiled';
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

}  // namespace

JobStore::JobStore(Database db, PhotoStore photos, std::filesystem::path data_dir,
                   const Clock& clock)
    : db_(std::move(db)),
      photos_(std::move(photos)),
      data_dir_(std::move(data_dir)),
      clock_(clock) {}

JobStore::~JobStore() {
  std::lock_guard lock(mu_);
  stmts_.clear();  // finalize before the connection closes
}

Result<std::unique_ptr<JobStore>> JobStore::Open(const std::filesystem::path& data_dir,
                                                 const Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir / "cards", ec);
  if (ec) return Status(Code::kIoError, "cannot create " + data_dir.string() + ": " + ec.message());
  CB_ASSIGN_OR_RETURN(auto photos, PhotoStore::Open(data_dir / "photos"));
  CB_ASSIGN_OR_RETURN(auto db, Database::Open((data_dir / "bureau.db").string()));
  std::unique_ptr<JobStore> store(new JobStore(std::move(db), std::move(photos), data_dir, clock));
  CB_RETURN_IF_ERROR(store->Migrate());
  return store;
}

int JobStore::SchemaVersion() {
  std::lock_guard lock(mu_);
  auto st = db_.Prepare("PRAGMA user_version");
  if (!st.ok()) return -1;
  auto row = st->Step();
  return row.ok() && *row ? static_cast<int>(st->Int(0)) : -1;
}

Status JobStore::Migrate() {
  CB_ASSIGN_OR_RETURN(auto st, db_.Prepare("PRAGMA user_version"));
  CB_ASSIGN_OR_RETURN(bool row, st.Step());
  int version = row ? static_cast<int>(st.Int(0)) : 0;
  st.Close();
  if (version > kSchemaVersion) {
    return Status(Code::kStorageError, "store schema version " + std::to_string(version) +
                                           " is newer than this build (" +
                                           std::to_string(kSchemaVersion) + ")");
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
    CB_RETURN_IF_ERROR(db_.Exec(kMigrations[v]));
    CB_RETURN_IF_ERROR(db_.Exec("PRAGMA user_version=" + std::to_string(v + 1)));
    CB_RETURN_IF_ERROR(tx.Commit());
  }
  return Status::Ok();
}

Result<Statement*> JobStore::Stmt(const char* sql) {
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) {
    CB_ASSIGN_OR_RETURN(auto st, db_.Prepare(sql));
    it = stmts_.emplace(sql, std::move(st)).first;
  }
  it->second.Reset();
  return &it->second;
}

int64_t JobStore::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

std::string JobStore::NewReportId() {
  Bytes b(12);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");  // broken invariant: no entropy
  }
  std::string hex = ToHex(b);
  for (auto& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "r-" + hex;
}

std::filesystem::path JobStore::CardsDir(std::string_view job_id) const {
  return data_dir_ / "cards" / std::string(job_id);
}

Result<std::vector<JobRecord>> JobStore::Rows(Statement* st) {
  std::vector<JobRecord> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    JobRecord r;
    r.job_id = st->Text(0);
    r.state = JobStateFromString(st->Text(1)).value_or(JobState::kFailed);
    r.school_code = st->Text(2);
    r.card_no = st->Text(3);
    r.student_name = st->Text(4);
    r.job_json = st->Text(5);
    r.photo_sha256 = st->Text(6);
    r.report_id = st->Text(7);
    r.received_at_ms = st->Int(8);
    r.updated_at_ms = st->Int(9);
    if (!st->IsNull(10)) r.acked_at_ms = st->Int(10);
    r.purged = !st->IsNull(11);
    r.reprint_of = st->Text(12);
    r.reprinted_by = st->Text(13);
    if (!st->IsNull(14)) r.voided_at_ms = st->Int(14);
    r.card_uid = st->Text(15);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::optional<JobRecord>> JobStore::FindLocked(std::string_view job_id) {
  static const std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE job_id=?";
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt(sql.c_str()));
  st->Bind(1, job_id);
  CB_ASSIGN_OR_RETURN(auto rows, Rows(st));
  if (rows.empty()) return std::optional<JobRecord>();
  return std::optional<JobRecord>(std::move(rows.front()));
}

Result<std::optional<JobRecord>> JobStore::Find(std::string_view job_id) {
  std::lock_guard lock(mu_);
  return FindLocked(job_id);
}

Result<Job> JobStore::LoadJob(std::string_view job_id) {
  std::string text;
  {
    std::lock_guard lock(mu_);
    CB_ASSIGN_OR_RETURN(auto rec, FindLocked(job_id));
    if (!rec || rec->job_json.empty()) {
      return Status(Code::kNotFound, "no stored job data for " + std::string(job_id));
    }
    text = std::move(rec->job_json);
  }
  return ParseJob(text);
}

}  // namespace cardbureau::server
