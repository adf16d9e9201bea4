// The bureau side of protocol v1 (`cardbureau serve`): one DEALER to the
// centre, the durable store, the outbox and a Production.
//
// Threading: Run() is the protocol thread and the only one that touches the
// socket. Production threads talk to the bureau through its ProductionSink
// (thread-safe); their reports are queued and sent by the protocol thread.
//
// Guarantees (protocol.md "Delivery rules"):
//   * `accepted` is sent only after the job row is committed and the photo
//     file + its directory are fsynced (group commit of up to intake_batch).
//   * credit: pull(credit) never exceeds free queue space
//     (queue_capacity - jobs in production - credit still outstanding);
//     outstanding credit is forgotten on every (re)connect/hello.
//   * terminal reports live in the store's outbox and are re-sent with
//     exponential backoff until acked, across restarts.
//   * a duplicate job_id is answered from the store (accepted, or the stored
//     terminal report with the same report_id), never produced again.
//   * heartbeat after heartbeat_interval of send silence; a centre silent for
//     peer_timeout is gone: new socket, backoff, hello.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/server/config.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/server/messages.h"
#include "cardbureau/server/production.h"

namespace cardbureau::server {

// Validates a parsed job and its photo bytes. May fill in derived fields
// (card.valid_until). Returns OK or the refusal (code + field) that becomes a
// `rejected` report. Called on the protocol thread; must be thread-compatible.
using JobValidator = std::function<Status(Job& job, ByteView photo)>;

// core's ValidateJob + ValidatePhotoBytes (no face/quality checks). The lead
// wraps this with layout's photo checks. `clock` must outlive the validator.
JobValidator CoreJobValidator(const Clock& clock);

// Counters for tests, benchmarks and the dashboard. Read via Bureau::stats().
struct BureauStats {
  int64_t jobs_accepted = 0;  // new jobs made durable
  int64_t jobs_rejected = 0;
  int64_t duplicates = 0;    // job_ids answered from the store
  int64_t reports_sent = 0;  // incl. re-sends
  int64_t acks = 0;
  int64_t errors_sent = 0;  // `error` replies to malformed input
  int64_t errors_received = 0;
  int64_t connects = 0;  // hellos sent
  int64_t pulls = 0;
  int64_t credit_requested = 0;
  int64_t jobs_over_credit = 0;  // unknown jobs sent without credit: refused, not stored
};

// The link to the centre as the protocol loop sees it (the dashboard's
// badge and /metrics). Times are Unix ms of the bureau's clock.
struct CentreLink {
  bool connected = false;     // handshake done, hello sent
  int64_t since_ms = 0;       // when it last became connected / disconnected
  int64_t last_heard_ms = 0;  // last message (heartbeat or other) from the centre, 0 = never
  int64_t reconnects = 0;     // sessions started after the first one
  std::string centre;         // the endpoint
};

// A durable job state change, for observers (the dashboard's event stream).
struct JobEvent {
  std::string job_id;
  JobState state = JobState::kReceived;
  std::string code;  // failure/refusal code for rejected/failed/cancelled, else ""
};
// Called on the protocol thread or a production thread, after the change is
// committed. Must be quick and must not call back into the Bureau.
using JobObserver = std::function<void(const JobEvent&)>;

// The protocol fields ("student.name", "photo" for the photo bytes) in which
// a job received again (`incoming` frame 0, `photo` frame 1) differs from
// the stored one; empty when it is the same job (a redelivery) or when the
// stored job has no data to compare (rejected, purged). Field names only,
// never values (they may be personal data).
std::vector<std::string> JobContentDiff(const nlohmann::json& incoming,
                                        const std::optional<Bytes>& photo, const JobRecord& stored);

class Bureau final : public ProductionSink {
 public:
  // Creates a production through `make_production` (called once with this
  // bureau as the sink; may return nullptr = jobs wait in the store).
  using ProductionFactory =
      std::function<Result<std::unique_ptr<Production>>(ProductionSink& sink)>;

  // `store` and `clock` must outlive the Bureau. The CURVE secret key (if
  // configured) is read here: KEY_FILE_INSECURE / INVALID_KEY / IO_ERROR.
  static Result<std::unique_ptr<Bureau>> Create(const ServeConfig& config, JobStore& store,
                                                const Clock& clock, JobValidator validator,
                                                const ProductionFactory& make_production);
  ~Bureau() override;

  // Runs until `stop` becomes true, then: stops pulling, stops production
  // (in-flight jobs finish a step or park), sends what is queued, closes.
  // Returns OK on a clean stop; STORAGE_ERROR/IO_ERROR when the store fails
  // (the process should exit non-zero and be restarted); INVALID_CONFIG
  // (field "centre") when ZeroMQ refuses the centre endpoint. Never throws
  // a zmq::error_t.
  Status Run(const std::atomic<bool>& stop);

  BureauStats stats() const;
  // Thread-safe.
  CentreLink link() const;
  Production* production() { return production_.get(); }

  // Set before Run(); receives every durable job state change.
  void SetObserver(JobObserver observer);
  // Set before Run(); called on the protocol thread after each retention
  // purge with the jobs purged, for process-wide copies outside the store
  // and the production (e.g. the photo-check cache of the intake validator).
  using PurgeHook = std::function<void(const std::vector<JobStore::PurgedJob>&)>;
  void SetPurgeHook(PurgeHook hook);

  // Hands a bureau-internal attempt (a reprint, created by
  // JobStore::RequestReprint/DecideReprint in state `validated`) to
  // production, on the protocol thread's next turn. Thread-safe. Its
  // progress and terminal report are never sent to the centre. The job is
  // also picked up by Recover() after a restart.
  void StartAttempt(const std::string& job_id);

  // ProductionSink (thread-safe).
  Status Advance(const std::string& job_id, JobState to) override;
  void Completed(const std::string& job_id, const CardOutcome& outcome) override;
  void Failed(const std::string& job_id, const Status& why, bool retryable) override;
  Status AdvanceWith(const std::string& job_id, JobState to,
                     std::vector<HistoryEvent> events) override;
  Status Record(const std::string& job_id, std::vector<HistoryEvent> events) override;
  void FailedWith(const std::string& job_id, const Status& why, bool retryable,
                  std::vector<HistoryEvent> events) override;
  Result<std::vector<BatchCounts>> CountBatch(const std::string& school_code) override;
  Result<std::vector<BatchRow>> BatchRows(const std::string& school_code) override;
  void StationFault(const StationFaultRow& fault) override;
  Result<StockCardInfo> CheckStock(const std::string& job_id, const std::string& uid, CardType type,
                                   bool required) override;
  Result<std::vector<StockLotReport>> StockLots() override;

 private:
  Bureau(ServeConfig config, JobStore& store, const Clock& clock, JobValidator validator);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Production> production_;
  ServeConfig config_;
  JobStore& store_;
  const Clock& clock_;
  JobValidator validator_;
  std::string curve_secret_;  // Z85; never logged

  void Send(const Message& m);
  void SendFrames(const Frames& f);
  // Connect/Run turn zmq::error_t into a Status (INVALID_CONFIG for an
  // endpoint or key ZeroMQ refuses, IO_ERROR otherwise); ConnectSocket and
  // Loop may throw it.
  Status Connect();
  void ConnectSocket();
  Status Loop(const std::atomic<bool>& stop);
  void Disconnect();
  void OnSession();
  void HandleMonitor();
  Status HandleIncoming(std::vector<Frames>& batch);
  Status HandleJobs(std::vector<JobMessage>& jobs);
  Status HandleMessage(Message& m);
  void QueueReport(const Message& report);
  void ResendDue(bool all_now);
  void MaybePull();
  Status DrainEvents();
  Status Recover();
  void PurgeExpired();
  void StartStored(const JobRecord& rec);
  bool IsInternal(const std::string& job_id);
  void Notify(const std::string& job_id, JobState state, std::string_view code = {});
  // The job's batch files are rewritten (Production::OutcomeChanged).
  void BatchOutcomeChanged(const std::string& job_id);
  void SetLinked(bool connected);
  void Heard();
};

}  // namespace cardbureau::server
