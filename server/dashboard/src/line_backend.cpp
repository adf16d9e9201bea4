#include "cardbureau/dashboard/line_backend.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace cardbureau::dashboard {

namespace {

http::ReprintRequest ToApi(const server::ReprintRecord& r) {
  http::ReprintRequest out;
  out.reprint_id = r.reprint_id;
  out.job_id = r.job_id;
  out.reason = r.reason;
  out.requested_by = r.requested_by;
  out.requested_at_ms = r.requested_at_ms;
  out.status = r.status;
  out.decided_by = r.decided_by;
  out.decided_at_ms = r.decided_at_ms;
  out.new_job_id = r.new_job_id;
  return out;
}

}  // namespace

LineBackend::LineBackend(server::JobStore& store, line::Line* line, StartAttempt start_attempt,
                         const Clock& clock, std::chrono::milliseconds station_poll)
    : StoreBackend(store),
      line_(line),
      start_attempt_(std::move(start_attempt)),
      clock_(clock),
      poll_(station_poll) {
  if (line_) poller_ = std::thread([this] { PollStations(); });
}

LineBackend::~LineBackend() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

int64_t LineBackend::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

std::string LineBackend::StationState(const std::string& line_state) {
  return line_state == "out-of-rotation" ? "faulted" : line_state;
}

void LineBackend::OnJobEvent(const server::JobEvent& event) {
  const int64_t now = NowMs();
  std::string batch_id;
  if (auto rec = store().Find(event.job_id); rec.ok() && *rec && !(*rec)->school_code.empty()) {
    batch_id = BatchIdForSchool((*rec)->school_code);
  }
  {
    std::lock_guard lock(mu_);
    if (event.state == server::JobState::kReported ||
        event.state == server::JobState::kAcknowledged) {
      completed_at_ms_.push_back(now);
    }
    if ((event.state == server::JobState::kFailed || event.state == server::JobState::kRejected) &&
        !event.code.empty()) {
      job_failures_[event.code]++;
    }
    while (!completed_at_ms_.empty() && completed_at_ms_.front() < now - 3600 * 1000) {
      completed_at_ms_.pop_front();
    }
  }
  http::DashboardEvent e;
  e.kind = "job";
  e.id = event.job_id;
  e.state = std::string(server::ToString(event.state));
  e.batch_id = batch_id;
  e.code = event.code;
  e.at_ms = now;
  events().Publish(e);
  if (!batch_id.empty()) {
    http::DashboardEvent b = e;
    b.kind = "batch";
    b.id = batch_id;
    events().Publish(b);
  }
}

void LineBackend::PollStations() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    std::vector<http::DashboardEvent> changed;
    for (const auto& s : line_->Stations()) {
      const std::string view = s.state + "|" + s.current_job + "|" + std::to_string(s.produced) +
                               "|" + std::to_string(s.rejected_cards);
      std::lock_guard inner(mu_);
      auto& last = last_station_view_[s.name];
      if (last == view) continue;
      last = view;
      http::DashboardEvent e;
      e.kind = "station";
      e.id = s.name;
      e.state = StationState(s.state);
      e.code = s.faults.empty() ? "" : s.faults.back().code;
      e.at_ms = NowMs();
      changed.push_back(std::move(e));
    }
    for (const auto& e : changed) events().Publish(e);
    lock.lock();
    cv_.wait_for(lock, poll_, [this] { return stop_; });
  }
}

std::map<std::string, std::string> LineBackend::JobsAtStations() {
  std::map<std::string, std::string> out;
  if (!line_) return out;
  for (const auto& s : line_->Stations()) {
    if (!s.current_job.empty()) out[s.current_job] = s.name;
  }
  return out;
}

void LineBackend::FillStation(http::JobSummary& job,
                              const std::map<std::string, std::string>& at_station) {
  if (auto it = at_station.find(job.job_id); it != at_station.end()) {
    job.station = it->second;
    return;
  }
  std::ifstream in(store().CardsDir(job.job_id) / "production.json");
  if (!in) return;
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  if (auto st = j.find("station"); st != j.end() && st->is_string()) {
    job.station = st->get<std::string>();
  }
}

Result<http::JobSearchResult> LineBackend::SearchJobs(const http::JobSearch& query) {
  CB_ASSIGN_OR_RETURN(http::JobSearchResult r, StoreBackend::SearchJobs(query));
  const auto at = JobsAtStations();
  for (auto& j : r.jobs) FillStation(j, at);
  return r;
}

Result<http::JobDetail> LineBackend::Job(std::string_view job_id) {
  CB_ASSIGN_OR_RETURN(http::JobDetail d, StoreBackend::Job(job_id));
  FillStation(d.job, JobsAtStations());
  return d;
}

Result<std::vector<http::StationInfo>> LineBackend::Stations() {
  std::vector<http::StationInfo> out;
  if (!line_) return out;
  for (const auto& s : line_->Stations()) {
    http::StationInfo info;
    info.station_id = s.name;
    info.state = StationState(s.state);
    info.current_job = s.current_job;
    info.produced = s.produced;
    info.failed = s.rejected_cards;
    for (auto it = s.faults.rbegin(); it != s.faults.rend(); ++it) {
      info.last_faults.push_back(http::StationFault{it->at_ms, it->code, it->message, it->job_id});
    }
    out.push_back(std::move(info));
  }
  return out;
}

Status LineBackend::SetStationPaused(std::string_view station_id, bool paused,
                                     std::string_view /*actor: the API's audit trail*/) {
  if (!line_) return Status(Code::kNotFound, "no such station (no production line)");
  const std::string id(station_id);
  return paused ? line_->PauseStation(id) : line_->ResumeStation(id);
}

void LineBackend::PublishReprint(const http::ReprintRequest& r) {
  http::DashboardEvent e;
  e.kind = "reprint";
  e.id = r.reprint_id;
  e.state = r.status;
  e.at_ms = NowMs();
  events().Publish(e);
}

Result<http::ReprintRequest> LineBackend::Started(Result<server::ReprintRecord> r) {
  if (!r.ok()) return r.status();
  http::ReprintRequest out = ToApi(*r);
  // The old card is voided (same transaction as the attempt): its batch's
  // reconciliation and manifest say so now, not when the attempt finishes.
  if (!out.new_job_id.empty() && line_) {
    if (auto old = store().Find(out.job_id); old.ok() && *old && !(*old)->school_code.empty()) {
      line_->OutcomeChanged(out.job_id, (*old)->school_code, /*manifest=*/true);
    }
  }
  // Durable first (the attempt row exists), then production: a crash in
  // between leaves a `validated` attempt that the next run starts.
  if (!out.new_job_id.empty() && start_attempt_) start_attempt_(out.new_job_id);
  PublishReprint(out);
  if (!out.new_job_id.empty()) {
    OnJobEvent(server::JobEvent{out.new_job_id, server::JobState::kValidated, ""});
  }
  return out;
}

Result<http::ReprintRequest> LineBackend::RequestReprint(std::string_view job_id,
                                                         std::string_view reason,
                                                         std::string_view actor, bool approved) {
  return Started(store().RequestReprint(job_id, reason, actor, approved));
}

Result<http::ReprintRequest> LineBackend::DecideReprint(std::string_view reprint_id, bool approve,
                                                        std::string_view actor) {
  return Started(store().DecideReprint(reprint_id, approve, actor));
}

Result<std::vector<http::ReprintRequest>> LineBackend::Reprints(std::string_view status) {
  CB_ASSIGN_OR_RETURN(auto rows, store().Reprints(status));
  std::vector<http::ReprintRequest> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(ToApi(r));
  return out;
}

Result<http::ReprintRequest> LineBackend::Reprint(std::string_view reprint_id) {
  CB_ASSIGN_OR_RETURN(auto r, store().FindReprint(reprint_id));
  return ToApi(r);
}

Result<http::MetricsSnapshot> LineBackend::Metrics() {
  CB_ASSIGN_OR_RETURN(http::MetricsSnapshot m, StoreBackend::Metrics());
  const int64_t since = NowMs() - 3600 * 1000;
  {
    std::lock_guard lock(mu_);
    m.cards_produced_last_hour = std::count_if(completed_at_ms_.begin(), completed_at_ms_.end(),
                                               [&](int64_t t) { return t >= since; });
    for (const auto& [code, n] : job_failures_) m.failures_by_code[code] += n;
  }
  if (line_) {
    for (const auto& [code, n] : line_->Stats().failures_by_code) m.failures_by_code[code] += n;
    for (const auto& s : line_->Stations()) m.station_states[s.name] = StationState(s.state);
  }
  return m;
}

}  // namespace cardbureau::dashboard
