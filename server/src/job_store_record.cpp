// JobStore, schema 5: what the record of the bureau keeps beside the jobs
// (issue 15) — the centre's error answers to reports still in the outbox,
// and the dashboard audit trail's chain head (was DATA/dashboard-audit.head).
#include <vector>

#include "cardbureau/server/job_store.h"

namespace cardbureau::server {

Result<int64_t> JobStore::RecordCentreAnswer(std::string_view report_type, std::string_view code,
                                             std::string_view message) {
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  struct Target {
    std::string report_id;
    std::string job_id;
    std::string state;
    std::string old_code;  // "" = no answer yet
  };
  std::vector<Target> targets;
  {
    CB_ASSIGN_OR_RETURN(
        Statement * st,
        Stmt("SELECT o.report_id, o.job_id, coalesce(j.state,''), coalesce(a.code,'') "
             "FROM outbox o LEFT JOIN jobs j ON j.job_id=o.job_id "
             "LEFT JOIN report_answers a ON a.report_id=o.report_id "
             "WHERE o.acked_at IS NULL AND o.type=? ORDER BY o.created_at"));
    st->Bind(1, report_type);
    for (;;) {
      CB_ASSIGN_OR_RETURN(bool row, st->Step());
      if (!row) break;
      targets.push_back(Target{st->Text(0), st->Text(1), st->Text(2), st->Text(3)});
    }
  }
  for (const Target& t : targets) {
    CB_ASSIGN_OR_RETURN(
        Statement * up,
        // A repeated answer is counted at most once a second: a centre
        // answering every re-send (or a hostile one) cannot make every
        // message a disk write.
        Stmt("INSERT INTO report_answers(report_id, code, message, first_at, last_at, count) "
             "VALUES(?1,?2,?3,?4,?4,1) ON CONFLICT(report_id) DO UPDATE SET "
             "code=excluded.code, message=excluded.message, last_at=excluded.last_at, "
             "count=report_answers.count+1 WHERE report_answers.code<>excluded.code OR "
             "excluded.last_at-report_answers.last_at>=1000"));
    up->Bind(1, t.report_id).Bind(2, code).Bind(3, message).Bind(4, now);
    CB_RETURN_IF_ERROR(up->Run());
    if (t.old_code == code) continue;  // a repeated answer: one history row per code
    HistoryEvent e;
    e.kind = "report";
    e.stage = std::string(report_type);
    e.code = std::string(code);
    e.message = "the centre answered " + std::string(code) + " to " + std::string(report_type) +
                " " + t.report_id + "; it stays in the outbox";
    const JobState state = JobStateFromString(t.state).value_or(JobState::kReceived);
    CB_RETURN_IF_ERROR(InsertEvents(t.job_id, state, std::span<const HistoryEvent>(&e, 1), now));
  }
  CB_RETURN_IF_ERROR(tx.Commit());
  return static_cast<int64_t>(targets.size());
}

Result<std::map<std::string, CentreAnswer>> JobStore::CentreAnswers() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT a.report_id, a.code, a.message, a.first_at, a.last_at, a.count "
                           "FROM report_answers a JOIN outbox o ON o.report_id=a.report_id "
                           "WHERE o.acked_at IS NULL"));
  std::map<std::string, CentreAnswer> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    CentreAnswer a;
    a.report_id = st->Text(0);
    a.code = st->Text(1);
    a.message = st->Text(2);
    a.first_at_ms = st->Int(3);
    a.last_at_ms = st->Int(4);
    a.count = st->Int(5);
    out.emplace(a.report_id, std::move(a));
  }
  return out;
}

Result<std::optional<AuditChainHead>> JobStore::AuditHead() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT entries, last_hash, updated_at FROM audit_head WHERE id=1"));
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return std::optional<AuditChainHead>();
  return std::optional<AuditChainHead>(AuditChainHead{st->Int(0), st->Text(1), st->Int(2)});
}

Status JobStore::SetAuditHead(int64_t entries, std::string_view last_hash) {
  if (entries < 0) return Status(Code::kInternal, "negative audit entry count");
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("INSERT INTO audit_head(id, entries, last_hash, updated_at) VALUES(1,?1,?2,?3) "
           "ON CONFLICT(id) DO UPDATE SET entries=excluded.entries, "
           "last_hash=excluded.last_hash, updated_at=excluded.updated_at"));
  st->Bind(1, entries).Bind(2, last_hash).Bind(3, NowMs());
  return st->Run();  // autocommit; the store runs with synchronous=FULL
}

}  // namespace cardbureau::server
