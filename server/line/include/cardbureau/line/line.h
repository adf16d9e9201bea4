// The production line: the bureau's stations (one card printer with its
// contactless encoder each) working in parallel behind server::Production.
//
// Per job: render everything but the QR on a render thread (so a station
// never waits on rendering); then on a station: feed a blank card, read its
// UID, encode and verify the chip, compose the QR from the UID, check the
// face's QR against the chip, print both faces, read the card back for QA,
// eject to the output hopper and report `completed` — or eject to the reject
// hopper on any failure and take a fresh card (up to max_tries cards per
// job), then report `failed` with the code.
//
// Durable states (server/production.h contract): `rendered` after the
// render step; `encoding` before the first chip touch; the job stays in
// `encoding` until a card carrying it has been printed — so a print jam on
// an encoded card is answered with a fresh card (the jammed card is voided)
// — then `encoded`, `printed`, `verified`. A job handed over after a restart
// in `encoded`/`printed`/`verified` is never encoded again.
//
// A station whose cards fail `station_failure_limit` times in a row for
// station reasons (printer jam, ribbon, reader gone, no card) is taken out
// of rotation; its work moves to the others.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/encoder/keys.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/photo.h"
#include "cardbureau/line/card_source.h"
#include "cardbureau/printers/printer.h"
#include "cardbureau/server/production.h"

namespace cardbureau::line {

struct StationSetup {
  std::string name;
  std::unique_ptr<printers::Printer> printer;
  std::unique_ptr<CardSource> source;
  std::set<CardType> card_types = {CardType::kMifareClassic1K, CardType::kMifareClassic4K};
  // Keeps alive what printer/source refer to (e.g. the loopback slot).
  std::shared_ptr<void> keepalive;
};

struct LineOptions {
  int render_threads = 1;
  int max_tries = 3;              // cards per job before `failed`
  int station_failure_limit = 3;  // consecutive station failures
  std::chrono::milliseconds card_wait{5000};
  std::string template_name = "bjt-student";
  std::string profile = "evolis-300";
  layout::PhotoConfig photo;
  encoder::KeySet keys;
  // Batch reconciliations and manifests go to <batches_dir>/<batch>/.
  std::filesystem::path batches_dir;
  // How each produced card's faces, masks and panel buffers are written to
  // its folder (by default the large ones with O_DIRECT).
  layout::OutputOptions outputs;
  const Clock* clock = &SystemClock::Instance();
  // Every card at the encoder must be an unused card of an imported stock
  // lot of the job's card type (line.json "stock": {"required": ...}). When
  // false, a store without any lot lets every card through (as before lots).
  bool stock_required = true;
};

struct StationFaultRecord {
  int64_t at_ms = 0;  // Unix ms (the line's clock)
  std::string code;   // catalogue code
  std::string message;
  std::string job_id;  // the job at the station then, "" if none
};

struct StationSnapshot {
  std::string name;
  std::string printer_kind;
  std::string reader;
  // idle, busy, paused (by an operator), keystore (waiting for the pkcs11
  // keystore's token to come back; resumes by itself), out-of-rotation.
  std::string state;
  std::string current_job;
  int produced = 0;
  int rejected_cards = 0;
  int consecutive_failures = 0;
  std::vector<std::string> last_faults;    // "CODE: message", newest last, at most 5
  std::vector<StationFaultRecord> faults;  // the same, structured, newest last, at most 10
  // Ribbon and card stock as the printer reports them, read by the station
  // thread after each card (the printer is not thread-safe).
  printers::PrinterSupplies supplies;
};

struct BatchSnapshot {
  std::string batch_id;  // school code
  std::string school_name;
  int jobs = 0;
  int produced = 0;
  int failed = 0;
  int cancelled = 0;
  int cards_used = 0;
  int cards_rejected = 0;
  int reprinted = 0;  // jobs that needed more than one card
};

struct LineStats {
  int64_t jobs_started = 0;
  int64_t produced = 0;
  int64_t failed = 0;
  int64_t cards_rejected = 0;
  std::map<std::string, int64_t> failures_by_code;  // card-level faults
  // The last failure to write the batch files (reconciliation, manifest),
  // "" when they were written; counted in failures_by_code too.
  std::string batch_report_error;
};

class Line final : public server::Production {
 public:
  // Loads the template, keys (sign key), fonts and one renderer per render
  // thread. Errors: INVALID_TEMPLATE, INVALID_CONFIG, INVALID_KEY, IO_ERROR.
  static Result<std::unique_ptr<Line>> Create(server::ProductionSink& sink, LineOptions options,
                                              std::vector<StationSetup> stations);
  ~Line() override;

  void Start(server::JobContext job) override;
  void Stop() override;

  // Thread-safe views and operator actions.
  std::vector<StationSnapshot> Stations() const;
  std::vector<BatchSnapshot> Batches() const;
  LineStats Stats() const;
  size_t QueueDepth() const;
  // Where the batch files go (<batches_dir>/<school>/reconciliation.json,
  // manifest.pdf); empty when none are written.
  std::filesystem::path batches_dir() const;
  Status PauseStation(const std::string& name);
  Status ResumeStation(const std::string& name);  // also puts it back into rotation

  // Writes <batches_dir>/<batch>/reconciliation.json and manifest.pdf for
  // every batch seen so far. Called by Stop(); safe to call any time.
  Status WriteBatchReports();

  // Retention purge (server::Production): each station's printer removes
  // the purged jobs' cards from its hoppers and spool folders, the batch
  // rows forget them, their photos leave the line's photo-check cache, and
  // each affected batch's reconciliation and manifest are written again
  // from the store, where a purged row has no name any more.
  Status Purge(const std::vector<server::JobStore::PurgedJob>& jobs) override;

  // server::Production: a job's outcome changed outside the line (a void by
  // an approved reprint, a cancel, a refusal): the batch's reconciliation
  // (and manifest, when `manifest` or when one exists) are rewritten from
  // the store now. A batch this run has not seen is rewritten when its
  // files exist (written by an earlier run). A failure is a fault row in
  // the job's history and LineStats::batch_report_error.
  void OutcomeChanged(const std::string& job_id, const std::string& school_code,
                      bool manifest) override;

 private:
  struct Impl;
  explicit Line(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cardbureau::line
