// The bureau's durable job store: SQLite (WAL, synchronous=FULL) in
// DATA/bureau.db plus content-addressed photos in DATA/photos/ and rendered
// faces in DATA/cards/<job_id>/.
//
// Tables (schema versioned with PRAGMA user_version, migrations in
// job_store.cpp): jobs (one row per job_id, its state), job_history (every
// transition), outbox (terminal reports until acked; kept afterwards so a
// duplicate job is answered with the same report_id), audit (ids, states,
// hashes; never names or photos), reprints (schema 2: operator reprint
// requests and their decisions), stock_lots / stock_cards (schema 5: card
// stock lots, stock.h; the code in stock_store.cpp).
//
// History (schema 3): job_history is the job's one history table. Besides
// the state transitions (kind "state") it holds every card attempt (kind
// "attempt": station, printer, attempt number), every step a card reached
// ("card": stage encoded/printed, the card's UID, how far encoding got),
// every fault with its catalogue code ("fault": jam, card removed, auth
// failure, ribbon, reject hopper, ...), every QA verdict with its reasons
// ("qa"), every reprint ("reprint") and the refusal/failure details (code,
// field, message) on the rejected/failed transition itself. Each row is
// written in the same transaction as the state change it explains (events
// that change no state, e.g. a jam the line recovers from, are their own
// transaction). History() returns them in order; `cardbureau history` and
// the dashboard's timeline print exactly these rows.
//
// Reprints (schema 2): a reprint is a new production attempt for a job whose
// card was produced, made inside the bureau (the centre's protocol has no
// message for it). The attempt is a job row with id "<job_id>~R<n>" ('~' is
// not allowed in protocol job ids, so it never collides with a centre job),
// `reprint_of` = the replaced job, the same job data and photo. Creating it
// records the old card as voided (`voided_at`, `reprinted_by`) in the same
// transaction. An attempt's terminal report is stored already acknowledged:
// it is never sent to the centre, which holds exactly one report per job.
//
// States and the allowed transitions (IsAllowedTransition):
//   received -> validated -> rendered -> encoding -> encoded -> printed
//            -> verified -> reported -> acknowledged
//   received -> rejected;  any production state -> failed;
//   received/validated/rendered -> cancelled.
// Every transition is one transaction that also writes history and audit
// rows; a terminal transition writes its outbox report in the same
// transaction.
//
// Thread-safety: every method is thread-safe (one connection = the one
// writer, guarded by a mutex). Errors: STORAGE_ERROR / IO_ERROR for the
// disk, NOT_FOUND for an unknown job or report, FAILED_PRECONDITION for a
// transition the table forbids, CANCELLED when production tries to advance a
// job that was cancelled (or failed TOO_LATE) meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/server/messages.h"
#include "cardbureau/server/photo_store.h"
#include "cardbureau/server/sqlite.h"
#include "cardbureau/server/stock.h"

namespace cardbureau::server {

enum class JobState {
  kReceived,
  kValidated,
  kRendered,
  kEncoding,
  kEncoded,
  kPrinted,
  kVerified,
  kReported,
  kAcknowledged,
  kRejected,
  kFailed,
  kCancelled,
};

std::string_view ToString(JobState s);  // "received", ...
std::optional<JobState> JobStateFromString(std::string_view s);
const std::vector<JobState>& AllJobStates();
bool IsAllowedTransition(JobState from, JobState to);
// reported, acknowledged, rejected, failed, cancelled: a terminal report exists.
bool IsTerminal(JobState s);
// validated .. verified: occupies a queue slot / a station.
bool IsInProduction(JobState s);
// received, validated, rendered: nothing irreversible done to a card yet.
bool IsBeforeEncoding(JobState s);

inline constexpr int kSchemaVersion = 7;

struct JobRecord {
  std::string job_id;
  JobState state = JobState::kReceived;
  std::string school_code;
  std::string card_no;
  std::string student_name;  // empty once purged (a refused job: as it gave it, if parsed)
  std::string job_json;      // protocol JSON; empty once purged
  std::string photo_sha256;
  std::string report_id;  // terminal report, empty before
  int64_t received_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::optional<int64_t> acked_at_ms;
  bool purged = false;
  std::string reprint_of;               // schema 2: the job this attempt reprints, "" = centre job
  std::string reprinted_by;             // the newest attempt that replaced this job's card
  std::optional<int64_t> voided_at_ms;  // this job's card was voided by a reprint
  std::string card_uid;  // schema 3: the UID bound to this job's card ("" before encoded)
  bool internal() const { return !reprint_of.empty(); }
};

// An operator's reprint request (dashboard). status: "pending" (waits for a
// qa approval), "approved" (new_job_id created), "rejected".
struct ReprintRecord {
  std::string reprint_id;
  std::string job_id;
  std::string reason;
  std::string requested_by;
  int64_t requested_at_ms = 0;
  std::string status;
  std::string decided_by;
  int64_t decided_at_ms = 0;
  std::string new_job_id;
};

struct StateChange {
  std::optional<JobState> from;
  JobState to = JobState::kReceived;
  int64_t at_ms = 0;
  std::string note;
};

// A history row that is not a bare state transition (schema 3). Production
// hands these to the store with the state change they explain.
struct HistoryEvent {
  std::string kind;     // "attempt", "card", "fault", "qa", "reprint", "output"
  std::string station;  // line station name, "" when not at a station
  std::string printer;  // printer name
  std::string uid;      // the card's UID (hex) when known
  int attempt = 0;      // the card's number within the job (1..), 0 = none
  std::string stage;    // how far the card got: "fed", "encode", "face-check", "print",
                        // "record", "encoded", "printed", "qa", "outputs", ...
  std::string code;     // catalogue code for faults / a failed QA, "OK" for a passed QA
  std::string field;    // the offending field (refusals)
  std::string message;  // short text (reasons), never personal data
};

// One row of a job's history, oldest first.
struct HistoryEntry {
  int64_t seq = 0;  // the row id (increasing)
  int64_t at_ms = 0;
  std::string kind;        // "state" or HistoryEvent::kind
  std::string from_state;  // state rows: the previous state ("" for the first)
  std::string state;       // state rows: the state entered; others: the job's state then
  std::string note;
  HistoryEvent detail;  // kind, station, printer, uid, attempt, stage, code, field, message
};

struct AuditEntry {
  int64_t at_ms = 0;
  std::string job_id;
  std::string event;   // "received", "state", "report", "ack", "purged"
  std::string detail;  // ids / states / hashes only
};

struct OutboxEntry {
  std::string report_id;
  std::string job_id;
  std::string type;    // "completed", "failed", "cancelled", "rejected"
  std::string frame0;  // the exact JSON frame sent each time
  int64_t created_at_ms = 0;
};

// A school's batch as the store counts it: the one source of the
// reconciliation files, the manifest totals, the dashboard and the demo
// summary (BatchCounts()).
struct BatchCounts {
  std::string school_code;
  int64_t total = 0;        // every job row of the school (centre jobs + reprint attempts)
  int64_t jobs = 0;         // centre jobs
  int64_t queued = 0;       // received, validated, rendered
  int64_t in_progress = 0;  // encoding .. verified
  int64_t produced = 0;     // reported/acknowledged: a card was produced (voided ones too)
  int64_t voided = 0;       // produced cards later voided by a reprint
  int64_t reprints = 0;     // reprint attempts (jobs "<id>~R<n>")
  int64_t rejected = 0;     // refused at intake
  int64_t failed = 0;       // failed in production
  int64_t cancelled = 0;
  int64_t cards_in = 0;        // cards fed to a reader (history "attempt" rows)
  int64_t cards_rejected = 0;  // cards sent to the reject hopper (history "card"/"rejected")
  int64_t first_received_ms = 0;
};

// One job of a school's batch as the manifest prints it (JobStore::BatchRows):
// the same rows the batch counts are made of.
struct BatchRow {
  std::string job_id;
  std::string student_name;  // "" once purged
  std::string card_no;
  std::string card_uid;  // "" when no card was encoded
  bool reissue = false;
  JobState state = JobState::kReceived;
  bool voided = false;   // its card was voided by a reprint
  bool reprint = false;  // a reprint attempt ("<id>~R<n>")
  bool purged = false;
  std::string code;  // rejected / failed: the reported code
};

// The centre's `error` answer to a report still in the outbox (schema 5,
// job_store_record.cpp): e.g. UNKNOWN_TYPE from a centre that does not know
// `card_replaced`. The report stays pending (re-sent until acked); the
// answer is shown to the operator.
struct CentreAnswer {
  std::string report_id;
  std::string code;     // the centre's error code
  std::string message;  // its text (ids and codes, never names)
  int64_t first_at_ms = 0;
  int64_t last_at_ms = 0;
  int64_t count = 0;  // answers recorded for this report (a repeat: at most one a second)
};

// The dashboard audit trail's chain head (schema 5): entry count and the
// last entry's hash, kept in the store so a truncated trail is detected.
struct AuditChainHead {
  int64_t entries = 0;
  std::string last_hash;
  int64_t updated_at_ms = 0;
};

// What a refused job gave, kept with its refusal for the batch manifest
// (every name exactly as the job gives it) until retention purges it.
struct RefusedJobData {
  std::string student_name;
  std::string card_no;
  std::string kind;  // "new" / "reissue"
};

// Dashboard search. Empty strings / nullopt = no filter.
struct JobQuery {
  std::optional<JobState> state;
  std::string school_code;
  std::string code;  // exact job_id or card_no
  std::string text;  // substring of job_id, card_no, school code or name
  int limit = 100;
  int offset = 0;
};

// A job that passed validation and whose photo is already durable.
struct IntakeJob {
  Job job;               // validated (valid_until filled in)
  std::string job_json;  // frame 0 as received (stored for production)
};

// A station fault (schema 5, table station_faults; job_store_dashboard.cpp):
// what a line station reported (jam, ribbon, card removed, ...), kept until
// an operator acknowledges it, and across restarts.
struct StationFaultRow {
  int64_t id = 0;  // increasing
  int64_t at_ms = 0;
  std::string station;
  std::string code;  // catalogue code
  std::string message;
  std::string job_id;  // the job at the station then, "" if none
  std::optional<int64_t> acked_at_ms;
  std::string acked_by;  // "" while open
};

// The store's production figures for the dashboard's KPIs (history rows).
struct ProductionFigures {
  int64_t produced_since_hour = 0;  // jobs that reached `reported` since `hour_start_ms`
  int64_t produced_since_day = 0;   // ... since `day_start_ms`
  int64_t produced_last_15min = 0;  // ... in the 15 minutes before now
  int64_t queued = 0;               // received, validated, rendered
  int64_t at_stations = 0;          // encoding .. verified
};

// A job not finished yet (received .. verified), for the SLA view.
struct OpenJobRow {
  std::string job_id;
  std::string school_code;
  JobState state = JobState::kReceived;
  std::string confirmed_at;  // from the stored job JSON, "" when absent
  int64_t received_at_ms = 0;
};

class JobStore {
 public:
  // Opens or creates DATA/bureau.db and the photo/cards directories, applies
  // migrations. `clock` must outlive the store. STORAGE_ERROR when the
  // database is newer than this build (schema version > kSchemaVersion).
  static Result<std::unique_ptr<JobStore>> Open(const std::filesystem::path& data_dir,
                                                const Clock& clock);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  const PhotoStore& photos() const { return photos_; }
  std::filesystem::path CardsDir(std::string_view job_id) const;
  int SchemaVersion();

  // ---- intake (the protocol loop) ----
  // Inserts validated jobs in ONE transaction (received -> validated each,
  // history + audit). Job ids already present are skipped (returned in
  // `skipped`). The photos must have been written and their directory synced.
  Status AddValidated(std::span<const IntakeJob> jobs, std::vector<std::string>* skipped);
  // Stores a refused job (received -> rejected) and its `rejected` report
  // with a new report_id; returns the report. If the job already exists its
  // stored terminal report is returned instead (or FAILED_PRECONDITION when
  // it has none).
  // `school_code` (when the job parsed far enough to have one) puts the
  // refused job into its school's batch for the dashboard.
  // `data` (when the job parsed far enough) keeps its name, card number and
  // kind for the manifest's row until the retention purge.
  Result<Message> Reject(std::string_view job_id, const Status& why,
                         std::string_view school_code = {}, const RefusedJobData* data = nullptr);
  // Cancels (protocol `cancel`): before encoding -> cancelled; encoding or
  // later -> failed TOO_LATE; already terminal -> the stored report; unknown
  // job -> a cancelled tombstone, so a late delivery is answered with it.
  // Returns the terminal report to send.
  Result<Message> Cancel(std::string_view job_id, std::string_view reason);

  // ---- production (thread-safe; see production.h) ----
  // One allowed transition between production states. CANCELLED when the job
  // is cancelled/failed, FAILED_PRECONDITION for other forbidden moves.
  Status Advance(std::string_view job_id, JobState to, std::string_view note = {});
  // As Advance, writing `events` (before the transition row) in the same
  // transaction. An idempotent re-advance (already in `to`) writes nothing.
  // Advancing to `encoded` binds the UID of its "card" event to the job:
  // DUPLICATE_UID (nothing written) when that UID is bound to another job's
  // produced card that is not voided (one card UID, one live job).
  Status AdvanceWith(std::string_view job_id, JobState to, std::span<const HistoryEvent> events,
                     std::string_view note = {});
  // Writes history rows that change no state (a fault the line recovers
  // from, a further card for the same job) in one transaction.
  // NOT_FOUND for an unknown job.
  Status Record(std::string_view job_id, std::span<const HistoryEvent> events);
  // verified -> reported with a `completed` report (report_id assigned here).
  // For a reprint attempt (internal) the report is stored already acked and
  // the job goes on to `acknowledged`: nothing is sent to the centre.
  // A reprint attempt of a job the centre holds a `completed` for also
  // queues, in the same transaction, one `card_replaced` report for the
  // centre's job (replaces = the UID the centre last heard of, reason = the
  // reprint's); it is returned in `card_replaced` (when given) and pending
  // in the outbox until acked.
  Result<Message> Complete(std::string_view job_id, Completed report,
                           std::span<const HistoryEvent> events = {},
                           std::optional<Message>* card_replaced = nullptr);
  // Any in-production state -> failed with a `failed` report (stored acked
  // for a reprint attempt, as above).
  // `events` (e.g. the fault or QA verdict that caused it) are written in the
  // same transaction; the failed transition row carries the code and message.
  Result<Message> Fail(std::string_view job_id, const Status& why, bool retryable,
                       std::span<const HistoryEvent> events = {});

  // ---- reports ----
  // The stored terminal report of a job, nullopt when it has none yet.
  Result<std::optional<Message>> TerminalReport(std::string_view job_id);
  // Marks a report acked (idempotent) and moves reported -> acknowledged.
  // NOT_FOUND for an unknown report_id.
  Status Acknowledge(std::string_view report_id);
  // Reports not yet acked, oldest first.
  Result<std::vector<OutboxEntry>> PendingReports();
  // ---- the centre's answers (schema 5, job_store_record.cpp) ----
  // The centre answered `error` (code, message) in reply to a message of
  // type `report_type` (its `in_reply_to`): every pending report of that
  // type is marked with the answer (the protocol's error names the type, not
  // the report). The first answer of a code for a report is also a history
  // row of its job (kind "report", stage = the type). Returns how many
  // reports were marked (0 when none of that type is pending).
  Result<int64_t> RecordCentreAnswer(std::string_view report_type, std::string_view code,
                                     std::string_view message);
  // The centre's last answer per pending report (report_id -> answer).
  Result<std::map<std::string, CentreAnswer>> CentreAnswers();

  // ---- the dashboard audit trail's head (schema 5, job_store_record.cpp) ----
  // nullopt when none was ever stored.
  Result<std::optional<AuditChainHead>> AuditHead();
  // Replaces the head (one row), durably.
  Status SetAuditHead(int64_t entries, std::string_view last_hash);

  // ---- queries (dashboard, recovery) ----
  Result<std::optional<JobRecord>> Find(std::string_view job_id);
  Result<std::vector<JobRecord>> List(const JobQuery& query);
  Result<std::vector<JobRecord>> InStates(std::span<const JobState> states, int limit = 100000);
  // The state transitions only (kind "state").
  Result<std::vector<StateChange>> Timeline(std::string_view job_id);
  // Every history row of the job (see the header comment), oldest first.
  Result<std::vector<HistoryEntry>> History(std::string_view job_id);
  Result<std::vector<AuditEntry>> Audit(std::string_view job_id);
  Result<std::map<JobState, int64_t>> CountsByState();
  // Per school (one query; `school_code` "" = every school with a code),
  // ordered by school code.
  Result<std::vector<BatchCounts>> Batches(std::string_view school_code = {});
  // Every job row of a school's batch, oldest first (the manifest's rows).
  Result<std::vector<BatchRow>> BatchRows(std::string_view school_code);
  // Fault rows of every job's history by catalogue code (survives restarts,
  // unlike a line's in-memory counters).
  Result<std::map<std::string, int64_t>> FaultCounts();
  // Jobs occupying the production queue (IsInProduction).
  Result<int64_t> CountInProduction();
  // The parsed job for production (NOT_FOUND when purged or unknown).
  Result<Job> LoadJob(std::string_view job_id);

  // ---- dashboard (schema 5; job_store_dashboard.cpp) ----
  // Stores a station fault; returns its id.
  Result<int64_t> AddStationFault(const StationFaultRow& fault);
  // Newest first. `station` "" = every station; `open_only` = not acknowledged.
  Result<std::vector<StationFaultRow>> StationFaults(std::string_view station, bool open_only,
                                                     int limit = 100);
  // Marks a fault acknowledged by `actor`. NOT_FOUND for an unknown id,
  // FAILED_PRECONDITION when it was acknowledged already.
  Result<StationFaultRow> AcknowledgeStationFault(int64_t id, std::string_view actor);
  // Failures by catalogue code: every station fault plus every job that
  // failed or was refused (its failed/rejected history row). Survives restarts.
  Result<std::map<std::string, int64_t>> FailureCounts();
  // Jobs produced (history rows verified -> reported; a later row that
  // re-states `reported`, e.g. a voided card, is not counted) since the
  // given times, and the queue/station occupancy now.
  Result<ProductionFigures> Figures(int64_t hour_start_ms, int64_t day_start_ms, int64_t now_ms);
  // Jobs not finished (received .. verified), oldest first.
  Result<std::vector<OpenJobRow>> OpenJobs(int limit = 100000);

  // ---- reprints (see the header comment) ----
  // Records a reprint request for `job_id`. With `approve` the attempt is
  // created at once (status "approved", new_job_id set, old card voided);
  // otherwise it is "pending". NOT_FOUND for an unknown job;
  // FAILED_PRECONDITION when the job has no produced card (a reprint attempt
  // that failed may be reprinted again), its card is already voided, its data
  // was purged, or a request for it is pending. INVALID_FIELD for an empty
  // reason or actor.
  Result<ReprintRecord> RequestReprint(std::string_view job_id, std::string_view reason,
                                       std::string_view actor, bool approve);
  // Approves (creates the attempt, as above) or rejects a pending request.
  // NOT_FOUND for an unknown id; FAILED_PRECONDITION when it is not pending
  // or (on approval) the job no longer qualifies.
  Result<ReprintRecord> DecideReprint(std::string_view reprint_id, bool approve,
                                      std::string_view actor);
  // Newest first; `status` "" = all.
  Result<std::vector<ReprintRecord>> Reprints(std::string_view status);
  Result<ReprintRecord> FindReprint(std::string_view reprint_id);

  // ---- card stock lots (stock.h; stock_store.cpp) ----
  // Imports a parsed lot in one transaction. STOCK_LOT_INVALID (nothing
  // written) when the lot id or the same file was imported before, or when
  // UIDs of the lot are already in another lot (the message lists the lines).
  Status ImportStockLot(const StockLotFile& lot, std::string_view source);
  // The line's check of a card at the encoder (read-only). OK with the
  // card's lot row when `uid` is an unused card of an imported lot of
  // `type` (or the card this job already produced); STOCK_UNKNOWN (in no
  // lot), STOCK_USED (produced by another job, or spoiled),
  // STOCK_WRONG_TYPE. When no lot was ever imported and `required` is
  // false, OK with an empty row (the line runs as without lots).
  Result<StockCardInfo> CheckStock(std::string_view job_id, std::string_view uid, CardType type,
                                   bool required);
  // Per lot (`lot_id` "" = every lot, oldest import first); the numbers come
  // from one query (the report, the batch reconciliation and the dashboard
  // use it); `with_cards` adds the produced and spoiled card lists.
  // NOT_FOUND for an unknown lot.
  Result<std::vector<StockLotReport>> StockReport(std::string_view lot_id = {},
                                                  bool with_cards = true);
  // Spoiled cards whose spoiling is at or after `since_ms`, oldest first.
  Result<std::vector<StockSpoiled>> StockSpoiledSince(int64_t since_ms);
  // Per card type with at least one card received.
  Result<std::vector<StockByType>> StockRemainingByType();

  // ---- retention ----
  // A job whose personal data the purge removed.
  struct PurgedJob {
    std::string job_id;
    std::string photo_sha256;  // hex; the photo is gone unless another live job shares it
    std::string school_code;   // its batch, whose files the production rewrites
  };
  // For jobs acked at least `retention` ago: deletes the photo (unless an
  // unpurged job shares it), DATA/cards/<job_id>/, the name and job JSON
  // (with the education ID and student number in it). The store runs with
  // secure_delete, and the write-ahead log is checkpointed and truncated
  // after a purge, so no old page holding the data stays in bureau.db or
  // bureau.db-wal. What stays: job id, school code, card number, states,
  // history and reports. Copies outside the store (printer outputs, batch
  // files, caches) are the production's to remove (Production::Purge).
  Result<std::vector<PurgedJob>> PurgeExpired(std::chrono::seconds retention);

 private:
  JobStore(Database db, PhotoStore photos, std::filesystem::path data_dir, const Clock& clock);
  Status Migrate();
  Result<Statement*> Stmt(const char* sql);
  int64_t NowMs() const;
  std::string NewReportId();
  Result<std::optional<JobRecord>> FindLocked(std::string_view job_id);
  Status InsertHistory(std::string_view job_id, std::optional<JobState> from, JobState to,
                       std::string_view note, int64_t now, const HistoryEvent* detail = nullptr);
  Status BindUidLocked(std::string_view job_id, std::string_view uid);
  Result<std::optional<Message>> QueueCardReplacedLocked(const JobRecord& attempt,
                                                         const Completed& done, int64_t now);
  Status InsertEvents(std::string_view job_id, JobState state, std::span<const HistoryEvent> events,
                      int64_t now);
  Status InsertAudit(std::string_view job_id, std::string_view event, std::string_view detail,
                     int64_t now);
  Status SetState(std::string_view job_id, JobState from, JobState to, std::string_view note,
                  int64_t now, const HistoryEvent* detail = nullptr);
  Status InsertReport(std::string_view job_id, const Message& report, int64_t now);
  Result<std::optional<Message>> TerminalReportLocked(std::string_view job_id);
  Result<std::vector<JobRecord>> Rows(Statement* st);
  Status CheckReprintableLocked(const JobRecord& job);
  Result<std::string> CreateAttemptLocked(const JobRecord& old, std::string_view reprint_id,
                                          int64_t now);
  Result<std::optional<ReprintRecord>> FindReprintLocked(std::string_view reprint_id);
  Status AcknowledgeInternalLocked(std::string_view job_id, const Message& report, int64_t now);

  // Stock (stock_store.cpp): the card's status follows the job's history.
  Status StockOnEventLocked(std::string_view job_id, const HistoryEvent& e, int64_t now);
  Status StockProducedLocked(std::string_view job_id, std::string_view uid, int64_t now);

  std::mutex mu_;
  Database db_;
  PhotoStore photos_;
  std::filesystem::path data_dir_;
  const Clock& clock_;
  std::unordered_map<const char*, Statement> stmts_;
  bool wal_holds_purged_ = false;  // a purge's WAL checkpoint is still to do
  bool CheckpointTruncate();       // true when the WAL was checkpointed and cut
};

}  // namespace cardbureau::server
