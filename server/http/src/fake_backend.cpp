#include "cardbureau/http/fake_backend.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>

namespace cardbureau::http {

namespace {

constexpr size_t kMaxFaults = 10;

// Production order of a card at a station.
const std::vector<std::string>& StationStates() {
  static const std::vector<std::string> s = {"encoding", "encoded", "printed", "verified",
                                             "reported"};
  return s;
}

bool IsQueued(const std::string& s) {
  return s == "received" || s == "validated" || s == "rendered";
}
bool IsProduced(const std::string& s) { return s == "reported" || s == "acknowledged"; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---- minimal PNG writer (stored deflate blocks) ----
uint32_t Crc32(const uint8_t* data, size_t n, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void PutBe32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void PutChunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  PutBe32(out, static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> typed(type, type + 4);
  typed.insert(typed.end(), data.begin(), data.end());
  out.insert(out.end(), typed.begin(), typed.end());
  PutBe32(out, Crc32(typed.data(), typed.size()));
}

}  // namespace

Status WriteFlatPng(const std::filesystem::path& path, int width, int height, uint32_t rgb) {
  if (width <= 0 || height <= 0 || width > 4096 || height > 4096) {
    return Status(Code::kBadRequest, "PNG size out of range");
  }
  std::vector<uint8_t> raw;
  const auto w = static_cast<size_t>(width);
  raw.reserve(static_cast<size_t>(height) * (1 + 3 * w));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter: none
    const bool band = y < height / 5;
    for (int x = 0; x < width; ++x) {
      uint32_t c = band ? (rgb >> 1) & 0x7F7F7F : rgb;
      raw.push_back(static_cast<uint8_t>(c >> 16));
      raw.push_back(static_cast<uint8_t>(c >> 8));
      raw.push_back(static_cast<uint8_t>(c));
    }
  }
  std::vector<uint8_t> z = {0x78, 0x01};
  uint32_t a = 1, b = 0;
  for (uint8_t v : raw) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  for (size_t off = 0; off < raw.size();) {
    const size_t n = std::min<size_t>(65535, raw.size() - off);
    const bool last = off + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<uint8_t>(n));
    z.push_back(static_cast<uint8_t>(n >> 8));
    z.push_back(static_cast<uint8_t>(~n));
    z.push_back(static_cast<uint8_t>(~n >> 8));
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(off),
             raw.begin() + static_cast<std::ptrdiff_t>(off + n));
    off += n;
  }
  PutBe32(z, (b << 16) | a);

  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  PutBe32(ihdr, static_cast<uint32_t>(width));
  PutBe32(ihdr, static_cast<uint32_t>(height));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB
  PutChunk(png, "IHDR", ihdr);
  PutChunk(png, "IDAT", z);
  PutChunk(png, "IEND", {});

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  out.close();
  if (!out) return Status(Code::kIoError, "cannot write " + path.string());
  return Status::Ok();
}

FakeBackend::FakeBackend(const Clock& clock, std::filesystem::path preview_dir)
    : clock_(clock), preview_dir_(std::move(preview_dir)) {
  if (!preview_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(preview_dir_, ec);
    previews_ok_ = !ec && WriteFlatPng(preview_dir_ / "front.png", 256, 162, 0x3A7BD5).ok() &&
                   WriteFlatPng(preview_dir_ / "back.png", 256, 162, 0xE0E4EA).ok();
  }
}

FakeBackend::~FakeBackend() = default;

int64_t FakeBackend::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

void FakeBackend::AddStation(std::string station_id) {
  std::lock_guard lock(mu_);
  FakeStation s;
  s.info.station_id = std::move(station_id);
  s.info.state = "idle";
  stations_.push_back(std::move(s));
}

std::vector<std::string> FakeBackend::AddBatch(std::string batch_id, std::string school_code,
                                               std::string school_name, int jobs) {
  std::vector<std::string> ids;
  std::vector<DashboardEvent> events;
  {
    std::lock_guard lock(mu_);
    FakeBatch b;
    b.summary.batch_id = batch_id;
    b.summary.school_code = school_code;
    b.summary.school_name = std::move(school_name);
    b.summary.created_at_ms = NowMs();
    for (int i = 1; i <= jobs; ++i) {
      char suffix[16];
      std::snprintf(suffix, sizeof suffix, "-%03d", i);
      FakeJob j;
      j.detail.job.job_id = batch_id + suffix;
      j.detail.job.batch_id = batch_id;
      j.detail.job.school_code = school_code;
      j.detail.job.card_no = "10007512" + std::to_string(10000000 + jobs_.size());
      j.detail.job.student_name = "测试学生" + std::to_string(i);
      SetState(j, "received", "", "", "", nullptr);
      SetState(j, "validated", "", "", "", nullptr);
      ids.push_back(j.detail.job.job_id);
      b.job_ids.push_back(j.detail.job.job_id);
      jobs_.push_back(std::move(j));
    }
    events.push_back({"batch", batch_id, "open", batch_id, "", NowMs()});
    batches_.push_back(std::move(b));
  }
  PublishAll(events);
  return ids;
}

void FakeBackend::AddRejectedJob(std::string batch_id, std::string job_id, std::string code) {
  std::lock_guard lock(mu_);
  FakeBatch* b = FindBatch(batch_id);
  if (b == nullptr) return;
  FakeJob j;
  j.detail.job.job_id = job_id;
  j.detail.job.batch_id = batch_id;
  j.detail.job.school_code = b->summary.school_code;
  SetState(j, "received", "", "", "", nullptr);
  SetState(j, "rejected", "", code, "refused at intake", nullptr);
  j.detail.job.last_code = code;
  failures_by_code_[code]++;
  b->job_ids.push_back(job_id);
  jobs_.push_back(std::move(j));
}

void FakeBackend::InjectFault(std::string_view station_id, std::string code) {
  std::lock_guard lock(mu_);
  if (FakeStation* s = FindStation(station_id)) s->pending_faults.push_back(std::move(code));
}

void FakeBackend::SetStationOffline(std::string_view station_id, bool offline) {
  std::vector<DashboardEvent> events;
  {
    std::lock_guard lock(mu_);
    FakeStation* s = FindStation(station_id);
    if (s == nullptr) return;
    s->offline = offline;
    RefreshStationState(*s);
    events.push_back({"station", s->info.station_id, s->info.state, "", "", NowMs()});
  }
  PublishAll(events);
}

FakeBackend::FakeJob* FakeBackend::FindJob(std::string_view job_id) {
  for (auto& j : jobs_) {
    if (j.detail.job.job_id == job_id) return &j;
  }
  return nullptr;
}

FakeBackend::FakeStation* FakeBackend::FindStation(std::string_view station_id) {
  for (auto& s : stations_) {
    if (s.info.station_id == station_id) return &s;
  }
  return nullptr;
}

FakeBackend::FakeBatch* FakeBackend::FindBatch(std::string_view batch_id) {
  for (auto& b : batches_) {
    if (b.summary.batch_id == batch_id) return &b;
  }
  return nullptr;
}

void FakeBackend::SetState(FakeJob& job, std::string state, std::string station, std::string code,
                           std::string note, std::vector<DashboardEvent>* events) {
  const int64_t now = NowMs();
  job.detail.job.state = state;
  job.detail.job.updated_at_ms = now;
  if (!station.empty()) job.detail.job.station = station;
  if (!code.empty()) job.detail.job.last_code = code;
  TimelineEntry t;
  t.at_ms = now;
  t.state = state;
  t.station = std::move(station);
  t.code = code;
  t.note = std::move(note);
  job.detail.timeline.push_back(std::move(t));
  const std::string& s = job.detail.job.state;
  const bool rendered = !IsQueued(s) || s == "rendered";
  job.detail.has_front_preview = previews_ok_ && rendered && s != "rejected";
  job.detail.has_back_preview = job.detail.has_front_preview;
  if (events != nullptr) {
    events->push_back({"job", job.detail.job.job_id, s, job.detail.job.batch_id, code, now});
  }
}

void FakeBackend::RefreshStationState(FakeStation& s) {
  if (s.offline) {
    s.info.state = "offline";
  } else if (!s.info.current_job.empty()) {
    s.info.state = "busy";
  } else if (s.paused) {
    s.info.state = "paused";
  } else {
    s.info.state = "idle";
  }
}

bool FakeBackend::Step() {
  bool moved = false;
  std::vector<DashboardEvent> events;
  {
    std::lock_guard lock(mu_);
    for (auto& st : stations_) {
      const std::string before = st.info.state;
      if (st.offline) continue;
      if (st.info.current_job.empty()) {
        if (st.paused) continue;
        auto it = std::find_if(jobs_.begin(), jobs_.end(),
                               [](const FakeJob& j) { return IsQueued(j.detail.job.state); });
        if (it == jobs_.end()) continue;
        st.info.current_job = it->detail.job.job_id;
        it->tries++;
        SetState(*it, "encoding", st.info.station_id, "", "", &events);
        moved = true;
      } else {
        FakeJob* j = FindJob(st.info.current_job);
        if (j == nullptr) {
          st.info.current_job.clear();
          continue;
        }
        moved = true;
        if (!st.pending_faults.empty()) {
          std::string code = st.pending_faults.front();
          st.pending_faults.erase(st.pending_faults.begin());
          st.info.failed++;
          failures_by_code_[code]++;
          st.info.last_faults.insert(st.info.last_faults.begin(),
                                     {NowMs(), code, "injected fault", j->detail.job.job_id});
          if (st.info.last_faults.size() > kMaxFaults) st.info.last_faults.resize(kMaxFaults);
          if (j->tries < 2) {
            SetState(*j, "validated", st.info.station_id, code, "card to reject hopper; retry",
                     &events);
          } else {
            SetState(*j, "failed", st.info.station_id, code, "too many tries", &events);
          }
          st.info.current_job.clear();
        } else {
          const auto& order = StationStates();
          auto pos = std::find(order.begin(), order.end(), j->detail.job.state);
          const std::string next =
              (pos == order.end() || pos + 1 == order.end()) ? "reported" : *(pos + 1);
          SetState(*j, next, st.info.station_id, "", "", &events);
          if (next == "reported") {
            st.info.produced++;
            completed_at_ms_.push_back(NowMs());
            st.info.current_job.clear();
          }
        }
      }
      RefreshStationState(st);
      if (st.info.state != before) {
        events.push_back({"station", st.info.station_id, st.info.state, "", "", NowMs()});
      }
    }
  }
  PublishAll(events);
  return moved;
}

int FakeBackend::RunUntilIdle(int max_steps) {
  int n = 0;
  while (n < max_steps && Step()) ++n;
  return n;
}

BatchSummary FakeBackend::Summarise(const FakeBatch& b) const {
  BatchSummary s = b.summary;
  s.total = s.queued = s.in_progress = s.produced = s.failed = s.rejected = s.reprinted = 0;
  for (const auto& id : b.job_ids) {
    auto it = std::find_if(jobs_.begin(), jobs_.end(),
                           [&](const FakeJob& j) { return j.detail.job.job_id == id; });
    if (it == jobs_.end()) continue;
    const std::string& st = it->detail.job.state;
    s.total++;
    if (!it->detail.job.reprint_of.empty()) s.reprinted++;
    if (st == "rejected") {
      s.rejected++;
    } else if (st == "failed" || st == "cancelled") {
      s.failed++;
    } else if (IsProduced(st)) {
      s.produced++;
    } else if (IsQueued(st)) {
      s.queued++;
    } else {
      s.in_progress++;
    }
  }
  return s;
}

Result<std::vector<BatchSummary>> FakeBackend::Batches() {
  std::lock_guard lock(mu_);
  std::vector<BatchSummary> out;
  for (auto it = batches_.rbegin(); it != batches_.rend(); ++it) out.push_back(Summarise(*it));
  return out;
}

Result<BatchSummary> FakeBackend::Batch(std::string_view batch_id) {
  std::lock_guard lock(mu_);
  FakeBatch* b = FindBatch(batch_id);
  if (b == nullptr) return Status(Code::kNotFound, "no such batch");
  return Summarise(*b);
}

Result<JobSearchResult> FakeBackend::SearchJobs(const JobSearch& q) {
  std::lock_guard lock(mu_);
  JobSearchResult r;
  const std::string text = Lower(q.text);
  int skipped = 0;
  for (const auto& fj : jobs_) {
    const JobSummary& j = fj.detail.job;
    if (!q.state.empty() && j.state != q.state) continue;
    if (!q.school_code.empty() && j.school_code != q.school_code) continue;
    if (!q.code.empty() && j.job_id != q.code && j.card_no != q.code) continue;
    if (!text.empty()) {
      const bool hit = Lower(j.job_id).find(text) != std::string::npos ||
                       j.card_no.find(text) != std::string::npos ||
                       j.school_code.find(text) != std::string::npos ||
                       Lower(j.student_name).find(text) != std::string::npos;
      if (!hit) continue;
    }
    r.total++;
    if (skipped < q.offset) {
      ++skipped;
      continue;
    }
    if (static_cast<int>(r.jobs.size()) < q.limit) r.jobs.push_back(j);
  }
  return r;
}

Result<JobDetail> FakeBackend::Job(std::string_view job_id) {
  std::lock_guard lock(mu_);
  FakeJob* j = FindJob(job_id);
  if (j == nullptr) return Status(Code::kNotFound, "no such job");
  return j->detail;
}

Result<std::filesystem::path> FakeBackend::CardPreview(std::string_view job_id, PreviewSide side) {
  std::lock_guard lock(mu_);
  FakeJob* j = FindJob(job_id);
  if (j == nullptr) return Status(Code::kNotFound, "no such job");
  const bool has =
      side == PreviewSide::kFront ? j->detail.has_front_preview : j->detail.has_back_preview;
  if (!has) return Status(Code::kNotFound, "no preview rendered for this job");
  return preview_dir_ / (side == PreviewSide::kFront ? "front.png" : "back.png");
}

Result<std::vector<StationInfo>> FakeBackend::Stations() {
  std::lock_guard lock(mu_);
  std::vector<StationInfo> out;
  for (const auto& s : stations_) out.push_back(s.info);
  return out;
}

Status FakeBackend::SetStationPaused(std::string_view station_id, bool paused,
                                     std::string_view /*actor*/) {
  std::vector<DashboardEvent> events;
  {
    std::lock_guard lock(mu_);
    FakeStation* s = FindStation(station_id);
    if (s == nullptr) return Status(Code::kNotFound, "no such station");
    if (!paused && s->offline) {
      return Status(Code::kFailedPrecondition, "station is offline");
    }
    s->paused = paused;
    RefreshStationState(*s);
    events.push_back({"station", s->info.station_id, s->info.state, "", "", NowMs()});
  }
  PublishAll(events);
  return Status::Ok();
}

Result<ReprintRequest> FakeBackend::ApproveLocked(ReprintRequest& r, std::string_view actor,
                                                  std::vector<DashboardEvent>* events) {
  FakeJob* old = FindJob(r.job_id);
  if (old == nullptr) return Status(Code::kNotFound, "job vanished");
  int attempt = 1;
  std::string new_id;
  do {
    new_id = r.job_id + "-R" + std::to_string(attempt++);
  } while (FindJob(new_id) != nullptr);
  FakeJob fresh;
  fresh.detail.job = old->detail.job;
  fresh.detail.job.job_id = new_id;
  fresh.detail.job.reprint_of = r.job_id;
  fresh.detail.job.reprinted_by.clear();
  fresh.detail.job.card_voided = false;
  fresh.detail.job.last_code.clear();
  fresh.detail.job.station.clear();
  SetState(fresh, "validated", "", "", "reprint " + r.reprint_id + " of " + r.job_id, events);

  old->detail.job.card_voided = true;
  old->detail.job.reprinted_by = new_id;
  TimelineEntry voided;
  voided.at_ms = NowMs();
  voided.state = old->detail.job.state;
  voided.note = "card voided; reprint " + r.reprint_id + " -> " + new_id;
  old->detail.timeline.push_back(std::move(voided));
  if (FakeBatch* b = FindBatch(old->detail.job.batch_id)) b->job_ids.push_back(new_id);
  jobs_.push_back(std::move(fresh));

  r.status = "approved";
  r.decided_by = std::string(actor);
  r.decided_at_ms = NowMs();
  r.new_job_id = new_id;
  return r;
}

Result<ReprintRequest> FakeBackend::RequestReprint(std::string_view job_id, std::string_view reason,
                                                   std::string_view actor, bool approved) {
  std::vector<DashboardEvent> events;
  ReprintRequest out;
  {
    std::lock_guard lock(mu_);
    FakeJob* j = FindJob(job_id);
    if (j == nullptr) return Status(Code::kNotFound, "no such job");
    if (!IsProduced(j->detail.job.state)) {
      return Status(Code::kFailedPrecondition, "job has no produced card");
    }
    if (j->detail.job.card_voided) {
      return Status(Code::kFailedPrecondition, "card already voided by a reprint");
    }
    for (const auto& r : reprints_) {
      if (r.job_id == job_id && r.status == "pending") {
        return Status(Code::kFailedPrecondition, "a reprint of this job is already pending");
      }
    }
    ReprintRequest r;
    r.reprint_id = "RP" + std::to_string(next_reprint_++);
    r.job_id = std::string(job_id);
    r.reason = std::string(reason);
    r.requested_by = std::string(actor);
    r.requested_at_ms = NowMs();
    r.status = "pending";
    if (approved) {
      auto done = ApproveLocked(r, actor, &events);
      if (!done.ok()) return done.status();
    }
    reprints_.push_back(r);
    out = r;
    events.push_back({"reprint", r.reprint_id, r.status, j->detail.job.batch_id, "", NowMs()});
  }
  PublishAll(events);
  return out;
}

Result<ReprintRequest> FakeBackend::DecideReprint(std::string_view reprint_id, bool approve,
                                                  std::string_view actor) {
  std::vector<DashboardEvent> events;
  ReprintRequest out;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(reprints_.begin(), reprints_.end(),
                           [&](const ReprintRequest& r) { return r.reprint_id == reprint_id; });
    if (it == reprints_.end()) return Status(Code::kNotFound, "no such reprint");
    if (it->status != "pending") {
      return Status(Code::kFailedPrecondition, "reprint is " + it->status + ", not pending");
    }
    if (approve) {
      auto done = ApproveLocked(*it, actor, &events);
      if (!done.ok()) return done.status();
    } else {
      it->status = "rejected";
      it->decided_by = std::string(actor);
      it->decided_at_ms = NowMs();
    }
    out = *it;
    events.push_back({"reprint", it->reprint_id, it->status, "", "", NowMs()});
  }
  PublishAll(events);
  return out;
}

Result<std::vector<ReprintRequest>> FakeBackend::Reprints(std::string_view status) {
  std::lock_guard lock(mu_);
  std::vector<ReprintRequest> out;
  for (auto it = reprints_.rbegin(); it != reprints_.rend(); ++it) {
    if (status.empty() || it->status == status) out.push_back(*it);
  }
  return out;
}

Result<ReprintRequest> FakeBackend::Reprint(std::string_view reprint_id) {
  std::lock_guard lock(mu_);
  for (const auto& r : reprints_) {
    if (r.reprint_id == reprint_id) return r;
  }
  return Status(Code::kNotFound, "no such reprint");
}

Result<MetricsSnapshot> FakeBackend::Metrics() {
  std::lock_guard lock(mu_);
  MetricsSnapshot m;
  for (const char* s :
       {"received", "validated", "rendered", "encoding", "encoded", "printed", "verified",
        "reported", "acknowledged", "rejected", "failed", "cancelled"}) {
    m.jobs_by_state[s] = 0;
  }
  for (const auto& j : jobs_) {
    m.jobs_by_state[j.detail.job.state]++;
    if (IsQueued(j.detail.job.state)) m.queue_depth++;
  }
  m.failures_by_code = failures_by_code_;
  const int64_t since = NowMs() - 3600 * 1000;
  m.cards_produced_last_hour = std::count_if(completed_at_ms_.begin(), completed_at_ms_.end(),
                                             [&](int64_t t) { return t > since; });
  for (const auto& s : stations_) m.station_states[s.info.station_id] = s.info.state;
  return m;
}

std::unique_ptr<Subscription> FakeBackend::Subscribe(EventCallback callback) {
  return hub_.Subscribe(std::move(callback));
}

void FakeBackend::PublishAll(const std::vector<DashboardEvent>& events) {
  for (const auto& e : events) hub_.Publish(e);
}

}  // namespace cardbureau::http
