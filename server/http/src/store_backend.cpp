#include "cardbureau/http/store_backend.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace cardbureau::http {

namespace {

// Enough for a bureau's working set; the dashboard is not a report engine.
constexpr int kScanLimit = 100000;

std::string CodeOfReport(const server::Message& m) {
  if (const auto* f = std::get_if<server::Failed>(&m)) return f->code;
  if (const auto* r = std::get_if<server::Rejected>(&m)) return r->code;
  if (std::holds_alternative<server::Cancelled>(m)) return "CANCELLED";
  return {};
}

// The school's name is in the stored job JSON (gone once purged).
void NameSchool(BatchSummary& b, const server::JobRecord& r) {
  if (!b.school_name.empty() || r.job_json.empty()) return;
  const auto j = nlohmann::json::parse(r.job_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  const auto school = j.find("school");
  if (school == j.end() || !school->is_object()) return;
  const auto name = school->find("name");
  if (name != school->end() && name->is_string()) b.school_name = name->get<std::string>();
}

}  // namespace

StoreBackend::StoreBackend(server::JobStore& store, const Clock& clock, SlaPolicy sla)
    : store_(store), clock_(clock), sla_(std::move(sla)) {}

std::string StoreBackend::SchoolOf(std::string_view batch_id) {
  constexpr std::string_view kPrefix = "school-";
  if (batch_id.substr(0, kPrefix.size()) != kPrefix || batch_id.size() == kPrefix.size()) {
    return {};
  }
  return std::string(batch_id.substr(kPrefix.size()));
}

FaultInfo StoreBackend::ToFault(const server::StationFaultRow& r) {
  FaultInfo f;
  f.fault_id = r.id;
  f.at_ms = r.at_ms;
  f.station_id = r.station;
  f.code = r.code;
  f.message = r.message;
  f.job_id = r.job_id;
  f.acked_at_ms = r.acked_at_ms.value_or(0);
  f.acked_by = r.acked_by;
  return f;
}

std::string StoreBackend::BatchIdForSchool(std::string_view school_code) {
  return "school-" + std::string(school_code);
}

JobSummary StoreBackend::Summarise(const server::JobRecord& r) {
  JobSummary j;
  j.job_id = r.job_id;
  if (!r.school_code.empty()) j.batch_id = BatchIdForSchool(r.school_code);
  j.school_code = r.school_code;
  j.card_no = r.card_no;
  j.student_name = r.student_name;
  j.state = std::string(server::ToString(r.state));
  j.updated_at_ms = r.updated_at_ms;
  j.reprint_of = r.reprint_of;
  j.reprinted_by = r.reprinted_by;
  j.card_voided = r.voided_at_ms.has_value();
  if (r.state == server::JobState::kFailed || r.state == server::JobState::kRejected ||
      r.state == server::JobState::kCancelled) {
    auto report = store_.TerminalReport(r.job_id);
    if (report.ok() && report->has_value()) j.last_code = CodeOfReport(**report);
  }
  return j;
}

// The store's one batch query (JobStore::Batches), which the reconciliation
// files and the demo summary use too: the numbers cannot disagree.
Result<BatchSummary> StoreBackend::FromCounts(const server::BatchCounts& c) {
  BatchSummary b;
  b.batch_id = BatchIdForSchool(c.school_code);
  b.school_code = c.school_code;
  b.created_at_ms = c.first_received_ms;
  b.total = c.total;
  b.queued = c.queued;
  b.in_progress = c.in_progress;
  b.produced = c.produced;
  b.rejected = c.rejected;
  b.failed = c.failed + c.cancelled;
  b.reprinted = c.reprints;
  // Split by outcome from the batch's rows (the manifest's rows): a voided
  // card is not a produced one, and a failed job that a reprint attempt
  // replaced is not outstanding.
  CB_ASSIGN_OR_RETURN(auto batch_rows, store_.BatchRows(c.school_code));
  b.voided = 0;
  b.failed_open = 0;
  for (const auto& r : batch_rows) {
    if (r.voided) ++b.voided;
    // A job the centre cancelled is not outstanding; a failed one is until
    // a reprint attempt replaces it.
    if (r.state != server::JobState::kFailed) continue;
    const std::string prefix = r.job_id + "~R";
    const bool replaced = std::any_of(batch_rows.begin(), batch_rows.end(), [&](const auto& o) {
      return o.job_id.compare(0, prefix.size(), prefix) == 0;
    });
    if (!replaced) ++b.failed_open;
  }
  b.produced = std::max<int64_t>(0, c.produced - b.voided);
  b.complete = b.total > 0 && b.queued == 0 && b.in_progress == 0 && b.failed_open == 0 &&
               b.produced + b.rejected > 0;
  // The school's name is in a stored job's JSON (gone once purged).
  server::JobQuery q;
  q.school_code = c.school_code;
  q.limit = 20;
  CB_ASSIGN_OR_RETURN(auto rows, store_.List(q));
  for (const auto& r : rows) NameSchool(b, r);
  return b;
}

Result<std::vector<BatchSummary>> StoreBackend::Batches() {
  CB_ASSIGN_OR_RETURN(auto counts, store_.Batches());
  std::vector<BatchSummary> out;
  for (const auto& c : counts) {
    CB_ASSIGN_OR_RETURN(auto b, FromCounts(c));
    out.push_back(std::move(b));
  }
  std::sort(out.begin(), out.end(), [](const BatchSummary& a, const BatchSummary& b) {
    return a.created_at_ms != b.created_at_ms ? a.created_at_ms > b.created_at_ms
                                              : a.batch_id < b.batch_id;
  });
  return out;
}

Result<BatchSummary> StoreBackend::Batch(std::string_view batch_id) {
  const std::string school = SchoolOf(batch_id);
  if (school.empty()) return Status(Code::kNotFound, "no such batch");
  CB_ASSIGN_OR_RETURN(auto counts, store_.Batches(school));
  if (counts.empty()) return Status(Code::kNotFound, "no such batch");
  return FromCounts(counts.front());
}

Result<JobSearchResult> StoreBackend::SearchJobs(const JobSearch& query) {
  server::JobQuery q;
  if (!query.state.empty()) {
    q.state = server::JobStateFromString(query.state);
    if (!q.state) return Status(Code::kBadRequest, "unknown state", "state");
  }
  q.school_code = query.school_code;
  q.code = query.code;
  q.text = query.text;
  q.limit = kScanLimit;
  CB_ASSIGN_OR_RETURN(auto rows, store_.List(q));
  JobSearchResult out;
  out.total = static_cast<int64_t>(rows.size());
  const size_t begin = std::min(rows.size(), static_cast<size_t>(std::max(0, query.offset)));
  const size_t end = std::min(rows.size(), begin + static_cast<size_t>(std::max(0, query.limit)));
  for (size_t i = begin; i < end; ++i) out.jobs.push_back(Summarise(rows[i]));
  return out;
}

Result<JobDetail> StoreBackend::Job(std::string_view job_id) {
  CB_ASSIGN_OR_RETURN(auto rec, store_.Find(job_id));
  if (!rec) return Status(Code::kNotFound, "no such job");
  JobDetail d;
  d.job = Summarise(*rec);
  // The job's history rows, one timeline entry each (the same rows as
  // `cardbureau history`).
  CB_ASSIGN_OR_RETURN(auto rows, store_.History(job_id));
  for (const auto& h : rows) {
    TimelineEntry e;
    e.at_ms = h.at_ms;
    e.state = h.state;
    e.note = h.note;
    e.kind = h.kind;
    e.from_state = h.from_state;
    e.station = h.detail.station;
    e.printer = h.detail.printer;
    e.uid = h.detail.uid;
    e.attempt = h.detail.attempt;
    e.stage = h.detail.stage;
    e.code = h.detail.code;
    e.field = h.detail.field;
    e.message = h.detail.message;
    d.timeline.push_back(std::move(e));
  }
  // Rows written before schema 3 carry the code in the note only.
  if (!d.timeline.empty() && d.timeline.back().code.empty() && !d.job.last_code.empty()) {
    d.timeline.back().code = d.job.last_code;
  }
  std::error_code ec;
  const auto dir = store_.CardsDir(job_id);
  d.has_front_preview = std::filesystem::is_regular_file(dir / "front.png", ec);
  d.has_back_preview = std::filesystem::is_regular_file(dir / "back.png", ec);
  return d;
}

Result<std::filesystem::path> StoreBackend::CardPreview(std::string_view job_id, PreviewSide side) {
  CB_ASSIGN_OR_RETURN(auto rec, store_.Find(job_id));
  if (!rec) return Status(Code::kNotFound, "no such job");
  const auto path =
      store_.CardsDir(job_id) / (side == PreviewSide::kFront ? "front.png" : "back.png");
  std::error_code ec;
  if (rec->purged || !std::filesystem::is_regular_file(path, ec)) {
    return Status(Code::kNotFound, "no preview for this job (not rendered yet, or purged)");
  }
  return path;
}

Result<std::vector<StationInfo>> StoreBackend::Stations() { return std::vector<StationInfo>{}; }

Status StoreBackend::SetStationPaused(std::string_view, bool, std::string_view) {
  return Status(Code::kNotFound, "no such station (no production line attached)");
}

Result<ReprintRequest> StoreBackend::RequestReprint(std::string_view, std::string_view,
                                                    std::string_view, bool) {
  return Status(Code::kFailedPrecondition, "reprints need the production line (not attached)");
}

Result<ReprintRequest> StoreBackend::DecideReprint(std::string_view, bool, std::string_view) {
  return Status(Code::kFailedPrecondition, "reprints need the production line (not attached)");
}

Result<std::vector<ReprintRequest>> StoreBackend::Reprints(std::string_view) {
  return std::vector<ReprintRequest>{};
}

Result<ReprintRequest> StoreBackend::Reprint(std::string_view) {
  return Status(Code::kNotFound, "no such reprint");
}

Result<MetricsSnapshot> StoreBackend::Metrics() {
  MetricsSnapshot m;
  for (auto s : server::AllJobStates()) m.jobs_by_state[std::string(server::ToString(s))] = 0;
  CB_ASSIGN_OR_RETURN(m.history_faults_by_code, store_.FaultCounts());
  // Station faults and refused/failed jobs, from the store: survives restarts.
  CB_ASSIGN_OR_RETURN(m.failures_by_code, store_.FailureCounts());
  CB_ASSIGN_OR_RETURN(auto open, store_.StationFaults("", /*open_only=*/true, 100000));
  m.open_faults = static_cast<int64_t>(open.size());
  CB_ASSIGN_OR_RETURN(auto sla, Sla());
  m.oldest_open_job_working_days = sla.oldest_working_days;
  CB_ASSIGN_OR_RETURN(auto counts, store_.CountsByState());
  for (const auto& [state, n] : counts) {
    m.jobs_by_state[std::string(server::ToString(state))] = n;
    if (state == server::JobState::kReceived || state == server::JobState::kValidated ||
        state == server::JobState::kRendered) {
      m.queue_depth += n;
    }
  }
  return m;
}

std::unique_ptr<Subscription> StoreBackend::Subscribe(EventCallback callback) {
  return hub_.Subscribe(std::move(callback));
}

Result<KpiSnapshot> StoreBackend::Kpis() {
  KpiSnapshot k;
  k.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
                 .count();
  // The hour and the day in Beijing time (UTC+8, whole hours: the hour
  // starts on the same instant in UTC).
  constexpr int64_t kHourMs = 3600 * 1000;
  constexpr int64_t kDayMs = 24 * kHourMs;
  const int64_t hour_start = k.now_ms - (k.now_ms % kHourMs);
  const int64_t day_start = BeijingDayOfMs(k.now_ms) * kDayMs - 8 * kHourMs;
  CB_ASSIGN_OR_RETURN(auto f, store_.Figures(hour_start, day_start, k.now_ms));
  k.produced_this_hour = f.produced_since_hour;
  k.produced_today = f.produced_since_day;
  k.produced_last_15min = f.produced_last_15min;
  k.cards_per_hour_15min = f.produced_last_15min * 4;
  k.queue_depth = f.queued;
  k.at_stations = f.at_stations;
  const int64_t open = f.queued + f.at_stations;
  if (open == 0) {
    k.eta_seconds = 0;
  } else if (k.cards_per_hour_15min > 0) {
    k.eta_seconds = (open * 3600 + k.cards_per_hour_15min - 1) / k.cards_per_hour_15min;
  }
  return k;
}

Result<SlaView> StoreBackend::Sla() {
  SlaView v;
  v.sla_working_days = sla_.working_days;
  v.flag_share = sla_.flag_share;
  v.flag_after_days = FlagAfterDays(sla_);
  v.calendar = sla_.source;
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
          .count();
  const int64_t today = BeijingDayOfMs(now_ms);
  CB_ASSIGN_OR_RETURN(auto rows, store_.OpenJobs());
  for (const auto& r : rows) {
    SlaJob j;
    j.job_id = r.job_id;
    if (!r.school_code.empty()) j.batch_id = BatchIdForSchool(r.school_code);
    j.state = std::string(server::ToString(r.state));
    auto confirmed = BeijingDayOf(r.confirmed_at);
    if (confirmed) j.confirmed_at = r.confirmed_at;
    const int64_t from = confirmed ? *confirmed : BeijingDayOfMs(r.received_at_ms);
    j.working_days = WorkingDaysBetween(sla_, from, today);
    j.flagged = j.working_days >= v.flag_after_days;
    v.flagged += j.flagged ? 1 : 0;
    v.oldest_working_days = std::max(v.oldest_working_days, j.working_days);
    v.jobs.push_back(std::move(j));
  }
  std::stable_sort(v.jobs.begin(), v.jobs.end(), [](const SlaJob& a, const SlaJob& b) {
    return a.working_days > b.working_days;
  });
  return v;
}

Result<std::vector<FaultInfo>> StoreBackend::Faults(bool open_only) {
  CB_ASSIGN_OR_RETURN(auto rows, store_.StationFaults("", open_only, 200));
  std::vector<FaultInfo> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(ToFault(r));
  return out;
}

Result<FaultInfo> StoreBackend::AcknowledgeFault(int64_t fault_id, std::string_view actor) {
  CB_ASSIGN_OR_RETURN(auto row, store_.AcknowledgeStationFault(fault_id, actor));
  FaultInfo f = ToFault(row);
  DashboardEvent e;
  e.kind = "station";
  e.id = f.station_id;
  e.state = "fault-acknowledged";
  e.code = f.code;
  e.at_ms = f.acked_at_ms;
  hub_.Publish(e);
  return f;
}

Result<StockSummary> StoreBackend::Stock() {
  CB_ASSIGN_OR_RETURN(auto types, store_.StockRemainingByType());
  StockSummary out;
  out.low_level = stock_low_level_.load();
  for (const auto& t : types) {
    out.card_types.push_back(StockLevel{std::string(ToString(t.card_type)), t.received, t.remaining,
                                        t.remaining < out.low_level});
  }
  return out;
}

}  // namespace cardbureau::http
