// LineBackend: the production DashboardBackend of `cardbureau serve --http`.
//
// Job and batch queries come from the durable store (http::StoreBackend);
// stations, pause/resume and faults from the production line (line::Line);
// reprints are durable in the store (JobStore::RequestReprint/DecideReprint)
// and an approved one is handed to production through `start_attempt`
// (Bureau::StartAttempt in serve). Live events: every durable job state
// change the Bureau reports (OnJobEvent) becomes a "job" and a "batch"
// event; station changes are polled from the line every `station_poll`;
// reprint requests and decisions are "reprint" events.
//
// Thread-safety: every method is thread-safe. The store and the line must
// outlive the backend; the line may be null (serve --production none/fake):
// then there are no stations, and approved reprints wait in the store.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "cardbureau/core/clock.h"
#include "cardbureau/http/store_backend.h"
#include "cardbureau/line/line.h"
#include "cardbureau/server/bureau.h"

namespace cardbureau::dashboard {

class LineBackend final : public http::StoreBackend {
 public:
  using StartAttempt = std::function<void(const std::string& job_id)>;

  LineBackend(server::JobStore& store, line::Line* line, StartAttempt start_attempt,
              const Clock& clock,
              std::chrono::milliseconds station_poll = std::chrono::milliseconds(250));
  ~LineBackend() override;  // stops the station poller
  LineBackend(const LineBackend&) = delete;
  LineBackend& operator=(const LineBackend&) = delete;

  // Feed from Bureau::SetObserver.
  void OnJobEvent(const server::JobEvent& event);
  // Where the centre link badge comes from (Bureau::link); call before
  // serving. Without one, Link() answers state "none".
  using LinkSource = std::function<server::CentreLink()>;
  void SetLinkSource(LinkSource source) { link_source_ = std::move(source); }

  // The store's answers plus the station: the one holding the job now, else
  // the one that produced its card (DATA/cards/<job>/production.json).
  Result<http::JobSearchResult> SearchJobs(const http::JobSearch& query) override;
  Result<http::JobDetail> Job(std::string_view job_id) override;
  Result<std::vector<http::StationInfo>> Stations() override;
  Status SetStationPaused(std::string_view station_id, bool paused,
                          std::string_view actor) override;
  Result<http::ReprintRequest> RequestReprint(std::string_view job_id, std::string_view reason,
                                              std::string_view actor, bool approved) override;
  Result<http::ReprintRequest> DecideReprint(std::string_view reprint_id, bool approve,
                                             std::string_view actor) override;
  Result<std::vector<http::ReprintRequest>> Reprints(std::string_view status) override;
  Result<http::ReprintRequest> Reprint(std::string_view reprint_id) override;
  Result<http::MetricsSnapshot> Metrics() override;
  Result<http::LinkStatus> Link() override;
  Result<std::vector<http::BatchSummary>> Batches() override;
  Result<http::BatchSummary> Batch(std::string_view batch_id) override;
  Result<std::filesystem::path> BatchFile(std::string_view batch_id, BatchFileKind kind) override;

  // "out-of-rotation" -> "faulted"; other line states (idle, busy, paused,
  // keystore) pass through.
  static std::string StationState(const std::string& line_state);

 private:
  int64_t NowMs() const;
  void FillStation(http::JobSummary& job, const std::map<std::string, std::string>& at_station);
  std::map<std::string, std::string> JobsAtStations();
  void PollStations();
  void FillBatchFiles(http::BatchSummary& b);
  void PublishReprint(const http::ReprintRequest& r);
  Result<http::ReprintRequest> Started(Result<server::ReprintRecord> r);

  line::Line* line_;
  StartAttempt start_attempt_;
  const Clock& clock_;
  std::chrono::milliseconds poll_;

  std::mutex mu_;
  LinkSource link_source_;
  std::map<std::string, std::string> last_station_view_;  // id -> "state|job|n|m"
  bool stop_ = false;
  std::condition_variable cv_;
  std::thread poller_;
};

}  // namespace cardbureau::dashboard
