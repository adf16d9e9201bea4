// JobStore: the outbox of reports for the centre and their acknowledgements.
#include "cardbureau/server/job_store.h"

namespace cardbureau::server {

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

}  // namespace cardbureau::server
