// THE PLUG-IN POINT FOR THE PRODUCTION LINE.
//
// The protocol loop (bureau.h) hands every durably accepted job to a
// `Production` and learns about its progress through a `ProductionSink`. The
// real line (render -> encode -> print -> verify over stations) implements
// `Production`; `FakeProduction` below is the test double used by the tests
// and by `cardbureau serve --production fake`.
//
// Plugging the real line in (lead):
//   1. implement `class Line : public cardbureau::server::Production`;
//   2. register a factory in ServeHooks::productions (commands.h), e.g.
//        hooks.productions["line"] = [&](ProductionSink& sink, const ServeConfig& cfg)
//            -> Result<std::unique_ptr<Production>> { return std::make_unique<Line>(sink, ...); };
//   3. `cardbureau serve --production line` selects it.
//
// Contract for an implementation:
//   * Start() is called on the protocol thread and must not block; do the work
//     on your own threads.
//   * Before each step call sink.Advance(job_id, next_state) and go on only if
//     it returns OK. Advance is durable when it returns. In particular call
//     Advance(kEncoding) BEFORE the chip is touched and Advance(kEncoded)
//     after: a job found in `encoding` after a crash is never encoded again
//     (the server reports it failed CARD_ERROR for an operator to check).
//   * Advance returns CANCELLED when the centre cancelled the job meanwhile
//     (the server has already reported `cancelled` or `failed TOO_LATE`):
//     stop the job, put the card in the reject bin, call nothing else for it.
//   * Finish every job with exactly one of sink.Completed() (from `verified`)
//     or sink.Failed().
//   * JobContext::state says where the job stands: `validated` = from the
//     start; `rendered` = faces exist in cards_dir (re-rendering is fine);
//     `encoded`, `printed`, `verified` = the chip is already written (after a
//     restart): resume WITHOUT encoding again.
//   * Stop() blocks until no thread calls the sink any more; jobs not finished
//     stay in their durable state and are handed over again by the next run.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/server/messages.h"

namespace cardbureau::server {

struct JobContext {
  std::string job_id;
  Job job;                           // validated
  std::filesystem::path photo_path;  // DATA/photos/<sha256>, read-only
  std::filesystem::path cards_dir;   // DATA/cards/<job_id>/ for rendered faces
  JobState state = JobState::kValidated;
};

// What a finished card reports (becomes the `completed` message).
struct CardOutcome {
  CardInfo card;
  QaInfo qa;
  std::string station;
  std::string produced_at;  // ISO 8601
  // History rows (the QA verdict, ...) stored with the completion, in the
  // same transaction.
  std::vector<HistoryEvent> history;
};

// Implemented by the server. All methods are thread-safe.
class ProductionSink {
 public:
  virtual ~ProductionSink() = default;
  // Durably records `job_id` -> `to` (one allowed transition). OK, CANCELLED
  // (stop this job), FAILED_PRECONDITION (a forbidden move = a bug),
  // STORAGE_ERROR.
  virtual Status Advance(const std::string& job_id, JobState to) = 0;
  // The job is verified; the server stores and sends `completed`.
  virtual void Completed(const std::string& job_id, const CardOutcome& outcome) = 0;
  // The job cannot be produced; the server stores and sends `failed`.
  virtual void Failed(const std::string& job_id, const Status& why, bool retryable) = 0;

  // History (job_store.h): the rows that explain a step, stored with it.
  // The defaults drop the rows (test doubles that only count states); the
  // server stores them in the same transaction as the state change.
  // As Advance, with `events` written in the same transaction.
  virtual Status AdvanceWith(const std::string& job_id, JobState to,
                             std::vector<HistoryEvent> events) {
    (void)events;
    return Advance(job_id, to);
  }
  // Rows that change no state (a fault the line recovers from, a further
  // card). OK, or STORAGE_ERROR/NOT_FOUND: the caller must not go on as if
  // the row existed.
  virtual Status Record(const std::string& job_id, std::vector<HistoryEvent> events) {
    (void)job_id;
    (void)events;
    return Status::Ok();
  }
  // As Failed, with `events` (the fault, the QA verdict) in the same transaction.
  virtual void FailedWith(const std::string& job_id, const Status& why, bool retryable,
                          std::vector<HistoryEvent> events) {
    (void)events;
    Failed(job_id, why, retryable);
  }
  // The store's counts of a school's batch (JobStore::Batches), the one
  // source of the batch files' numbers. NOT_FOUND when the sink has no
  // store (test doubles): the line falls back to its own counts.
  virtual Result<std::vector<BatchCounts>> CountBatch(const std::string& school_code) {
    (void)school_code;
    return Status(Code::kNotFound, "this sink keeps no store");
  }
  // The store's rows of a school's batch (JobStore::BatchRows), the one
  // source of the manifest's rows. NOT_FOUND when the sink has no store.
  virtual Result<std::vector<BatchRow>> BatchRows(const std::string& school_code) {
    (void)school_code;
    return Status(Code::kNotFound, "this sink keeps no store");
  }
  // A station fault (jam, ribbon, card removed, ...): the server keeps it in
  // the store until an operator acknowledges it (JobStore::AddStationFault).
  // Quick; may be called with the production's own locks held. The default
  // drops it (test doubles).
  virtual void StationFault(const StationFaultRow& fault) { (void)fault; }
  // The stock check of a card at the encoder (JobStore::CheckStock): the
  // card's lot row, or STOCK_UNKNOWN / STOCK_USED / STOCK_WRONG_TYPE. The
  // default (a sink without a store) accepts every card with no lot row.
  virtual Result<StockCardInfo> CheckStock(const std::string& job_id, const std::string& uid,
                                           CardType type, bool required) {
    (void)job_id;
    (void)uid;
    (void)type;
    (void)required;
    return StockCardInfo{};
  }
  // The store's stock lots, numbers only (JobStore::StockReport), for the
  // batch files.
  // NOT_FOUND when the sink has no store.
  virtual Result<std::vector<StockLotReport>> StockLots() {
    return Status(Code::kNotFound, "this sink keeps no store");
  }
};

class Production {
 public:
  virtual ~Production() = default;
  // Takes one job (non-blocking). Called on the protocol thread.
  virtual void Start(JobContext job) = 0;
  // Blocks until in-flight work is finished or parked; no sink call after.
  virtual void Stop() = 0;
  // The store purged these jobs' personal data (retention; they are long
  // finished). Remove or redact every copy the production wrote outside the
  // store (printer outputs, batch files, in-memory caches). Called on the
  // protocol thread; a failure is retried at the next purge.
  virtual Status Purge(const std::vector<JobStore::PurgedJob>& jobs) {
    (void)jobs;
    return Status::Ok();
  }
  // A job of `school_code`'s batch changed outcome outside the production
  // (its card voided by an approved reprint, a cancel or late failure the
  // server answered, a refusal at intake, a job failed on recovery): the
  // batch's files are regenerated from the store at once — reconciliation
  // always, the manifest when `manifest` or when one exists already. Called
  // after the change is committed, on any thread. A failure is the
  // production's to record (a fault in the job's history), never only a
  // log line. The default does nothing (test doubles keep no batch files).
  virtual void OutcomeChanged(const std::string& job_id, const std::string& school_code,
                              bool manifest) {
    (void)job_id;
    (void)school_code;
    (void)manifest;
  }
};

// ---- the test double ----

enum class FakeHold { kNone, kBeforeEncoding, kAfterEncoding };

struct FakeProductionOptions {
  std::chrono::milliseconds step_delay{1};  // per step (render, encode, print, verify)
  // When set, every chip encoding appends "<job_id>\n" to this file and
  // fsyncs it, so tests can prove no job was produced twice.
  std::filesystem::path produced_log;
  // Every job whose index (in Start order) % fail_every == fail_every-1 fails
  // with PRINTER_JAM (retryable). 0 = never.
  int fail_every = 0;
  // Holds jobs at a point until Release()/ReleaseAll() (for cancel tests).
  FakeHold hold = FakeHold::kNone;
  int stations = 1;  // worker threads
  const Clock* clock = &SystemClock::Instance();
};

class FakeProduction final : public Production {
 public:
  // `sink` must outlive this object.
  FakeProduction(ProductionSink& sink, FakeProductionOptions options);
  ~FakeProduction() override;
  void Start(JobContext job) override;
  void Stop() override;
  // Lets a held job (or all) continue.
  void Release(const std::string& job_id);
  void ReleaseAll();
  // Jobs currently waiting at the hold point.
  std::vector<std::string> Held() const;

 private:
  void Worker(int station);
  void Run(JobContext& job, int station);
  bool WaitHold(const std::string& job_id);   // false when stopping
  Status Produce(const std::string& job_id);  // the "chip encoding"

  ProductionSink& sink_;
  FakeProductionOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobContext> queue_;
  std::set<std::string> held_;
  std::set<std::string> released_;
  bool release_all_ = false;
  bool stopping_ = false;
  int64_t started_ = 0;
  std::mutex log_mu_;
  std::vector<std::thread> threads_;
};

}  // namespace cardbureau::server
