// JobStore: the job's history (job_history rows) and the audit trail.
#include "cardbureau/server/job_store.h"

namespace cardbureau::server {

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

}  // namespace cardbureau::server
