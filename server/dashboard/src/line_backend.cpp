#include "cardbureau/dashboard/line_backend.h"

#include <algorithm>
#include <cctype>
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
    : StoreBackend(store, clock),
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
                               "|" + std::to_string(s.rejected_cards) + "|" +
                               std::to_string(s.faults.empty() ? 0 : s.faults.back().at_ms) + "|" +
                               std::to_string(s.faults.size());
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
    info.supplies_known = s.supplies.known;
    info.ribbon_left = s.supplies.ribbon_left;
    info.ribbon_capacity = s.supplies.ribbon_capacity;
    info.cards_left = s.supplies.cards_left;
    info.cards_capacity = s.supplies.cards_capacity;
    info.ribbon_low = s.supplies.ribbon_low();
    info.cards_low = s.supplies.cards_low();
    // The faults from the store (they outlive a restart and stay until
    // acknowledged); the tile shows the newest one only while it is open.
    CB_ASSIGN_OR_RETURN(auto faults, store().StationFaults(s.name, /*open_only=*/false, 10));
    for (const auto& f : faults) {
      info.last_faults.push_back(http::StationFault{f.at_ms, f.code, f.message, f.job_id});
    }
    CB_ASSIGN_OR_RETURN(auto open, store().StationFaults(s.name, /*open_only=*/true, 1));
    if (!open.empty()) info.open_fault = ToFault(open.front());
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
  // between leaves a `validated` attempt that the next run starts. The
  // events go out before production starts, so `validated` is never
  // published after the attempt's first production state.
  PublishReprint(out);
  if (!out.new_job_id.empty()) {
    OnJobEvent(server::JobEvent{out.new_job_id, server::JobState::kValidated, ""});
    if (start_attempt_) start_attempt_(out.new_job_id);
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
  // Everything counted comes from the store (StoreBackend::Metrics), so it
  // survives a restart; the line adds only its live station states.
  CB_ASSIGN_OR_RETURN(http::MetricsSnapshot m, StoreBackend::Metrics());
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto figures, store().Figures(now - 3600 * 1000, now, now));
  m.cards_produced_last_hour = figures.produced_since_hour;
  if (line_) {
    for (const auto& s : line_->Stations()) m.station_states[s.name] = StationState(s.state);
  }
  if (link_source_) {
    CB_ASSIGN_OR_RETURN(m.link, Link());
  }
  return m;
}

void LineBackend::FillBatchFiles(http::BatchSummary& b) {
  b.has_manifest = BatchFile(b.batch_id, BatchFileKind::kManifest).ok();
  b.has_reconciliation = BatchFile(b.batch_id, BatchFileKind::kReconciliation).ok();
}

Result<std::vector<http::BatchSummary>> LineBackend::Batches() {
  CB_ASSIGN_OR_RETURN(auto out, StoreBackend::Batches());
  for (auto& b : out) FillBatchFiles(b);
  return out;
}

Result<http::BatchSummary> LineBackend::Batch(std::string_view batch_id) {
  CB_ASSIGN_OR_RETURN(auto b, StoreBackend::Batch(batch_id));
  FillBatchFiles(b);
  return b;
}

Result<http::LinkStatus> LineBackend::Link() {
  http::LinkStatus out;
  if (!link_source_) return out;
  const server::CentreLink l = link_source_();
  out.state = l.connected ? "connected" : "reconnecting";
  out.since_ms = l.since_ms;
  out.last_heartbeat_ms = l.last_heard_ms;
  out.reconnects = l.reconnects;
  out.centre = l.centre;
  return out;
}

Result<std::filesystem::path> LineBackend::BatchFile(std::string_view batch_id,
                                                     BatchFileKind kind) {
  const std::string school = SchoolOf(batch_id);
  const bool plain = std::all_of(school.begin(), school.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (!line_ || school.empty() || !plain || line_->batches_dir().empty()) {
    return Status(Code::kNotFound, "no batch files for this batch");
  }
  const auto path = line_->batches_dir() / school /
                    (kind == BatchFileKind::kManifest ? "manifest.pdf" : "reconciliation.json");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status(Code::kNotFound, "the line has not written this batch file yet");
  }
  return path;
}

}  // namespace cardbureau::dashboard
