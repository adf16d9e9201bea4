// JobStore: read-only queries (lists, counts) for the CLI and the dashboard.
#include "cardbureau/server/job_store.h"
#include "job_store_sql.h"

namespace cardbureau::server {

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

}  // namespace cardbureau::server
