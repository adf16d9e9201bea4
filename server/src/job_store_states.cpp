// JobStore: job states, the allowed transitions and the calls that move a
// job through them (intake, reject, cancel, advance, complete, fail).
#include <array>

#include "cardbureau/core/bytes.h"
#include "cardbureau/server/job_store.h"

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
                                 std::string_view school_code, const RefusedJobData* data) {
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
  if (data) {
    // The manifest's row: the name as the job gives it (purged with the job).
    CB_ASSIGN_OR_RETURN(Statement * up, Stmt("UPDATE jobs SET student_name=?, card_no=?, kind=? "
                                             "WHERE job_id=?"));
    up->Bind(1, data->student_name).Bind(2, data->card_no).Bind(3, data->kind).Bind(4, job_id);
    CB_RETURN_IF_ERROR(up->Run());
  }
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

}  // namespace cardbureau::server
