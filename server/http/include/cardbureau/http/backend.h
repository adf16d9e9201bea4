// DashboardBackend: everything the HTTP API and the dashboard need from the
// rest of the bureau (job store, production line, stations), behind one
// interface the http module owns.
//
// Implementations:
//   - FakeBackend (fake_backend.h): in memory, with a simulated line; used by
//     the tests, the fuzz target and `cardbureau dashboard-demo`.
//   - The production implementation is written by whoever owns the job store
//     and the line (server/app): it answers the job/batch queries from
//     server::JobStore and the station/reprint/event parts from the line.
//
// Contract for every implementation:
//   - Thread-safety: every method may be called concurrently from the HTTP
//     server's threads and must be thread-safe.
//   - Methods return quickly (no waiting for a card or a printer); long work
//     (a reprint's production) is started and reported through events.
//   - Errors are Status codes from the catalogue: NOT_FOUND for an unknown
//     id, FAILED_PRECONDITION for an action the current state forbids
//     (e.g. reprint of a job that has no produced card), STORAGE_ERROR /
//     IO_ERROR for the disk. The HTTP layer maps them to 404 / 409 / 500.
//   - Authorisation is NOT the backend's business: the HTTP layer checks the
//     caller's role (and that an operator's reprint gets a qa approval)
//     before calling; `actor` arguments are for the backend's own records.
//   - Personal data: `student_name` is shown to authenticated staff only;
//     implementations must not log it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/status.h"

namespace cardbureau::http {

// Job states use the store's wire names: "received", "validated",
// "rendered", "encoding", "encoded", "printed", "verified", "reported",
// "acknowledged", "rejected", "failed", "cancelled". A reprint attempt that
// waits for approval is not a job yet (see ReprintRequest).

// One delivery batch (jobs grouped by school) with its reconciliation.
struct BatchSummary {
  std::string batch_id;
  std::string school_code;
  std::string school_name;
  int64_t total = 0;          // jobs in the batch (reprint attempts included)
  int64_t queued = 0;         // received/validated/rendered, not yet at a station
  int64_t in_progress = 0;    // encoding .. verified
  int64_t produced = 0;       // reported/acknowledged (a card exists)
  int64_t failed = 0;         // failed/cancelled
  int64_t rejected = 0;       // refused at intake
  int64_t reprinted = 0;      // reprint attempts created in this batch
  int64_t created_at_ms = 0;  // Unix ms
  // Split by outcome (from the store's batch rows): produced = live cards,
  // voided = produced cards later voided by a reprint (not in `produced`).
  // failed counts failed/cancelled jobs; `failed_open` the failed ones that
  // no reprint attempt replaced.
  int64_t voided = 0;
  int64_t failed_open = 0;
  // Fully produced with nothing outstanding: no job queued or at a station,
  // no failed job left without a reprint (refusals at intake are reported
  // to the centre and do not hold the batch open).
  bool complete = false;
  bool has_manifest = false;        // GET /api/batches/{id}/manifest answers
  bool has_reconciliation = false;  // GET /api/batches/{id}/reconciliation answers
};

// A job row as the search lists it.
struct JobSummary {
  std::string job_id;
  std::string batch_id;
  std::string school_code;
  std::string card_no;
  std::string student_name;  // may be empty (purged); never logged
  std::string state;         // wire name, see above
  std::string last_code;     // catalogue code of the last failure, "" if none
  std::string station;       // station that holds/held it, "" if none
  std::string reprint_of;    // job_id this attempt reprints, "" if original
  std::string reprinted_by;  // newest reprint attempt of this job, "" if none
  bool card_voided = false;  // the card of this attempt was voided by a reprint
  int64_t updated_at_ms = 0;
};

// Search filter; empty / nullopt = no filter on that field.
struct JobSearch {
  std::string state;        // exact state wire name
  std::string school_code;  // exact
  std::string code;         // exact job_id or card_no
  std::string text;         // case-insensitive substring of id, card_no, school, name
  int limit = 50;           // 1..500 (the HTTP layer clamps)
  int offset = 0;
};

struct JobSearchResult {
  std::vector<JobSummary> jobs;
  int64_t total = 0;  // matches before limit/offset
};

// One step of a job's history, oldest first.
// With the store, these are exactly the job's history rows (`cardbureau
// history`, JobStore::History).
struct TimelineEntry {
  int64_t at_ms = 0;
  std::string state;           // state entered (kind "state"); the job's state then (other kinds)
  std::string station;         // "" when not at a station
  std::string code;            // catalogue code for failures, else ""
  std::string note;            // short free text (ids, reasons), never personal data
  std::string kind = "state";  // "state", "attempt", "card", "fault", "qa", "output", ...
  std::string from_state;      // kind "state": the previous state
  std::string printer;
  std::string uid;      // the card's UID when known
  int attempt = 0;      // the card's number within the job, 0 = none
  std::string stage;    // how far the card got ("encode", "qa", "outputs", ...)
  std::string field;    // refusals: the offending field
  std::string message;  // refusal/fault message, QA reasons
};

struct JobDetail {
  JobSummary job;
  std::vector<TimelineEntry> timeline;
  bool has_front_preview = false;
  bool has_back_preview = false;
};

enum class PreviewSide { kFront, kBack };

struct StationFault {
  int64_t at_ms = 0;
  std::string code;  // catalogue code, e.g. "PRINTER_JAM"
  std::string message;
  std::string job_id;  // "" when not tied to a job
};

// A station fault kept until an operator acknowledges it (the store).
struct FaultInfo {
  int64_t fault_id = 0;
  int64_t at_ms = 0;
  std::string station_id;
  std::string code;  // catalogue code
  std::string message;
  std::string job_id;       // "" when not tied to a job
  int64_t acked_at_ms = 0;  // 0 while open
  std::string acked_by;     // "" while open
};

struct StationInfo {
  std::string station_id;
  // "idle", "busy", "paused", "keystore" (the pkcs11 keystore's token is
  // unavailable: the station waits and resumes by itself when it is back),
  // "faulted" (out of rotation), "offline".
  std::string state;
  std::string current_job;                // "" when none
  int64_t produced = 0;                   // cards completed since start
  int64_t failed = 0;                     // cards sent to the reject hopper since start
  std::vector<StationFault> last_faults;  // newest first, at most 10
  // The newest fault not acknowledged yet (fault_id 0 = none).
  FaultInfo open_fault;
  // What the printer reports of its ribbon and card stock (supplies_known
  // false: it reports nothing); low at or below a fifth of the capacity.
  bool supplies_known = false;
  int ribbon_left = 0, ribbon_capacity = 0, cards_left = 0, cards_capacity = 0;
  bool ribbon_low = false, cards_low = false;
};

// The centre link badge (the bureau's protocol loop).
struct LinkStatus {
  // "connected", "reconnecting" (was connected, or is trying), "none"
  // (no protocol loop attached, e.g. the demo backend).
  std::string state = "none";
  int64_t since_ms = 0;           // when it became connected / disconnected
  int64_t last_heartbeat_ms = 0;  // last message heard from the centre, 0 = never
  int64_t reconnects = 0;
  std::string centre;  // endpoint
};

// The KPIs (all from the store's history rows and job rows).
struct KpiSnapshot {
  int64_t now_ms = 0;
  int64_t produced_this_hour = 0;  // since the full hour (Beijing time)
  int64_t produced_today = 0;      // since midnight Beijing time
  int64_t produced_last_15min = 0;
  int64_t cards_per_hour_15min = 0;  // produced_last_15min * 4
  int64_t queue_depth = 0;           // received .. rendered
  int64_t at_stations = 0;           // encoding .. verified
  int64_t eta_seconds = -1;          // open jobs / rate; -1 = no rate yet (or nothing open)
};

// One open job's age for the SLA view.
struct SlaJob {
  std::string job_id;
  std::string batch_id;
  std::string state;
  std::string confirmed_at;  // as sent; "" = the intake time was used
  int64_t working_days = 0;  // working days since confirmation
  bool flagged = false;      // past the flag threshold
};

struct SlaView {
  int sla_working_days = 20;
  double flag_share = 0.75;
  int64_t flag_after_days = 15;  // ceil(sla * share)
  int64_t oldest_working_days = 0;
  int64_t flagged = 0;
  std::vector<SlaJob> jobs;  // oldest first
  std::string calendar;      // where the holidays came from (file or "built-in")
};

// A reprint: a new production attempt for a job whose card was produced,
// linked to the old one, with a reason; the old card is recorded as voided
// when the new attempt is created (i.e. on approval).
struct ReprintRequest {
  std::string reprint_id;
  std::string job_id;  // the attempt being replaced
  std::string reason;
  std::string requested_by;  // token name
  int64_t requested_at_ms = 0;
  // "pending" (needs a qa approval), "approved" (new attempt created),
  // "rejected" (declined; nothing happens).
  std::string status;
  std::string decided_by;  // "" while pending
  int64_t decided_at_ms = 0;
  std::string new_job_id;  // the new attempt, once approved
};

// A report the bureau re-sends until the centre acks it (the outbox), with
// the centre's `error` answer when it refused it — e.g. UNKNOWN_TYPE from a
// centre that does not know `card_replaced`: the operator must see it.
struct PendingReport {
  std::string report_id;
  std::string job_id;  // the centre's job it is about
  std::string type;    // "completed", "failed", ..., "card_replaced"
  int64_t created_at_ms = 0;
  std::string answer_code;     // the centre's error code, "" = no answer yet
  std::string answer_message;  // its text (ids and codes only)
  int64_t answered_at_ms = 0;  // the last answer
  int64_t answers = 0;         // answers recorded (a repeat at most once a second)
};

// Inputs of /metrics. Counters are since the backend started unless noted.
struct MetricsSnapshot {
  std::map<std::string, int64_t> jobs_by_state;     // every state, 0 included
  std::map<std::string, int64_t> failures_by_code;  // terminal + card failures
  // Fault rows of the jobs' histories by code (the store; survives restarts).
  std::map<std::string, int64_t> history_faults_by_code;
  int64_t cards_produced_last_hour = 0;               // completed in the last 3600 s
  int64_t queue_depth = 0;                            // jobs waiting for a station
  std::map<std::string, std::string> station_states;  // station_id -> state
  std::optional<LinkStatus> link;                     // nullopt = no protocol loop
  int64_t oldest_open_job_working_days = 0;
  int64_t open_faults = 0;
};

// Card stock (issue 21): unused cards per card type of the imported lots,
// and whether each is below the configured low level (line.json
// "stock": {"low_level": N}).
struct StockLevel {
  std::string card_type;  // "mifare-classic-1k" / "mifare-classic-4k"
  int64_t received = 0;
  int64_t remaining = 0;
  bool low = false;  // remaining < low_level
};
struct StockSummary {
  int64_t low_level = 0;
  std::vector<StockLevel> card_types;  // types with at least one card received
};

// A progress event for the live stream. `kind` is "job", "station",
// "batch" or "reprint"; `id` is the job/station/batch/reprint id.
struct DashboardEvent {
  std::string kind;
  std::string id;
  std::string state;     // the new state of that object
  std::string batch_id;  // for job/batch events, "" otherwise
  std::string code;      // failure code, "" otherwise
  int64_t at_ms = 0;
};

using EventCallback = std::function<void(const DashboardEvent&)>;

// Returned by Subscribe; destroying it unsubscribes. After the destructor
// returns, the callback is not running and will not be called again.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

class DashboardBackend {
 public:
  virtual ~DashboardBackend() = default;

  // Batches, newest first.
  virtual Result<std::vector<BatchSummary>> Batches() = 0;
  // NOT_FOUND for an unknown batch.
  virtual Result<BatchSummary> Batch(std::string_view batch_id) = 0;

  virtual Result<JobSearchResult> SearchJobs(const JobSearch& query) = 0;
  // NOT_FOUND for an unknown job.
  virtual Result<JobDetail> Job(std::string_view job_id) = 0;
  // Path of a rendered face PNG, readable by this process. NOT_FOUND when
  // the job is unknown, not rendered yet or purged.
  virtual Result<std::filesystem::path> CardPreview(std::string_view job_id, PreviewSide side) = 0;

  virtual Result<std::vector<StationInfo>> Stations() = 0;
  // Takes a station out of rotation after its current card / puts it back.
  // Idempotent. NOT_FOUND for an unknown station; FAILED_PRECONDITION to
  // resume an "offline" station.
  virtual Status SetStationPaused(std::string_view station_id, bool paused,
                                  std::string_view actor) = 0;

  // Records a reprint request. `approved` = the caller may approve it
  // (qa/admin asked, or the HTTP layer already holds a qa approval): the new
  // attempt is created at once and the old card voided. Otherwise it stays
  // "pending". NOT_FOUND for an unknown job; FAILED_PRECONDITION when the
  // job has no produced card, its card is already voided, or a reprint of it
  // is already pending.
  virtual Result<ReprintRequest> RequestReprint(std::string_view job_id, std::string_view reason,
                                                std::string_view actor, bool approved) = 0;
  // Approves (creates the new attempt, voids the old card) or rejects a
  // pending request. NOT_FOUND for an unknown id; FAILED_PRECONDITION when
  // it is not pending.
  virtual Result<ReprintRequest> DecideReprint(std::string_view reprint_id, bool approve,
                                               std::string_view actor) = 0;
  // Newest first; `status` filters ("" = all).
  virtual Result<std::vector<ReprintRequest>> Reprints(std::string_view status) = 0;
  // NOT_FOUND for an unknown id.
  virtual Result<ReprintRequest> Reprint(std::string_view reprint_id) = 0;

  virtual Result<MetricsSnapshot> Metrics() = 0;

  // Reports not acked by the centre yet, oldest first, with its answers.
  // The default (a backend without an outbox) has none.
  virtual Result<std::vector<PendingReport>> PendingReports() {
    return std::vector<PendingReport>{};
  }

  // ---- operator overview (issue 19); defaults for backends without them ----
  virtual Result<LinkStatus> Link() { return LinkStatus{}; }
  virtual Result<KpiSnapshot> Kpis() { return KpiSnapshot{}; }
  virtual Result<SlaView> Sla() { return SlaView{}; }
  // Newest first; `open_only` = not acknowledged.
  virtual Result<std::vector<FaultInfo>> Faults(bool open_only) {
    (void)open_only;
    return std::vector<FaultInfo>{};
  }
  // NOT_FOUND for an unknown fault; FAILED_PRECONDITION when acknowledged already.
  virtual Result<FaultInfo> AcknowledgeFault(int64_t fault_id, std::string_view actor) {
    (void)fault_id;
    (void)actor;
    return Status(Code::kNotFound, "no such fault");
  }
  // A batch's reconciliation.json or manifest.pdf, as the line wrote them.
  // NOT_FOUND when absent.
  enum class BatchFileKind { kManifest, kReconciliation };
  virtual Result<std::filesystem::path> BatchFile(std::string_view batch_id, BatchFileKind kind) {
    (void)batch_id;
    (void)kind;
    return Status(Code::kNotFound, "no batch files here");
  }
  // Card stock remaining per card type. The default: no lots (empty).
  virtual Result<StockSummary> Stock() { return StockSummary{}; }

  // Calls `callback` for every event from now on, on any thread (it must
  // not block and must not call back into Subscribe/unsubscribe).
  virtual std::unique_ptr<Subscription> Subscribe(EventCallback callback) = 0;
};

// A thread-safe fan-out of DashboardEvents, for backend implementations:
// own one, return hub.Subscribe(cb) from Subscribe, call hub.Publish(e)
// whenever something changes. Publish calls the callbacks in the caller's
// thread; do not hold your own locks that a callback could need.
class EventHub {
 public:
  EventHub();
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  std::unique_ptr<Subscription> Subscribe(EventCallback callback);
  void Publish(const DashboardEvent& event);
  size_t subscriber_count() const;

  struct State;  // implementation detail (event_hub.cpp)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cardbureau::http
