#include "cardbureau/server/job_store.h"

#include <openssl/rand.h>

#include <array>
#include <nlohmann/json.hpp>

#include "cardbureau/core/bytes.h"

namespace cardbureau::server {
namespace {

constexpr std::array<std::pair<JobState, std::string_view>, 12> kStateNames = {{
    {JobState::kReceived, "received"},
    {JobState::kValidated, "validated"},
    {JobState::kRendered, "rendered"},
    {JobState::kEncoding, "encoding"},
    {JobState::kEncoded, "encoded"},
    {JobState::kPrinted, "printed"},
    {JobState::kVerified, "verified"},
    {JobState::kReported, "reported"},
    {JobState::kAcknowledged, "acknowledged"},
    {JobState::kRejected, "rejected"},
    {JobState::kFailed, "failed"},
    {JobState::kCancelled, "cancelled"},
}};

// The allowed-transition table: from -> the states it may move to.
struct TransitionRow {
  JobState from;
  std::vector<JobState> to;
};
const std::vector<TransitionRow>& TransitionTable() {
  using S = JobState;
  static const std::vector<TransitionRow> table = {
      {S::kReceived, {S::kValidated, S::kRejected, S::kCancelled}},
      {S::kValidated, {S::kRendered, S::kFailed, S::kCancelled}},
      {S::kRendered, {S::kEncoding, S::kFailed, S::kCancelled}},
      {S::kEncoding, {S::kEncoded, S::kFailed}},
      {S::kEncoded, {S::kPrinted, S::kFailed}},
      {S::kPrinted, {S::kVerified, S::kFailed}},
      {S::kVerified, {S::kReported, S::kFailed}},
      {S::kReported, {S::kAcknowledged}},
  };
  return table;
}

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
    // Schema 5: card stock lots (stock.h, stock_store.cpp).
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

constexpr const char* kJobColumns =
    "job_id, state, school_code, card_no, student_name, job_json, photo_sha256, report_id, "
    "received_at, updated_at, acked_at, purged_at, reprint_of, reprinted_by, voided_at, card_uid";
constexpr const char* kReprintColumns =
    "reprint_id, job_id, reason, requested_by, requested_at, status, decided_by, decided_at, "
    "new_job_id";

}  // namespace

std::string_view ToString(JobState s) {
  for (const auto& [st, name] : kStateNames) {
    if (st == s) return name;
  }
  return "unknown";
}

std::optional<JobState> JobStateFromString(std::string_view s) {
  for (const auto& [st, name] : kStateNames) {
    if (name == s) return st;
  }
  return std::nullopt;
}

const std::vector<JobState>& AllJobStates() {
  static const std::vector<JobState> all = [] {
    std::vector<JobState> v;
    for (const auto& [st, name] : kStateNames) v.push_back(st);
    return v;
  }();
  return all;
}

bool IsAllowedTransition(JobState from, JobState to) {
  for (const auto& row : TransitionTable()) {
    if (row.from != from) continue;
    for (JobState t : row.to) {
      if (t == to) return true;
    }
  }
  return false;
}

bool IsTerminal(JobState s) {
  return s == JobState::kReported || s == JobState::kAcknowledged || s == JobState::kRejected ||
         s == JobState::kFailed || s == JobState::kCancelled;
}

bool IsInProduction(JobState s) { return s >= JobState::kValidated && s <= JobState::kVerified; }

bool IsBeforeEncoding(JobState s) {
  return s == JobState::kReceived || s == JobState::kValidated || s == JobState::kRendered;
}

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

Status JobStore::InsertHistory(std::string_view job_id, std::optional<JobState> from, JobState to,
                               std::string_view note, int64_t now, const HistoryEvent* detail) {
  static const HistoryEvent kNone;
  const HistoryEvent& d = detail ? *detail : kNone;
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("INSERT INTO job_history(job_id, from_state, to_state, at, note, kind, station, "
           "printer, uid, attempt, stage, code, field, message) "
           "VALUES(?,?,?,?,?,'state',?,?,?,?,?,?,?,?)"));
  st->Bind(1, job_id);
  if (from) {
    st->Bind(2, ToString(*from));
  } else {
    st->BindNull(2);
  }
  st->Bind(3, ToString(to)).Bind(4, now).Bind(5, note);
  st->Bind(6, d.station).Bind(7, d.printer).Bind(8, d.uid).Bind(9, static_cast<int64_t>(d.attempt));
  st->Bind(10, d.stage).Bind(11, d.code).Bind(12, d.field).Bind(13, d.message);
  CB_RETURN_IF_ERROR(st->Run());
  return InsertAudit(
      job_id, "state",
      (from ? std::string(ToString(*from)) : std::string("-")) + "->" + std::string(ToString(to)),
      now);
}

Status JobStore::InsertEvents(std::string_view job_id, JobState state,
                              std::span<const HistoryEvent> events, int64_t now) {
  for (const HistoryEvent& e : events) {
    if (e.kind.empty() || e.kind == "state") {
      return Status(Code::kInternal, "history event without a kind");
    }
    CB_ASSIGN_OR_RETURN(
        Statement * st,
        Stmt("INSERT INTO job_history(job_id, from_state, to_state, at, note, kind, station, "
             "printer, uid, attempt, stage, code, field, message) "
             "VALUES(?,NULL,?,?,'',?,?,?,?,?,?,?,?,?)"));
    st->Bind(1, job_id).Bind(2, ToString(state)).Bind(3, now).Bind(4, e.kind);
    st->Bind(5, e.station).Bind(6, e.printer).Bind(7, e.uid);
    st->Bind(8, static_cast<int64_t>(e.attempt)).Bind(9, e.stage).Bind(10, e.code);
    st->Bind(11, e.field).Bind(12, e.message);
    CB_RETURN_IF_ERROR(st->Run());
    // The audit keeps ids and codes only (a message may quote a reader).
    CB_RETURN_IF_ERROR(InsertAudit(
        job_id, e.kind, (e.stage.empty() ? std::string() : e.stage + " ") + e.code, now));
    CB_RETURN_IF_ERROR(StockOnEventLocked(job_id, e, now));
  }
  return Status::Ok();
}

Status JobStore::InsertAudit(std::string_view job_id, std::string_view event,
                             std::string_view detail, int64_t now) {
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("INSERT INTO audit(at, job_id, event, detail) VALUES(?,?,?,?)"));
  st->Bind(1, now).Bind(2, job_id).Bind(3, event).Bind(4, detail);
  return st->Run();
}

Status JobStore::SetState(std::string_view job_id, JobState from, JobState to,
                          std::string_view note, int64_t now, const HistoryEvent* detail) {
  if (!IsAllowedTransition(from, to)) {
    return Status(Code::kFailedPrecondition, "job " + std::string(job_id) + ": " +
                                                 std::string(ToString(from)) + " -> " +
                                                 std::string(ToString(to)) + " is not allowed");
  }
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("UPDATE jobs SET state=?, updated_at=? WHERE job_id=? AND state=?"));
  st->Bind(1, ToString(to)).Bind(2, now).Bind(3, job_id).Bind(4, ToString(from));
  CB_RETURN_IF_ERROR(st->Run());
  return InsertHistory(job_id, from, to, note, now, detail);
}

Status JobStore::InsertReport(std::string_view job_id, const Message& report, int64_t now) {
  const std::string report_id = ReportIdOf(report);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("INSERT INTO outbox(report_id, job_id, type, frame0, created_at) "
                           "VALUES(?,?,?,?,?)"));
  st->Bind(1, report_id).Bind(2, job_id).Bind(3, TypeName(report)).Bind(4, EncodeFrame0(report));
  st->Bind(5, now);
  CB_RETURN_IF_ERROR(st->Run());
  CB_ASSIGN_OR_RETURN(Statement * up, Stmt("UPDATE jobs SET report_id=? WHERE job_id=?"));
  up->Bind(1, report_id).Bind(2, job_id);
  CB_RETURN_IF_ERROR(up->Run());
  return InsertAudit(job_id, "report", std::string(TypeName(report)) + " " + report_id, now);
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

Status JobStore::AddValidated(std::span<const IntakeJob> jobs, std::vector<std::string>* skipped) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  for (const auto& in : jobs) {
    CB_ASSIGN_OR_RETURN(
        Statement * st,
        Stmt("INSERT OR IGNORE INTO jobs(job_id, state, school_code, card_no, student_name, "
             "job_json, photo_sha256, received_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?)"));
    st->Bind(1, in.job.job_id)
        .Bind(2, ToString(JobState::kValidated))
        .Bind(3, in.job.school.code)
        .Bind(4, in.job.card.card_no)
        .Bind(5, in.job.student.name)
        .Bind(6, in.job_json)
        .Bind(7, in.job.photo.sha256)
        .Bind(8, now)
        .Bind(9, now);
    CB_RETURN_IF_ERROR(st->Run());
    if (db_.Changes() == 0) {
      if (skipped) skipped->push_back(in.job.job_id);
      continue;
    }
    CB_RETURN_IF_ERROR(InsertAudit(
        in.job.job_id, "received",
        "photo_sha256=" + in.job.photo.sha256 + " job_sha256=" + Sha256Hex(AsBytes(in.job_json)),
        now));
    CB_RETURN_IF_ERROR(InsertHistory(in.job.job_id, std::nullopt, JobState::kReceived, "", now));
    CB_RETURN_IF_ERROR(
        InsertHistory(in.job.job_id, JobState::kReceived, JobState::kValidated, "", now));
  }
  return tx.Commit();
}

Result<Message> JobStore::Reject(std::string_view job_id, const Status& why,
                                 std::string_view school_code) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto existing, FindLocked(job_id));
  if (existing) {
    CB_ASSIGN_OR_RETURN(auto report, TerminalReportLocked(job_id));
    if (!report) {
      return Status(Code::kFailedPrecondition,
                    "job " + std::string(job_id) + " is already stored and in production");
    }
    return *report;
  }
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("INSERT INTO jobs(job_id, state, received_at, updated_at, "
                           "school_code) VALUES(?,?,?,?,?)"));
  st->Bind(1, job_id).Bind(2, ToString(JobState::kReceived)).Bind(3, now).Bind(4, now);
  st->Bind(5, school_code);
  CB_RETURN_IF_ERROR(st->Run());
  CB_RETURN_IF_ERROR(InsertHistory(job_id, std::nullopt, JobState::kReceived, "", now));
  HistoryEvent refusal;
  refusal.kind = "refusal";
  refusal.code = std::string(why.code_name());
  refusal.field = why.field();
  refusal.message = why.message();
  CB_RETURN_IF_ERROR(SetState(job_id, JobState::kReceived, JobState::kRejected,
                              std::string(why.code_name()), now, &refusal));
  Rejected r;
  r.report_id = NewReportId();
  r.job_id = std::string(job_id);
  r.code = std::string(why.code_name());
  r.field = why.field();
  r.message = why.message();
  Message m(std::move(r));
  CB_RETURN_IF_ERROR(InsertReport(job_id, m, now));
  CB_RETURN_IF_ERROR(tx.Commit());
  return m;
}

Result<Message> JobStore::Cancel(std::string_view job_id, std::string_view reason) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto existing, FindLocked(job_id));
  Message m;
  if (existing && IsTerminal(existing->state)) {
    CB_ASSIGN_OR_RETURN(auto report, TerminalReportLocked(job_id));
    if (!report) return Status(Code::kInternal, "terminal job without a report");
    return *report;
  }
  if (!existing) {
    CB_ASSIGN_OR_RETURN(Statement * st,
                        Stmt("INSERT INTO jobs(job_id, state, received_at, updated_at) "
                             "VALUES(?,?,?,?)"));
    st->Bind(1, job_id).Bind(2, ToString(JobState::kReceived)).Bind(3, now).Bind(4, now);
    CB_RETURN_IF_ERROR(st->Run());
    CB_RETURN_IF_ERROR(InsertHistory(job_id, std::nullopt, JobState::kReceived, "tombstone", now));
    existing = JobRecord{};
    existing->state = JobState::kReceived;
  }
  (void)reason;  // free text from the centre; not stored (may name the student)
  if (IsBeforeEncoding(existing->state)) {
    CB_RETURN_IF_ERROR(SetState(job_id, existing->state, JobState::kCancelled, "cancel", now));
    m = Cancelled{NewReportId(), std::string(job_id)};
  } else {
    Failed f{NewReportId(), std::string(job_id), "TOO_LATE",
             "cancel arrived after the chip was encoded (" +
                 std::string(ToString(existing->state)) + ")",
             false};
    HistoryEvent d;
    d.code = f.code;
    d.message = f.message;
    CB_RETURN_IF_ERROR(SetState(job_id, existing->state, JobState::kFailed, "TOO_LATE", now, &d));
    m = std::move(f);
  }
  CB_RETURN_IF_ERROR(InsertReport(job_id, m, now));
  CB_RETURN_IF_ERROR(tx.Commit());
  return m;
}

Status JobStore::Advance(std::string_view job_id, JobState to, std::string_view note) {
  return AdvanceWith(job_id, to, {}, note);
}

Status JobStore::AdvanceWith(std::string_view job_id, JobState to,
                             std::span<const HistoryEvent> events, std::string_view note) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto existing, FindLocked(job_id));
  if (!existing) return Status(Code::kNotFound, "no job " + std::string(job_id));
  if (existing->state == JobState::kCancelled || existing->state == JobState::kFailed) {
    return Status(Code::kCancelled,
                  "job " + std::string(job_id) + " was " + std::string(ToString(existing->state)));
  }
  if (existing->state == to) return Status::Ok();  // idempotent re-advance after a restart
  if (!IsAllowedTransition(existing->state, to)) {
    return SetState(job_id, existing->state, to, note, now);  // the precise error
  }
  if (to == JobState::kEncoded) {
    for (const HistoryEvent& e : events) {
      if (e.kind == "card" && !e.uid.empty()) CB_RETURN_IF_ERROR(BindUidLocked(job_id, e.uid));
    }
  }
  CB_RETURN_IF_ERROR(InsertEvents(job_id, existing->state, events, now));
  CB_RETURN_IF_ERROR(SetState(job_id, existing->state, to, note, now));
  return tx.Commit();
}

Status JobStore::BindUidLocked(std::string_view job_id, std::string_view uid) {
  // One card UID, one live job: a UID bound to another job's card that is
  // produced (encoded or later) and not voided cannot be bound again.
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT job_id FROM jobs WHERE card_uid=? AND job_id<>? "
                           "AND voided_at IS NULL AND state IN ('encoded','printed','verified',"
                           "'reported','acknowledged') LIMIT 1"));
  st->Bind(1, uid).Bind(2, job_id);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (row) {
    std::string other = st->Text(0);
    st->Reset();
    return Status(Code::kDuplicateUid,
                  "card UID " + std::string(uid) + " is already bound to the card of job " + other);
  }
  CB_ASSIGN_OR_RETURN(Statement * up, Stmt("UPDATE jobs SET card_uid=? WHERE job_id=?"));
  up->Bind(1, uid).Bind(2, job_id);
  CB_RETURN_IF_ERROR(up->Run());
  return StockProducedLocked(job_id, uid, NowMs());
}

Status JobStore::Record(std::string_view job_id, std::span<const HistoryEvent> events) {
  if (events.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto existing, FindLocked(job_id));
  if (!existing) return Status(Code::kNotFound, "no job " + std::string(job_id));
  CB_RETURN_IF_ERROR(InsertEvents(job_id, existing->state, events, now));
  return tx.Commit();
}

Result<Message> JobStore::Complete(std::string_view job_id, Completed report,
                                   std::span<const HistoryEvent> events,
                                   std::optional<Message>* card_replaced) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto existing, FindLocked(job_id));
  if (!existing) return Status(Code::kNotFound, "no job " + std::string(job_id));
  if (existing->state == JobState::kCancelled || existing->state == JobState::kFailed) {
    return Status(Code::kCancelled,
                  "job " + std::string(job_id) + " was " + std::string(ToString(existing->state)));
  }
  if (IsTerminal(existing->state)) {
    CB_ASSIGN_OR_RETURN(auto stored, TerminalReportLocked(job_id));
    if (stored) return *stored;
  }
  report.report_id = NewReportId();
  report.job_id = std::string(job_id);
  HistoryEvent d;
  d.station = report.station;
  d.uid = report.card.uid;
  const Completed done = report;
  Message m(std::move(report));
  CB_RETURN_IF_ERROR(InsertEvents(job_id, existing->state, events, now));
  CB_RETURN_IF_ERROR(SetState(job_id, existing->state, JobState::kReported, "", now, &d));
  CB_RETURN_IF_ERROR(InsertReport(job_id, m, now));
  if (existing->internal()) {
    CB_RETURN_IF_ERROR(AcknowledgeInternalLocked(job_id, m, now));
    CB_RETURN_IF_ERROR(
        SetState(job_id, JobState::kReported, JobState::kAcknowledged, "reprint attempt", now));
    CB_ASSIGN_OR_RETURN(auto replaced, QueueCardReplacedLocked(*existing, done, now));
    CB_RETURN_IF_ERROR(tx.Commit());
    if (card_replaced) *card_replaced = std::move(replaced);
    return m;
  }
  CB_RETURN_IF_ERROR(tx.Commit());
  return m;
}

Result<std::optional<Message>> JobStore::QueueCardReplacedLocked(const JobRecord& attempt,
                                                                 const Completed& done,
                                                                 int64_t now) {
  const std::string root = attempt.job_id.substr(0, attempt.job_id.find('~'));
  // The UID the centre holds for the job: its last completed/card_replaced.
  CB_ASSIGN_OR_RETURN(Statement * last,
                      Stmt("SELECT frame0 FROM outbox WHERE job_id=? AND type IN "
                           "('completed','card_replaced') ORDER BY created_at DESC, rowid DESC "
                           "LIMIT 1"));
  last->Bind(1, root);
  CB_ASSIGN_OR_RETURN(bool row, last->Step());
  if (!row) return std::optional<Message>();  // the centre never heard of a card
  const std::string frame0 = last->Text(0);
  last->Reset();
  CB_ASSIGN_OR_RETURN(Message held, Decode(Frames{frame0}, Sender::kBureau));
  std::string old_uid;
  if (const auto* c = std::get_if<Completed>(&held)) old_uid = c->card.uid;
  if (const auto* c = std::get_if<CardReplaced>(&held)) old_uid = c->card.uid;
  CB_ASSIGN_OR_RETURN(Statement * why,
                      Stmt("SELECT reason FROM reprints WHERE new_job_id=? LIMIT 1"));
  why->Bind(1, attempt.job_id);
  CB_ASSIGN_OR_RETURN(bool has_reason, why->Step());
  const std::string reason = has_reason ? why->Text(0) : std::string("reprint");
  why->Reset();
  CardReplaced r;
  r.report_id = NewReportId();
  r.job_id = root;
  r.card = done.card;
  r.replaces_uid = old_uid;
  r.reason = reason;
  r.qa = done.qa;
  r.station = done.station;
  r.produced_at = done.produced_at;
  Message m(r);
  // Into the outbox for the centre's job, without making it the job's
  // terminal report (that stays the first `completed`).
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("INSERT INTO outbox(report_id, job_id, type, frame0, created_at) "
                           "VALUES(?,?,?,?,?)"));
  st->Bind(1, r.report_id).Bind(2, root).Bind(3, TypeName(m)).Bind(4, EncodeFrame0(m));
  st->Bind(5, now);
  CB_RETURN_IF_ERROR(st->Run());
  CB_RETURN_IF_ERROR(InsertAudit(root, "report", "card_replaced " + r.report_id, now));
  CB_ASSIGN_OR_RETURN(auto root_rec, FindLocked(root));
  HistoryEvent e;
  e.kind = "reprint";
  e.stage = "card_replaced";
  e.uid = r.card.uid;
  e.station = r.station;
  e.message = "card " + old_uid + " replaced by " + r.card.uid + " (" + attempt.job_id +
              "); card_replaced " + r.report_id + " queued for the centre";
  CB_RETURN_IF_ERROR(InsertEvents(root, root_rec ? root_rec->state : JobState::kAcknowledged,
                                  std::span<const HistoryEvent>(&e, 1), now));
  return std::optional<Message>(std::move(m));
}

Result<Message> JobStore::Fail(std::string_view job_id, const Status& why, bool retryable,
                               std::span<const HistoryEvent> events) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto existing, FindLocked(job_id));
  if (!existing) return Status(Code::kNotFound, "no job " + std::string(job_id));
  if (IsTerminal(existing->state)) {
    CB_ASSIGN_OR_RETURN(auto stored, TerminalReportLocked(job_id));
    if (stored) return *stored;
    return Status(Code::kInternal, "terminal job without a report");
  }
  Message m(Failed{NewReportId(), std::string(job_id), std::string(why.code_name()), why.message(),
                   retryable});
  HistoryEvent d;
  d.code = std::string(why.code_name());
  d.field = why.field();
  d.message = why.message();
  CB_RETURN_IF_ERROR(InsertEvents(job_id, existing->state, events, now));
  CB_RETURN_IF_ERROR(
      SetState(job_id, existing->state, JobState::kFailed, std::string(why.code_name()), now, &d));
  CB_RETURN_IF_ERROR(InsertReport(job_id, m, now));
  if (existing->internal()) CB_RETURN_IF_ERROR(AcknowledgeInternalLocked(job_id, m, now));
  CB_RETURN_IF_ERROR(tx.Commit());
  return m;
}

Result<std::optional<Message>> JobStore::TerminalReportLocked(std::string_view job_id) {
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT frame0 FROM outbox WHERE job_id=? ORDER BY created_at LIMIT 1"));
  st->Bind(1, job_id);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return std::optional<Message>();
  CB_ASSIGN_OR_RETURN(Message m, Decode(Frames{st->Text(0)}, Sender::kBureau));
  return std::optional<Message>(std::move(m));
}

Result<std::optional<Message>> JobStore::TerminalReport(std::string_view job_id) {
  std::lock_guard lock(mu_);
  return TerminalReportLocked(job_id);
}

Status JobStore::Acknowledge(std::string_view report_id) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT job_id, acked_at FROM outbox WHERE report_id=?"));
  st->Bind(1, report_id);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return Status(Code::kNotFound, "no report " + std::string(report_id));
  const std::string job_id = st->Text(0);
  const bool already = !st->IsNull(1);
  st->Reset();
  if (already) return Status::Ok();
  CB_ASSIGN_OR_RETURN(Statement * up, Stmt("UPDATE outbox SET acked_at=? WHERE report_id=?"));
  up->Bind(1, now).Bind(2, report_id);
  CB_RETURN_IF_ERROR(up->Run());
  CB_ASSIGN_OR_RETURN(Statement * uj, Stmt("UPDATE jobs SET acked_at=? WHERE job_id=?"));
  uj->Bind(1, now).Bind(2, job_id);
  CB_RETURN_IF_ERROR(uj->Run());
  CB_ASSIGN_OR_RETURN(auto job, FindLocked(job_id));
  if (job && job->state == JobState::kReported) {
    CB_RETURN_IF_ERROR(SetState(job_id, JobState::kReported, JobState::kAcknowledged, "", now));
  }
  CB_RETURN_IF_ERROR(InsertAudit(job_id, "ack", std::string(report_id), now));
  return tx.Commit();
}

Result<std::vector<OutboxEntry>> JobStore::PendingReports() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT report_id, job_id, type, frame0, created_at FROM outbox "
                           "WHERE acked_at IS NULL ORDER BY created_at"));
  std::vector<OutboxEntry> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out.push_back(OutboxEntry{st->Text(0), st->Text(1), st->Text(2), st->Text(3), st->Int(4)});
  }
  return out;
}

Result<std::vector<JobRecord>> JobStore::List(const JobQuery& q) {
  std::lock_guard lock(mu_);
  static const std::string sql =
      std::string("SELECT ") + kJobColumns +
      " FROM jobs WHERE (?1 IS NULL OR state=?1) AND (?2='' OR school_code=?2) "
      "AND (?3='' OR job_id=?3 OR card_no=?3) "
      "AND (?4='' OR instr(job_id,?4)>0 OR instr(card_no,?4)>0 OR instr(school_code,?4)>0 "
      "     OR instr(coalesce(student_name,''),?4)>0) "
      "ORDER BY received_at DESC, job_id LIMIT ?5 OFFSET ?6";
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt(sql.c_str()));
  if (q.state) {
    st->Bind(1, ToString(*q.state));
  } else {
    st->BindNull(1);
  }
  st->Bind(2, q.school_code).Bind(3, q.code).Bind(4, q.text);
  st->Bind(5, static_cast<int64_t>(q.limit)).Bind(6, static_cast<int64_t>(q.offset));
  return Rows(st);
}

Result<std::vector<JobRecord>> JobStore::InStates(std::span<const JobState> states, int limit) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kJobColumns +
                                 " FROM jobs WHERE state=? ORDER BY received_at, job_id LIMIT ?";
  std::vector<JobRecord> out;
  for (JobState s : states) {
    CB_ASSIGN_OR_RETURN(Statement * st, Stmt(sql.c_str()));
    st->Bind(1, ToString(s)).Bind(2, static_cast<int64_t>(limit));
    CB_ASSIGN_OR_RETURN(auto rows, Rows(st));
    for (auto& r : rows) out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<StateChange>> JobStore::Timeline(std::string_view job_id) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt("SELECT from_state, to_state, at, note FROM job_history "
                                           "WHERE job_id=? AND kind='state' ORDER BY id"));
  st->Bind(1, job_id);
  std::vector<StateChange> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    StateChange c;
    if (!st->IsNull(0)) c.from = JobStateFromString(st->Text(0));
    c.to = JobStateFromString(st->Text(1)).value_or(JobState::kFailed);
    c.at_ms = st->Int(2);
    c.note = st->Text(3);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<HistoryEntry>> JobStore::History(std::string_view job_id) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT id, at, kind, coalesce(from_state,''), to_state, note, station, "
                           "printer, uid, attempt, stage, code, field, message FROM job_history "
                           "WHERE job_id=? ORDER BY id"));
  st->Bind(1, job_id);
  std::vector<HistoryEntry> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    HistoryEntry h;
    h.seq = st->Int(0);
    h.at_ms = st->Int(1);
    h.kind = st->Text(2);
    h.from_state = st->Text(3);
    h.state = st->Text(4);
    h.note = st->Text(5);
    h.detail.kind = h.kind;
    h.detail.station = st->Text(6);
    h.detail.printer = st->Text(7);
    h.detail.uid = st->Text(8);
    h.detail.attempt = static_cast<int>(st->Int(9));
    h.detail.stage = st->Text(10);
    h.detail.code = st->Text(11);
    h.detail.field = st->Text(12);
    h.detail.message = st->Text(13);
    out.push_back(std::move(h));
  }
  return out;
}

Result<std::vector<AuditEntry>> JobStore::Audit(std::string_view job_id) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("SELECT at, job_id, event, detail FROM audit WHERE job_id=? ORDER BY id"));
  st->Bind(1, job_id);
  std::vector<AuditEntry> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out.push_back(AuditEntry{st->Int(0), st->Text(1), st->Text(2), st->Text(3)});
  }
  return out;
}

Result<std::map<JobState, int64_t>> JobStore::CountsByState() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt("SELECT state, count(*) FROM jobs GROUP BY state"));
  std::map<JobState, int64_t> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    if (auto s = JobStateFromString(st->Text(0))) out[*s] = st->Int(1);
  }
  return out;
}

Result<std::vector<BatchCounts>> JobStore::Batches(std::string_view school_code) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("SELECT j.school_code, count(*), sum(j.reprint_of=''), "
           "sum(j.state IN ('received','validated','rendered')), "
           "sum(j.state IN ('encoding','encoded','printed','verified')), "
           "sum(j.state IN ('reported','acknowledged')), sum(j.voided_at IS NOT NULL), "
           "sum(j.reprint_of<>''), sum(j.state='rejected'), sum(j.state='failed'), "
           "sum(j.state='cancelled'), coalesce(sum(h.cards_in),0), "
           "coalesce(sum(h.cards_rejected),0), min(j.received_at) "
           "FROM jobs j LEFT JOIN (SELECT job_id, sum(kind='attempt') AS cards_in, "
           "  sum(kind='card' AND stage='rejected') AS cards_rejected FROM job_history "
           "  WHERE kind IN ('attempt','card') GROUP BY job_id) h ON h.job_id=j.job_id "
           "WHERE j.school_code<>'' AND (?1='' OR j.school_code=?1) "
           "GROUP BY j.school_code ORDER BY j.school_code"));
  st->Bind(1, school_code);
  std::vector<BatchCounts> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    BatchCounts b;
    b.school_code = st->Text(0);
    b.total = st->Int(1);
    b.jobs = st->Int(2);
    b.queued = st->Int(3);
    b.in_progress = st->Int(4);
    b.produced = st->Int(5);
    b.voided = st->Int(6);
    b.reprints = st->Int(7);
    b.rejected = st->Int(8);
    b.failed = st->Int(9);
    b.cancelled = st->Int(10);
    b.cards_in = st->Int(11);
    b.cards_rejected = st->Int(12);
    b.first_received_ms = st->Int(13);
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::vector<BatchRow>> JobStore::BatchRows(std::string_view school_code) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT j.job_id, coalesce(j.student_name,''), j.card_no, j.card_uid, "
                           "coalesce(json_extract(j.job_json,'$.kind'), j.kind, ''), j.state, "
                           "j.voided_at IS NOT NULL, j.reprint_of<>'', j.purged_at IS NOT NULL, "
                           "coalesce((SELECT json_extract(o.frame0,'$.code') FROM outbox o WHERE "
                           "o.job_id=j.job_id AND o.type IN ('rejected','failed') "
                           "ORDER BY o.created_at DESC LIMIT 1),'') "
                           "FROM jobs j WHERE j.school_code=?1 ORDER BY j.received_at, j.job_id"));
  st->Bind(1, school_code);
  std::vector<BatchRow> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    BatchRow r;
    r.job_id = st->Text(0);
    r.student_name = st->Text(1);
    r.card_no = st->Text(2);
    r.card_uid = st->Text(3);
    r.reissue = st->Text(4) == "reissue";
    auto state = JobStateFromString(st->Text(5));
    r.state = state.value_or(JobState::kReceived);
    r.voided = st->Int(6) != 0;
    r.reprint = st->Int(7) != 0;
    r.purged = st->Int(8) != 0;
    r.code = st->Text(9);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::map<std::string, int64_t>> JobStore::FaultCounts() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT code, count(*) FROM job_history WHERE kind='fault' AND "
                           "code<>'' GROUP BY code"));
  std::map<std::string, int64_t> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out[st->Text(0)] = st->Int(1);
  }
  return out;
}

Result<int64_t> JobStore::CountInProduction() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT count(*) FROM jobs WHERE state IN ('validated','rendered',"
                           "'encoding','encoded','printed','verified')"));
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  return row ? st->Int(0) : int64_t{0};
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

// ---- reprints ----

Status JobStore::AcknowledgeInternalLocked(std::string_view job_id, const Message& report,
                                           int64_t now) {
  CB_ASSIGN_OR_RETURN(Statement * up, Stmt("UPDATE outbox SET acked_at=? WHERE report_id=?"));
  up->Bind(1, now).Bind(2, ReportIdOf(report));
  CB_RETURN_IF_ERROR(up->Run());
  CB_ASSIGN_OR_RETURN(Statement * uj, Stmt("UPDATE jobs SET acked_at=? WHERE job_id=?"));
  uj->Bind(1, now).Bind(2, job_id);
  CB_RETURN_IF_ERROR(uj->Run());
  return InsertAudit(job_id, "ack", "internal (reprint attempt; not sent to the centre)", now);
}

Status JobStore::CheckReprintableLocked(const JobRecord& job) {
  const std::string id = job.job_id;
  if (job.purged || job.job_json.empty()) {
    return Status(Code::kFailedPrecondition,
                  "job " + id + ": its data was purged after the retention period");
  }
  if (job.voided_at_ms || !job.reprinted_by.empty()) {
    return Status(Code::kFailedPrecondition,
                  "job " + id + ": its card was already replaced by " + job.reprinted_by);
  }
  const bool produced = job.state == JobState::kReported || job.state == JobState::kAcknowledged;
  const bool failed_attempt = job.state == JobState::kFailed && job.internal();
  if (!produced && !failed_attempt) {
    return Status(Code::kFailedPrecondition, "job " + id + " has no produced card (state " +
                                                 std::string(ToString(job.state)) + ")");
  }
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT count(*) FROM reprints WHERE job_id=? AND status='pending'"));
  st->Bind(1, job.job_id);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  const bool pending = row && st->Int(0) > 0;
  st->Reset();
  if (pending) {
    return Status(Code::kFailedPrecondition, "job " + id + ": a reprint is already pending");
  }
  return Status::Ok();
}

Result<std::string> JobStore::CreateAttemptLocked(const JobRecord& old, std::string_view reprint_id,
                                                  int64_t now) {
  // "<root>~R<n>": n counts every attempt of the root job, so ids never repeat.
  const std::string root = old.job_id.substr(0, old.job_id.find('~'));
  CB_ASSIGN_OR_RETURN(Statement * count,
                      Stmt("SELECT count(*) FROM jobs WHERE substr(job_id,1,?)=?"));
  count->Bind(1, static_cast<int64_t>(root.size() + 2)).Bind(2, root + "~R");
  CB_ASSIGN_OR_RETURN(bool row, count->Step());
  const int64_t n = (row ? count->Int(0) : 0) + 1;
  count->Reset();
  const std::string new_id = root + "~R" + std::to_string(n);
  CB_ASSIGN_OR_RETURN(
      Statement * ins,
      Stmt("INSERT INTO jobs(job_id, state, school_code, card_no, student_name, job_json, "
           "photo_sha256, received_at, updated_at, reprint_of) VALUES(?,?,?,?,?,?,?,?,?,?)"));
  ins->Bind(1, new_id)
      .Bind(2, ToString(JobState::kValidated))
      .Bind(3, old.school_code)
      .Bind(4, old.card_no)
      .Bind(5, old.student_name)
      .Bind(6, old.job_json)
      .Bind(7, old.photo_sha256)
      .Bind(8, now)
      .Bind(9, now)
      .Bind(10, old.job_id);
  CB_RETURN_IF_ERROR(ins->Run());
  const std::string note = "reprint " + std::string(reprint_id) + " of " + old.job_id;
  CB_RETURN_IF_ERROR(InsertAudit(new_id, "received", note, now));
  CB_RETURN_IF_ERROR(InsertHistory(new_id, std::nullopt, JobState::kReceived, note, now));
  CB_RETURN_IF_ERROR(InsertHistory(new_id, JobState::kReceived, JobState::kValidated, "", now));
  CB_ASSIGN_OR_RETURN(Statement * up,
                      Stmt("UPDATE jobs SET voided_at=?, reprinted_by=? WHERE job_id=?"));
  up->Bind(1, now).Bind(2, new_id).Bind(3, old.job_id);
  CB_RETURN_IF_ERROR(up->Run());
  // The old job keeps its state; its timeline shows the void.
  HistoryEvent rp;
  rp.kind = "reprint";
  rp.stage = "voided";
  rp.message = "reprint " + std::string(reprint_id) + ": card voided; reprinted as " + new_id;
  CB_RETURN_IF_ERROR(InsertHistory(old.job_id, old.state, old.state,
                                   "card voided; reprinted as " + new_id, now, &rp));
  return new_id;
}

Result<std::optional<ReprintRecord>> JobStore::FindReprintLocked(std::string_view reprint_id) {
  static const std::string sql =
      std::string("SELECT ") + kReprintColumns + " FROM reprints WHERE reprint_id=?";
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt(sql.c_str()));
  st->Bind(1, reprint_id);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return std::optional<ReprintRecord>();
  ReprintRecord r{st->Text(0), st->Text(1), st->Text(2), st->Text(3),
                  st->Int(4),  st->Text(5), st->Text(6), st->IsNull(7) ? 0 : st->Int(7),
                  st->Text(8)};
  st->Reset();
  return std::optional<ReprintRecord>(std::move(r));
}

Result<ReprintRecord> JobStore::RequestReprint(std::string_view job_id, std::string_view reason,
                                               std::string_view actor, bool approve) {
  if (reason.empty() || reason.size() > 500) {
    return Status(Code::kInvalidField, "a reprint needs a reason (1-500 bytes)", "reason");
  }
  if (actor.empty()) return Status(Code::kInvalidField, "a reprint needs an actor", "actor");
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto job, FindLocked(job_id));
  if (!job) return Status(Code::kNotFound, "no job " + std::string(job_id));
  CB_RETURN_IF_ERROR(CheckReprintableLocked(*job));
  ReprintRecord r;
  r.reprint_id = "rp-" + NewReportId().substr(2);
  r.job_id = std::string(job_id);
  r.reason = std::string(reason);
  r.requested_by = std::string(actor);
  r.requested_at_ms = now;
  r.status = approve ? "approved" : "pending";
  if (approve) {
    r.decided_by = r.requested_by;
    r.decided_at_ms = now;
    CB_ASSIGN_OR_RETURN(r.new_job_id, CreateAttemptLocked(*job, r.reprint_id, now));
  }
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("INSERT INTO reprints(reprint_id, job_id, reason, requested_by, requested_at, status, "
           "decided_by, decided_at, new_job_id) VALUES(?,?,?,?,?,?,?,?,?)"));
  st->Bind(1, r.reprint_id).Bind(2, r.job_id).Bind(3, r.reason).Bind(4, r.requested_by);
  st->Bind(5, r.requested_at_ms).Bind(6, r.status).Bind(7, r.decided_by);
  if (approve) {
    st->Bind(8, r.decided_at_ms);
  } else {
    st->BindNull(8);
  }
  st->Bind(9, r.new_job_id);
  CB_RETURN_IF_ERROR(st->Run());
  CB_RETURN_IF_ERROR(InsertAudit(job_id, "reprint", r.reprint_id + " " + r.status, now));
  CB_RETURN_IF_ERROR(tx.Commit());
  return r;
}

Result<ReprintRecord> JobStore::DecideReprint(std::string_view reprint_id, bool approve,
                                              std::string_view actor) {
  if (actor.empty()) return Status(Code::kInvalidField, "a decision needs an actor", "actor");
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(auto found, FindReprintLocked(reprint_id));
  if (!found) return Status(Code::kNotFound, "no reprint " + std::string(reprint_id));
  ReprintRecord r = std::move(*found);
  if (r.status != "pending") {
    return Status(Code::kFailedPrecondition,
                  "reprint " + r.reprint_id + " was already " + r.status);
  }
  r.status = approve ? "approved" : "rejected";
  r.decided_by = std::string(actor);
  r.decided_at_ms = now;
  if (approve) {
    CB_ASSIGN_OR_RETURN(auto job, FindLocked(r.job_id));
    if (!job) return Status(Code::kNotFound, "no job " + r.job_id);
    // The request itself is the pending one; check the rest.
    CB_ASSIGN_OR_RETURN(Statement * mark,
                        Stmt("UPDATE reprints SET status='deciding' WHERE reprint_id=?"));
    mark->Bind(1, r.reprint_id);
    CB_RETURN_IF_ERROR(mark->Run());
    CB_RETURN_IF_ERROR(CheckReprintableLocked(*job));
    CB_ASSIGN_OR_RETURN(r.new_job_id, CreateAttemptLocked(*job, r.reprint_id, now));
  }
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("UPDATE reprints SET status=?, decided_by=?, decided_at=?, "
                           "new_job_id=? WHERE reprint_id=?"));
  st->Bind(1, r.status).Bind(2, r.decided_by).Bind(3, r.decided_at_ms).Bind(4, r.new_job_id);
  st->Bind(5, r.reprint_id);
  CB_RETURN_IF_ERROR(st->Run());
  CB_RETURN_IF_ERROR(InsertAudit(r.job_id, "reprint", r.reprint_id + " " + r.status, now));
  CB_RETURN_IF_ERROR(tx.Commit());
  return r;
}

Result<std::vector<ReprintRecord>> JobStore::Reprints(std::string_view status) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kReprintColumns +
                                 " FROM reprints WHERE (?1='' OR status=?1) "
                                 "ORDER BY requested_at DESC, reprint_id LIMIT 1000";
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt(sql.c_str()));
  st->Bind(1, status);
  std::vector<ReprintRecord> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out.push_back(ReprintRecord{st->Text(0), st->Text(1), st->Text(2), st->Text(3), st->Int(4),
                                st->Text(5), st->Text(6), st->IsNull(7) ? 0 : st->Int(7),
                                st->Text(8)});
  }
  return out;
}

Result<ReprintRecord> JobStore::FindReprint(std::string_view reprint_id) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(auto r, FindReprintLocked(reprint_id));
  if (!r) return Status(Code::kNotFound, "no reprint " + std::string(reprint_id));
  return std::move(*r);
}

bool JobStore::CheckpointTruncate() {
  auto st = db_.Prepare("PRAGMA wal_checkpoint(TRUNCATE)");
  if (!st.ok()) return false;
  auto row = st->Step();
  // Row: busy (0 = done), WAL frames, frames checkpointed.
  return row.ok() && *row && st->Int(0) == 0;
}

Result<std::vector<JobStore::PurgedJob>> JobStore::PurgeExpired(std::chrono::seconds retention) {
  const int64_t now = NowMs();
  const int64_t cutoff =
      now - std::chrono::duration_cast<std::chrono::milliseconds>(retention).count();
  std::vector<PurgedJob> victims;
  {
    std::lock_guard lock(mu_);
    CB_ASSIGN_OR_RETURN(Statement * st,
                        Stmt("SELECT job_id, photo_sha256, school_code FROM jobs WHERE purged_at "
                             "IS NULL AND acked_at IS NOT NULL AND acked_at<=? LIMIT 1000"));
    st->Bind(1, cutoff);
    for (;;) {
      CB_ASSIGN_OR_RETURN(bool row, st->Step());
      if (!row) break;
      victims.push_back(PurgedJob{st->Text(0), st->Text(1), st->Text(2)});
    }
  }
  std::vector<PurgedJob> purged;
  for (const auto& victim : victims) {
    const std::string& job_id = victim.job_id;
    const std::string& photo = victim.photo_sha256;
    std::lock_guard lock(mu_);
    CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
    CB_ASSIGN_OR_RETURN(Statement * up,
                        Stmt("UPDATE jobs SET kind=coalesce(json_extract(job_json,'$.kind'),kind), "
                             "student_name=NULL, job_json=NULL, purged_at=? WHERE job_id=?"));
    up->Bind(1, now).Bind(2, job_id);
    CB_RETURN_IF_ERROR(up->Run());
    CB_RETURN_IF_ERROR(InsertAudit(job_id, "purged", "photo_sha256=" + photo, now));
    CB_ASSIGN_OR_RETURN(Statement * shared,
                        Stmt("SELECT count(*) FROM jobs WHERE photo_sha256=? AND purged_at IS "
                             "NULL"));
    shared->Bind(1, photo);
    CB_ASSIGN_OR_RETURN(bool row, shared->Step());
    const bool still_used = row && shared->Int(0) > 0;
    shared->Reset();
    // Files go after the rows are committed: a crash in between leaves a file
    // that the next purge of a sharing job (or an operator) removes; never a
    // row pointing at a missing photo of a live job.
    CB_RETURN_IF_ERROR(tx.Commit());
    if (!photo.empty() && !still_used) CB_RETURN_IF_ERROR(photos_.Remove(photo));
    std::error_code ec;
    std::filesystem::remove_all(CardsDir(job_id), ec);
    if (ec) return Status(Code::kIoError, "cannot remove cards of " + job_id + ": " + ec.message());
    purged.push_back(victim);
  }
  if (!purged.empty() || wal_holds_purged_) {
    // secure_delete zeroed the freed cells in the database pages; the WAL
    // still holds the old page images until it is checkpointed and cut.
    // A checkpoint that cannot finish now (a reader elsewhere) is retried
    // by the next purge; the jobs are purged either way.
    std::lock_guard lock(mu_);
    // A cached statement left on a row (callers copy what they read and
    // move on) holds a read snapshot that stops the checkpoint: reset all.
    for (auto& [sql, st] : stmts_) st.Reset();
    wal_holds_purged_ = !CheckpointTruncate();
  }
  return purged;
}

}  // namespace cardbureau::server
