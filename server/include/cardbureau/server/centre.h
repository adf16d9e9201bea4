// The reference centre (`cardbureau centre`): the other side of protocol v1
// for demos and tests. A real centre is another organisation's system.
//
// Input: a JSONL file, one protocol job object per line. The photo sent as
// frame 1 is read from PHOTOS/<photo_file> when the line has a string field
// "photo_file" (removed before sending), else from PHOTOS/<photo.sha256>. A
// missing photo file sends the job without frame 1 (the bureau rejects it).
//
// Behaviour: binds a ROUTER; jobs go out only against a bureau's outstanding
// credit (never more); a job sent but neither accepted nor rejected within
// `redeliver_after` goes back to the queue (any bureau); every new terminal
// report is appended to the reports JSONL file (the report's JSON plus
// "bureau") and fsynced BEFORE it is acked; a repeated report_id is acked and
// not stored again. At start the reports file is re-read, so a restarted
// centre neither loses reports nor re-sends finished jobs. `failed` with
// retryable=true is recorded as the job's outcome (this centre does not
// retry). Thread-safety: one Centre per thread; Run() blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardbureau/core/status.h"

namespace cardbureau::server {

// `--cancel JOB_ID@N`: send `cancel` for JOB_ID once N jobs have been
// dispatched (0 = at once) to the bureau it was sent to (or any bureau).
struct CancelPlan {
  std::string job_id;
  int64_t after_dispatched = 0;
};
// Parses "JOB_ID@N"; INVALID_FIELD otherwise.
Result<CancelPlan> ParseCancelPlan(std::string_view text);

struct CentreOptions {
  std::string bind;  // e.g. tcp://*:5570
  std::filesystem::path jobs_file;
  std::filesystem::path photos_dir;
  std::filesystem::path reports_file;
  bool until_done = false;
  // With until_done: also wait for this many card_replaced reports.
  int64_t expect_replacements = 0;
  std::chrono::milliseconds redeliver_after{30000};
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds peer_timeout{10000};
  std::vector<CancelPlan> cancels;
  // CURVE: the centre's Z85 secret key file (0600) enables it; only these
  // bureau public keys (Z85) are admitted by the ZAP handler.
  std::filesystem::path curve_secret_file;
  std::vector<std::string> curve_allowed;
  bool show_progress = true;  // one status line per second on stderr
};

struct CentreSummary {
  int64_t jobs = 0;
  int64_t sends = 0;  // job messages sent, incl. redeliveries
  int64_t redeliveries = 0;
  int64_t accepted = 0;
  int64_t done = 0;  // jobs with a terminal report
  int64_t completed = 0, failed = 0, rejected = 0, cancelled = 0;
  int64_t replaced = 0;  // card_replaced reports (the old UID is blocked)
  // The card each job's child holds now: the completed card, or the one a
  // card_replaced named. Its old UIDs are blocked.
  std::map<std::string, std::string> current_uid;
  std::map<std::string, std::vector<std::string>> blocked_uids;
  int64_t repeated_reports = 0;  // report_ids seen before (acked, not stored)
  int64_t errors_received = 0;
  int64_t bureaus = 0;
};

class Centre {
 public:
  // Loads the jobs and the existing reports. INVALID_JSON (line number in the
  // message) for a bad jobs line, IO_ERROR for unreadable files,
  // KEY_FILE_INSECURE / INVALID_KEY for CURVE keys.
  static Result<std::unique_ptr<Centre>> Create(CentreOptions options);
  ~Centre();
  Centre(const Centre&) = delete;
  Centre& operator=(const Centre&) = delete;

  // Binds and serves until `stop`, or with until_done until every job has a
  // terminal report. IO_ERROR when reports cannot be written; PROTOCOL_ERROR
  // when the endpoint cannot be bound.
  Status Run(const std::atomic<bool>& stop);
  CentreSummary summary() const;

 private:
  Centre();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cardbureau::server
