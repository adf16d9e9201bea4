// JobStore: what the operator dashboard reads beyond jobs and batches
// (schema 6): station faults until acknowledged, failure counts, the
// production figures behind the KPIs and the open jobs behind the SLA view.
// Everything here is answered from the store, so it survives a restart.
#include <sqlite3.h>

#include "cardbureau/server/job_store.h"

namespace cardbureau::server {

namespace {

constexpr const char* kFaultColumns =
    "id, at, station, code, message, job_id, acked_at, acked_by FROM station_faults";

StationFaultRow FaultFrom(const Statement& st) {
  StationFaultRow f;
  f.id = st.Int(0);
  f.at_ms = st.Int(1);
  f.station = st.Text(2);
  f.code = st.Text(3);
  f.message = st.Text(4);
  f.job_id = st.Text(5);
  if (!st.IsNull(6)) f.acked_at_ms = st.Int(6);
  f.acked_by = st.Text(7);
  return f;
}

}  // namespace

Result<int64_t> JobStore::AddStationFault(const StationFaultRow& fault) {
  if (fault.station.empty() || fault.code.empty()) {
    return Status(Code::kInvalidField, "a station fault needs a station and a code", "station");
  }
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("INSERT INTO station_faults(at, station, code, message, job_id) "
                           "VALUES(?,?,?,?,?)"));
  st->Bind(1, fault.at_ms ? fault.at_ms : NowMs()).Bind(2, fault.station).Bind(3, fault.code);
  st->Bind(4, fault.message).Bind(5, fault.job_id);
  CB_RETURN_IF_ERROR(st->Run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_.handle()));
}

Result<std::vector<StationFaultRow>> JobStore::StationFaults(std::string_view station,
                                                             bool open_only, int limit) {
  std::lock_guard lock(mu_);
  static const std::string sql = std::string("SELECT ") + kFaultColumns +
                                 " WHERE (?1='' OR station=?1) AND (?2=0 OR acked_at IS NULL) "
                                 "ORDER BY id DESC LIMIT ?3";
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt(sql.c_str()));
  st->Bind(1, station).Bind(2, int64_t{open_only ? 1 : 0}).Bind(3, int64_t{limit});
  std::vector<StationFaultRow> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out.push_back(FaultFrom(*st));
  }
  return out;
}

Result<StationFaultRow> JobStore::AcknowledgeStationFault(int64_t id, std::string_view actor) {
  if (actor.empty()) return Status(Code::kInvalidField, "who acknowledges is required", "actor");
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  static const std::string find = std::string("SELECT ") + kFaultColumns + " WHERE id=?";
  CB_ASSIGN_OR_RETURN(Statement * st, Stmt(find.c_str()));
  st->Bind(1, id);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return Status(Code::kNotFound, "no such fault");
  StationFaultRow f = FaultFrom(*st);
  if (f.acked_at_ms) {
    return Status(Code::kFailedPrecondition,
                  "fault " + std::to_string(id) + " was acknowledged already by " + f.acked_by);
  }
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(Statement * up,
                      Stmt("UPDATE station_faults SET acked_at=?, acked_by=? WHERE id=?"));
  up->Bind(1, now).Bind(2, actor).Bind(3, id);
  CB_RETURN_IF_ERROR(up->Run());
  CB_RETURN_IF_ERROR(tx.Commit());
  f.acked_at_ms = now;
  f.acked_by = std::string(actor);
  return f;
}

Result<std::map<std::string, int64_t>> JobStore::FailureCounts() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT code, count(*) FROM station_faults GROUP BY code UNION ALL "
                           "SELECT code, count(*) FROM job_history WHERE kind='state' AND "
                           "to_state IN ('failed','rejected') AND code<>'' GROUP BY code"));
  std::map<std::string, int64_t> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out[st->Text(0)] += st->Int(1);
  }
  return out;
}

Result<ProductionFigures> JobStore::Figures(int64_t hour_start_ms, int64_t day_start_ms,
                                            int64_t now_ms) {
  std::lock_guard lock(mu_);
  ProductionFigures f;
  // (A card voided by a reprint leaves a reported->reported row in the
  // history of its job: not a card produced again.)
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("SELECT count(CASE WHEN at>=?1 THEN 1 END), count(CASE WHEN at>=?2 THEN 1 END), "
           "count(CASE WHEN at>=?3 THEN 1 END) FROM job_history "
           "WHERE kind='state' AND to_state='reported' AND from_state='verified' "
           "AND at>=min(?1,?2,?3)"));
  st->Bind(1, hour_start_ms).Bind(2, day_start_ms).Bind(3, now_ms - 15 * 60 * 1000);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (row) {
    f.produced_since_hour = st->Int(0);
    f.produced_since_day = st->Int(1);
    f.produced_last_15min = st->Int(2);
  }
  CB_ASSIGN_OR_RETURN(
      Statement * q,
      Stmt("SELECT count(CASE WHEN state IN ('received','validated','rendered') THEN 1 END), "
           "count(CASE WHEN state IN ('encoding','encoded','printed','verified') THEN 1 END) "
           "FROM jobs"));
  CB_ASSIGN_OR_RETURN(row, q->Step());
  if (row) {
    f.queued = q->Int(0);
    f.at_stations = q->Int(1);
  }
  return f;
}

Result<std::vector<OpenJobRow>> JobStore::OpenJobs(int limit) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("SELECT job_id, school_code, state, "
           "CASE WHEN json_valid(job_json) THEN json_extract(job_json,'$.confirmed_at') END, "
           "received_at FROM jobs WHERE state IN ('received','validated','rendered','encoding',"
           "'encoded','printed','verified') ORDER BY received_at, job_id LIMIT ?"));
  st->Bind(1, int64_t{limit});
  std::vector<OpenJobRow> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    OpenJobRow r;
    r.job_id = st->Text(0);
    r.school_code = st->Text(1);
    r.state = JobStateFromString(st->Text(2)).value_or(JobState::kReceived);
    r.confirmed_at = st->IsNull(3) ? "" : st->Text(3);
    r.received_at_ms = st->Int(4);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace cardbureau::server
