// FakeBackend: an in-memory DashboardBackend with a simulated production
// line, for tests, the fuzz target and `cardbureau dashboard-demo`.
//
// The simulation is driven explicitly: Step() advances every running
// station by one state (take a queued job -> encoding -> encoded -> printed
// -> verified -> reported). Nothing happens between Step() calls, so tests
// are deterministic. Faults can be injected per station.
//
// Thread-safety: every method is thread-safe. Events are published after the
// internal lock is released. The clock must outlive the backend.
#pragma once

#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/clock.h"
#include "cardbureau/http/backend.h"

namespace cardbureau::http {

class FakeBackend final : public DashboardBackend {
 public:
  // `preview_dir`: where the fake front/back PNGs are written (created if
  // missing); empty = no previews (CardPreview answers NOT_FOUND).
  explicit FakeBackend(const Clock& clock, std::filesystem::path preview_dir = {});
  ~FakeBackend() override;

  // ---- set-up ----
  void AddStation(std::string station_id);
  // Adds a batch of `jobs` queued jobs ("validated") for one school; job ids
  // are "<batch_id>-NNN". Returns the job ids.
  std::vector<std::string> AddBatch(std::string batch_id, std::string school_code,
                                    std::string school_name, int jobs);
  // Adds a job refused at intake (state "rejected", code set).
  void AddRejectedJob(std::string batch_id, std::string job_id, std::string code);
  // The next card the station handles fails with `code` (reject hopper; the
  // job is re-queued once, then fails for good).
  void InjectFault(std::string_view station_id, std::string code);
  // Takes a station offline (as if its printer disappeared).
  void SetStationOffline(std::string_view station_id, bool offline);

  // ---- simulation ----
  // Advances every non-paused station by one state. Returns false when
  // nothing moved (no queued work and every station idle).
  bool Step();
  // Calls Step() until it returns false or `max_steps` is reached.
  int RunUntilIdle(int max_steps = 10000);

  // ---- DashboardBackend ----
  Result<std::vector<BatchSummary>> Batches() override;
  Result<BatchSummary> Batch(std::string_view batch_id) override;
  Result<JobSearchResult> SearchJobs(const JobSearch& query) override;
  Result<JobDetail> Job(std::string_view job_id) override;
  Result<std::filesystem::path> CardPreview(std::string_view job_id, PreviewSide side) override;
  Result<std::vector<StationInfo>> Stations() override;
  Status SetStationPaused(std::string_view station_id, bool paused,
                          std::string_view actor) override;
  Result<ReprintRequest> RequestReprint(std::string_view job_id, std::string_view reason,
                                        std::string_view actor, bool approved) override;
  Result<ReprintRequest> DecideReprint(std::string_view reprint_id, bool approve,
                                       std::string_view actor) override;
  Result<std::vector<ReprintRequest>> Reprints(std::string_view status) override;
  Result<ReprintRequest> Reprint(std::string_view reprint_id) override;
  Result<MetricsSnapshot> Metrics() override;
  std::unique_ptr<Subscription> Subscribe(EventCallback callback) override;

 private:
  struct FakeJob {
    JobDetail detail;
    int tries = 0;
  };
  struct FakeStation {
    StationInfo info;
    bool paused = false;
    bool offline = false;
    std::vector<std::string> pending_faults;
  };
  struct FakeBatch {
    BatchSummary summary;  // counts are recomputed on read
    std::vector<std::string> job_ids;
  };

  int64_t NowMs() const;
  FakeJob* FindJob(std::string_view job_id);
  FakeStation* FindStation(std::string_view station_id);
  FakeBatch* FindBatch(std::string_view batch_id);
  BatchSummary Summarise(const FakeBatch& b) const;
  void SetState(FakeJob& job, std::string state, std::string station, std::string code,
                std::string note, std::vector<DashboardEvent>* events);
  void RefreshStationState(FakeStation& s);
  Result<ReprintRequest> ApproveLocked(ReprintRequest& r, std::string_view actor,
                                       std::vector<DashboardEvent>* events);
  void PublishAll(const std::vector<DashboardEvent>& events);

  const Clock& clock_;
  std::filesystem::path preview_dir_;
  bool previews_ok_ = false;
  EventHub hub_;
  mutable std::mutex mu_;
  std::vector<FakeBatch> batches_;
  std::deque<FakeJob> jobs_;  // creation order; deque keeps FakeJob* valid on push_back
  std::vector<FakeStation> stations_;
  std::vector<ReprintRequest> reprints_;
  std::map<std::string, int64_t> failures_by_code_;
  std::vector<int64_t> completed_at_ms_;
  int next_reprint_ = 1;
};

// Writes a w x h RGB PNG of a flat colour with a darker band (the fake
// card preview). Pure apart from the file write; IO_ERROR on failure.
Status WriteFlatPng(const std::filesystem::path& path, int width, int height, uint32_t rgb);

}  // namespace cardbureau::http
