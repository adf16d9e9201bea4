// StoreBackend: the DashboardBackend parts that the durable job store
// (server::JobStore) can answer — batches, job search, job detail and
// timeline, card previews, jobs by state and queue depth.
//
// The store has no batch table, so a batch is "all jobs of one school":
// batch_id = "school-<school_code>" (the line's delivery grouping); jobs
// refused before their school was known belong to no batch. The
// failure code of a failed/rejected job is read from its terminal report.
//
// Stations, reprints and live events belong to the production line, which
// the store does not know: here Stations() is empty, SetStationPaused is
// NOT_FOUND, RequestReprint/DecideReprint are FAILED_PRECONDITION, and
// Subscribe() hands out subscriptions to events() — whoever drives the line
// publishes there. The line's owner subclasses StoreBackend and overrides
// those methods (and may extend Metrics()).
//
// Thread-safety: as JobStore (every method is thread-safe). The store must
// outlive the backend.
#pragma once

#include <atomic>

#include "cardbureau/core/clock.h"
#include "cardbureau/http/backend.h"
#include "cardbureau/http/sla.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::http {

class StoreBackend : public DashboardBackend {
 public:
  explicit StoreBackend(server::JobStore& store, const Clock& clock = SystemClock::Instance(),
                        SlaPolicy sla = {});

  // Publish job/station/batch/reprint events here (e.g. on every Advance).
  EventHub& events() { return hub_; }

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
  // From JobStore::StockRemainingByType, with the low level set here.
  Result<StockSummary> Stock() override;
  void SetStockLowLevel(int64_t level) { stock_low_level_ = level; }
  std::unique_ptr<Subscription> Subscribe(EventCallback callback) override;
  // The store's outbox and the centre's answers (store_backend_reports.cpp).
  Result<std::vector<PendingReport>> PendingReports() override;
  // KPIs, SLA and faults: from the store (history rows, job rows,
  // station_faults), so they survive a restart.
  Result<KpiSnapshot> Kpis() override;
  Result<SlaView> Sla() override;
  Result<std::vector<FaultInfo>> Faults(bool open_only) override;
  Result<FaultInfo> AcknowledgeFault(int64_t fault_id, std::string_view actor) override;

  // The SLA policy (LoadSlaPolicy(DATA/sla.json)); call before serving.
  void SetSlaPolicy(SlaPolicy sla) { sla_ = std::move(sla); }

  // "school-<code>".
  static std::string BatchIdForSchool(std::string_view school_code);

 protected:
  server::JobStore& store() { return store_; }
  const Clock& clock() const { return clock_; }
  static FaultInfo ToFault(const server::StationFaultRow& row);
  // The batch's school code from "school-<code>", "" when it is not one.
  static std::string SchoolOf(std::string_view batch_id);

 private:
  JobSummary Summarise(const server::JobRecord& r);
  Result<BatchSummary> FromCounts(const server::BatchCounts& counts);

  server::JobStore& store_;
  const Clock& clock_;
  SlaPolicy sla_;
  EventHub hub_;
  std::atomic<int64_t> stock_low_level_{100};
};

}  // namespace cardbureau::http
