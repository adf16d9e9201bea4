// JobStore: the retention purge (personal data, photos, rendered cards) and
// the WAL checkpoint that makes it stick.
#include "cardbureau/server/job_store.h"

namespace cardbureau::server {

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
