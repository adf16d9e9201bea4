// JobStore: operator reprints (request, decide, the new attempt) and the
// card_replaced report an attempt's completion queues for the centre.
#include "cardbureau/server/job_store.h"

namespace cardbureau::server {
namespace {

constexpr const char* kReprintColumns =
    "reprint_id, job_id, reason, requested_by, requested_at, status, decided_by, decided_at, "
    "new_job_id";

}  // namespace

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

}  // namespace cardbureau::server
