// JobStore: per-school batch counts and the batch manifest rows.
#include "cardbureau/server/job_store.h"

namespace cardbureau::server {

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

}  // namespace cardbureau::server
