#include "cardbureau/http/api.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardbureau/core/file.h"
#include "cardbureau/core/share_dir.h"

namespace cardbureau::http {

using nlohmann::json;

namespace {

constexpr size_t kMaxSegments = 32;
constexpr size_t kMaxQueryFields = 32;
constexpr size_t kMaxReason = 500;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes; `plus_is_space` for query strings. Control bytes are refused.
Result<std::string> Decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return Status(Code::kBadRequest, "truncated percent escape");
      }
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return Status(Code::kBadRequest, "bad percent escape");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return Status(Code::kBadRequest, "control character in request target");
    }
    out.push_back(c);
  }
  return out;
}

json ToJson(const BatchSummary& b) {
  return {{"batch_id", b.batch_id},
          {"school_code", b.school_code},
          {"school_name", b.school_name},
          {"total", b.total},
          {"queued", b.queued},
          {"in_progress", b.in_progress},
          {"produced", b.produced},
          {"failed", b.failed},
          {"rejected", b.rejected},
          {"reprinted", b.reprinted},
          {"created_at_ms", b.created_at_ms},
          {"voided", b.voided},
          {"failed_open", b.failed_open},
          {"complete", b.complete},
          {"has_manifest", b.has_manifest},
          {"has_reconciliation", b.has_reconciliation}};
}

json ToJson(const FaultInfo& f) {
  return {{"fault_id", f.fault_id},       {"at_ms", f.at_ms},
          {"station_id", f.station_id},   {"code", f.code},
          {"message", f.message},         {"job_id", f.job_id},
          {"acked_at_ms", f.acked_at_ms}, {"acked_by", f.acked_by}};
}

json ToJson(const LinkStatus& l) {
  return {{"state", l.state},
          {"since_ms", l.since_ms},
          {"last_heartbeat_ms", l.last_heartbeat_ms},
          {"reconnects", l.reconnects},
          {"centre", l.centre}};
}

json ToJson(const KpiSnapshot& k) {
  return {{"now_ms", k.now_ms},
          {"produced_this_hour", k.produced_this_hour},
          {"produced_today", k.produced_today},
          {"produced_last_15min", k.produced_last_15min},
          {"cards_per_hour_15min", k.cards_per_hour_15min},
          {"queue_depth", k.queue_depth},
          {"at_stations", k.at_stations},
          {"eta_seconds", k.eta_seconds}};
}

json ToJson(const SlaView& v) {
  json jobs = json::array();
  for (const auto& j : v.jobs) {
    jobs.push_back({{"job_id", j.job_id},
                    {"batch_id", j.batch_id},
                    {"state", j.state},
                    {"confirmed_at", j.confirmed_at},
                    {"working_days", j.working_days},
                    {"flagged", j.flagged}});
  }
  return {{"sla_working_days", v.sla_working_days},
          {"flag_share", v.flag_share},
          {"flag_after_days", v.flag_after_days},
          {"oldest_working_days", v.oldest_working_days},
          {"flagged", v.flagged},
          {"calendar", v.calendar},
          {"jobs", jobs}};
}

json ToJson(const JobSummary& j) {
  return {{"job_id", j.job_id},
          {"batch_id", j.batch_id},
          {"school_code", j.school_code},
          {"card_no", j.card_no},
          {"student_name", j.student_name},
          {"state", j.state},
          {"last_code", j.last_code},
          {"station", j.station},
          {"reprint_of", j.reprint_of},
          {"reprinted_by", j.reprinted_by},
          {"card_voided", j.card_voided},
          {"updated_at_ms", j.updated_at_ms}};
}

json ToJson(const TimelineEntry& t) {
  return {{"at_ms", t.at_ms},     {"state", t.state},     {"station", t.station},
          {"code", t.code},       {"note", t.note},       {"kind", t.kind},
          {"from", t.from_state}, {"printer", t.printer}, {"uid", t.uid},
          {"attempt", t.attempt}, {"stage", t.stage},     {"field", t.field},
          {"message", t.message}};
}

// null when the printer reports no consumables.
json SuppliesJson(const StationInfo& s) {
  if (!s.supplies_known) return nullptr;
  return {{"ribbon_left", s.ribbon_left},       {"ribbon_capacity", s.ribbon_capacity},
          {"ribbon_low", s.ribbon_low},         {"cards_left", s.cards_left},
          {"cards_capacity", s.cards_capacity}, {"cards_low", s.cards_low}};
}

json ToJson(const StationInfo& s) {
  json faults = json::array();
  for (const auto& f : s.last_faults) {
    faults.push_back(
        {{"at_ms", f.at_ms}, {"code", f.code}, {"message", f.message}, {"job_id", f.job_id}});
  }
  json open = nullptr;
  if (s.open_fault.fault_id != 0) open = ToJson(s.open_fault);
  return {{"station_id", s.station_id},   {"state", s.state},
          {"current_job", s.current_job}, {"produced", s.produced},
          {"failed", s.failed},           {"last_faults", faults},
          {"open_fault", open},           {"supplies", SuppliesJson(s)}};
}

json ToJson(const ReprintRequest& r) {
  return {{"reprint_id", r.reprint_id},
          {"job_id", r.job_id},
          {"reason", r.reason},
          {"requested_by", r.requested_by},
          {"requested_at_ms", r.requested_at_ms},
          {"status", r.status},
          {"decided_by", r.decided_by},
          {"decided_at_ms", r.decided_at_ms},
          {"new_job_id", r.new_job_id}};
}

json ToJson(const PendingReport& r) {
  json answer = nullptr;
  if (!r.answer_code.empty()) {
    answer = {{"code", r.answer_code},
              {"message", r.answer_message},
              {"at_ms", r.answered_at_ms},
              {"count", r.answers}};
  }
  return {{"report_id", r.report_id},
          {"job_id", r.job_id},
          {"type", r.type},
          {"created_at_ms", r.created_at_ms},
          {"centre_answer", std::move(answer)}};
}

json ToJson(const AuditRecord& r) {
  return {{"seq", r.seq},         {"at_ms", r.at_ms},   {"actor", r.actor},
          {"role", r.role},       {"action", r.action}, {"target", r.target},
          {"outcome", r.outcome}, {"detail", r.detail}, {"hash", r.hash}};
}

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  // Replace invalid UTF-8 rather than throw: backend strings are not ours.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Status Forbidden(std::string_view what) { return Status(Code::kForbidden, std::string(what)); }

// Parses a JSON object body. An empty body is an empty object.
Result<json> ParseBody(const std::string& body) {
  if (body.empty()) return json::object();
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(Code::kInvalidJson, "request body is not valid JSON");
  if (!j.is_object()) return Status(Code::kInvalidJson, "request body must be a JSON object");
  return j;
}

Result<std::string> ReasonField(const json& body, bool required) {
  auto it = body.find("reason");
  if (it == body.end() || it->is_null()) {
    if (required) return Status(Code::kInvalidField, "a reason is required", "reason");
    return std::string();
  }
  if (!it->is_string()) return Status(Code::kInvalidField, "reason must be a string", "reason");
  std::string reason = it->get<std::string>();
  const bool blank = reason.find_first_not_of(" \t\r\n") == std::string::npos;
  if (required && blank) return Status(Code::kInvalidField, "a reason is required", "reason");
  if (reason.size() > kMaxReason) {
    return Status(Code::kInvalidField, "reason is longer than 500 bytes", "reason");
  }
  for (unsigned char c : reason) {
    if (c < 0x20 && c != '\t') {
      return Status(Code::kInvalidField, "reason contains control characters", "reason");
    }
  }
  return reason;
}

Result<int> IntParam(const std::map<std::string, std::string>& q, const std::string& key,
                     int fallback, int lo, int hi) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return fallback;
  const std::string& s = it->second;
  if (s.size() > 9 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status(Code::kBadRequest, key + " must be a non-negative integer", key);
  }
  return std::clamp(std::stoi(s), lo, hi);
}

std::string Param(const std::map<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? std::string() : it->second;
}

std::string PromLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string ContentTypeFor(const std::filesystem::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json") return "application/json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// Core's bounded read; the messages name no server path (they reach the
// browser).
Result<std::string> ReadFileLimited(const std::filesystem::path& p, size_t limit) {
  auto data = ReadFileWithLimit(p, limit);
  if (data.ok()) return data;
  if (data.status().code() == Code::kInputTooLarge) {
    return Status(Code::kInputTooLarge, "file too large to serve");
  }
  return Status(Code::kNotFound, "file not found");
}

bool IsSafeId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

}  // namespace

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kUnauthorized:
      return 401;
    case Code::kForbidden:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kFailedPrecondition:
    case Code::kAlreadyExists:
    case Code::kTooLate:
      return 409;
    case Code::kInputTooLarge:
      return 413;
    case Code::kBadRequest:
    case Code::kInvalidJson:
    case Code::kInvalidField:
      return 400;
    case Code::kStationUnavailable:
      return 503;
    default:
      return 500;
  }
}

HttpResponse ErrorResponse(const Status& status) {
  const int http_status = HttpStatusFor(status.code());
  json body = {{"code", std::string(status.code_name())}};
  // Internal failures keep their details out of the response.
  body["message"] = http_status >= 500 && status.code() != Code::kStationUnavailable
                        ? std::string("internal error; see the server log")
                        : status.message();
  if (!status.field().empty()) body["field"] = status.field();
  HttpResponse r = JsonResponse(http_status, body);
  if (status.code() == Code::kUnauthorized) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"cardbureau\"");
  }
  return r;
}

Result<ParsedTarget> ParseTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Status(Code::kBadRequest, "request target must start with '/'");
  }
  ParsedTarget out;
  std::string_view path = target;
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view raw = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (raw.empty()) continue;  // "//" and a trailing '/'
    CB_ASSIGN_OR_RETURN(std::string seg, Decode(raw, false));
    if (seg == "." || seg == ".." || seg.find('/') != std::string::npos ||
        seg.find('\\') != std::string::npos) {
      return Status(Code::kBadRequest, "path traversal refused");
    }
    if (out.segments.size() >= kMaxSegments) return Status(Code::kBadRequest, "path too deep");
    out.segments.push_back(std::move(seg));
  }
  out.path = "/";
  for (size_t i = 0; i < out.segments.size(); ++i) {
    out.path += (i ? "/" : "") + out.segments[i];
  }
  size_t qpos = 0;
  while (qpos < query.size()) {
    size_t amp = query.find('&', qpos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(qpos, amp - qpos);
    qpos = amp + 1;
    if (pair.empty()) continue;
    if (out.query.size() >= kMaxQueryFields) {
      return Status(Code::kBadRequest, "too many query fields");
    }
    const size_t eq = pair.find('=');
    CB_ASSIGN_OR_RETURN(std::string key, Decode(pair.substr(0, eq), true));
    std::string value;
    if (eq != std::string_view::npos) {
      CB_ASSIGN_OR_RETURN(value, Decode(pair.substr(eq + 1), true));
    }
    out.query[std::move(key)] = std::move(value);
  }
  return out;
}

std::string EventToSse(const DashboardEvent& e) {
  json j = {{"kind", e.kind},         {"id", e.id},     {"state", e.state},
            {"batch_id", e.batch_id}, {"code", e.code}, {"at_ms", e.at_ms}};
  // The kind is a fixed word; anything else is sent as a plain message.
  const bool plain =
      std::all_of(e.kind.begin(), e.kind.end(), [](char c) { return c >= 'a' && c <= 'z'; }) &&
      !e.kind.empty();
  return std::string("event: ") + (plain ? e.kind : "message") +
         "\ndata: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

Api::Api(DashboardBackend& backend, const TokenTable& tokens, AuditTrail* audit, ApiOptions options)
    : backend_(backend), tokens_(tokens), audit_(audit), options_(std::move(options)) {}

HttpResponse Api::Handle(const HttpRequest& request) {
  auto target = ParseTarget(request.target);
  if (!target.ok()) return ErrorResponse(target.status());
  const auto& segs = target->segments;
  const bool is_get = request.method == "GET" || request.method == "HEAD";

  if (target->path == "/healthz") {
    if (!is_get) return ErrorResponse(Status(Code::kBadRequest, "method not allowed"));
    return JsonResponse(200, {{"status", "ok"}});
  }
  const bool api = !segs.empty() && (segs[0] == "api" || segs[0] == "metrics");
  if (!api) {
    if (!is_get) {
      HttpResponse r = ErrorResponse(Status(Code::kBadRequest, "method not allowed"));
      r.status = 405;
      return r;
    }
    return Static(*target);
  }
  auto who = tokens_.Authenticate(request.authorization);
  if (!who.ok()) return ErrorResponse(who.status());
  HttpResponse r = Route(request, *target, *who);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

HttpResponse Api::Action(const Principal& who, std::string_view action, std::string_view target,
                         const Status& outcome, std::string_view detail, int ok_status,
                         std::string ok_body) {
  if (audit_ != nullptr) {
    auto rec = audit_->Append(who.name, ToString(who.role), action, target,
                              outcome.ok() ? "OK" : outcome.code_name(), detail);
    if (!rec.ok()) {
      std::fprintf(stderr, "http: audit append failed: %s\n", rec.status().ToString().c_str());
      return ErrorResponse(Status(Code::kIoError, "audit trail unavailable"));
    }
  }
  if (!outcome.ok()) return ErrorResponse(outcome);
  HttpResponse r;
  r.status = ok_status;
  r.body = std::move(ok_body);
  return r;
}

HttpResponse Api::Route(const HttpRequest& req, const ParsedTarget& t, const Principal& who) {
  const auto& s = t.segments;
  const auto& q = t.query;
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  auto method_not_allowed = [] {
    HttpResponse r = ErrorResponse(Status(Code::kBadRequest, "method not allowed"));
    r.status = 405;
    return r;
  };
  auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  const size_t n = s.size();

  if (n == 1 && s[0] == "metrics") {
    if (!get) return method_not_allowed();
    return Metrics();
  }
  // From here on: /api/...
  if (n == 2 && s[1] == "stock") {
    // Card stock remaining per card type, with the low-level warning.
    if (!get) return method_not_allowed();
    auto stock = backend_.Stock();
    if (!stock.ok()) return ErrorResponse(stock.status());
    json types = json::array();
    for (const auto& level : stock->card_types) {
      types.push_back({{"card_type", level.card_type},
                       {"received", level.received},
                       {"remaining", level.remaining},
                       {"low", level.low}});
    }
    return JsonResponse(200, {{"low_level", stock->low_level}, {"card_types", types}});
  }
  if (n == 2 && s[1] == "whoami") {
    if (!get) return method_not_allowed();
    return JsonResponse(200, {{"name", who.name}, {"role", std::string(ToString(who.role))}});
  }
  if (n >= 2 && s[1] == "batches") {
    if (!get) return method_not_allowed();
    if (n == 2) {
      auto b = backend_.Batches();
      if (!b.ok()) return ErrorResponse(b.status());
      json arr = json::array();
      for (const auto& x : *b) arr.push_back(ToJson(x));
      return JsonResponse(200, {{"batches", arr}});
    }
    if (n == 3) {
      auto b = backend_.Batch(s[2]);
      if (!b.ok()) return ErrorResponse(b.status());
      return JsonResponse(200, ToJson(*b));
    }
    if (n == 4 && (s[3] == "manifest" || s[3] == "reconciliation")) {
      const bool manifest = s[3] == "manifest";
      auto p =
          backend_.BatchFile(s[2], manifest ? DashboardBackend::BatchFileKind::kManifest
                                            : DashboardBackend::BatchFileKind::kReconciliation);
      if (!p.ok()) return ErrorResponse(p.status());
      auto data = ReadFileLimited(*p, options_.max_batch_file);
      if (!data.ok()) return ErrorResponse(data.status());
      HttpResponse r;
      r.content_type = manifest ? "application/pdf" : "application/json";
      r.body = std::move(*data);
      return r;
    }
  }
  if (n == 2 && (s[1] == "link" || s[1] == "kpis" || s[1] == "sla")) {
    if (!get) return method_not_allowed();
    if (s[1] == "link") {
      auto l = backend_.Link();
      if (!l.ok()) return ErrorResponse(l.status());
      return JsonResponse(200, ToJson(*l));
    }
    if (s[1] == "kpis") {
      auto k = backend_.Kpis();
      if (!k.ok()) return ErrorResponse(k.status());
      return JsonResponse(200, ToJson(*k));
    }
    auto v = backend_.Sla();
    if (!v.ok()) return ErrorResponse(v.status());
    return JsonResponse(200, ToJson(*v));
  }
  if (n >= 2 && s[1] == "faults") {
    if (n == 2) {
      if (!get) return method_not_allowed();
      auto f = backend_.Faults(Param(q, "open") == "1");
      if (!f.ok()) return ErrorResponse(f.status());
      json arr = json::array();
      for (const auto& x : *f) arr.push_back(ToJson(x));
      return JsonResponse(200, {{"faults", arr}});
    }
    if (n == 4 && s[3] == "ack") {
      if (!post) return method_not_allowed();
      const std::string& id = s[2];
      if (who.role == Role::kQa) {
        return Action(who, "fault.ack", id,
                      Forbidden("acknowledging a fault needs operator or admin"), "", 0, "");
      }
      if (id.empty() || id.size() > 15 ||
          !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Action(who, "fault.ack", id, Status(Code::kNotFound, "no such fault"), "", 0, "");
      }
      auto f = backend_.AcknowledgeFault(std::stoll(id), who.name);
      if (!f.ok()) return Action(who, "fault.ack", id, f.status(), "", 0, "");
      return Action(who, "fault.ack", id, Status::Ok(),
                    f->station_id + " " + f->code + (f->job_id.empty() ? "" : " " + f->job_id), 200,
                    dump(ToJson(*f)));
    }
  }
  // GET /api/reports/pending: the outbox (reports the centre has not acked)
  // with the centre's answers (e.g. UNKNOWN_TYPE to card_replaced).
  if (n == 3 && s[1] == "reports" && s[2] == "pending") {
    if (!get) return method_not_allowed();
    auto r = backend_.PendingReports();
    if (!r.ok()) return ErrorResponse(r.status());
    json arr = json::array();
    for (const auto& p : *r) arr.push_back(ToJson(p));
    return JsonResponse(200, {{"reports", arr}});
  }
  if (n >= 2 && s[1] == "jobs") {
    if (n == 2) {
      if (!get) return method_not_allowed();
      JobSearch query;
      query.state = Param(q, "state");
      query.school_code = Param(q, "school");
      query.code = Param(q, "code");
      query.text = Param(q, "q");
      if (query.text.size() > 100) {
        return ErrorResponse(Status(Code::kBadRequest, "search text too long", "q"));
      }
      auto limit = IntParam(q, "limit", 50, 1, 500);
      if (!limit.ok()) return ErrorResponse(limit.status());
      auto offset = IntParam(q, "offset", 0, 0, 1000000);
      if (!offset.ok()) return ErrorResponse(offset.status());
      query.limit = *limit;
      query.offset = *offset;
      auto r = backend_.SearchJobs(query);
      if (!r.ok()) return ErrorResponse(r.status());
      json arr = json::array();
      for (const auto& j : r->jobs) arr.push_back(ToJson(j));
      return JsonResponse(200, {{"jobs", arr}, {"total", r->total}});
    }
    const std::string& job_id = s[2];
    if (n == 3) {
      if (!get) return method_not_allowed();
      auto d = backend_.Job(job_id);
      if (!d.ok()) return ErrorResponse(d.status());
      json timeline = json::array();
      for (const auto& e : d->timeline) timeline.push_back(ToJson(e));
      json body = ToJson(d->job);
      body["timeline"] = timeline;
      body["has_front_preview"] = d->has_front_preview;
      body["has_back_preview"] = d->has_back_preview;
      // Its reports the centre has not acked (and what the centre answered).
      auto pending = backend_.PendingReports();
      if (!pending.ok()) return ErrorResponse(pending.status());
      json reports = json::array();
      for (const auto& p : *pending) {
        if (p.job_id == job_id) reports.push_back(ToJson(p));
      }
      body["pending_reports"] = reports;
      return JsonResponse(200, body);
    }
    if (n == 5 && s[3] == "preview" && (s[4] == "front" || s[4] == "back")) {
      if (!get) return method_not_allowed();
      auto p =
          backend_.CardPreview(job_id, s[4] == "front" ? PreviewSide::kFront : PreviewSide::kBack);
      if (!p.ok()) return ErrorResponse(p.status());
      auto data = ReadFileLimited(*p, options_.max_static_file);
      if (!data.ok()) return ErrorResponse(data.status());
      HttpResponse r;
      r.content_type = "image/png";
      r.body = std::move(*data);
      return r;
    }
    if (n == 4 && s[3] == "reprint") {
      if (!post) return method_not_allowed();
      auto body = ParseBody(req.body);
      if (!body.ok()) return Action(who, "reprint.request", job_id, body.status(), "", 0, "");
      auto reason = ReasonField(*body, true);
      if (!reason.ok()) return Action(who, "reprint.request", job_id, reason.status(), "", 0, "");
      // An operator's reprint waits for a qa approval; qa/admin approve their own.
      const bool approved = who.role != Role::kOperator;
      auto r = backend_.RequestReprint(job_id, *reason, who.name, approved);
      if (!r.ok()) return Action(who, "reprint.request", job_id, r.status(), *reason, 0, "");
      return Action(who, "reprint.request", job_id, Status::Ok(),
                    r->reprint_id + " " + r->status +
                        (r->new_job_id.empty() ? "" : " -> " + r->new_job_id) + ": " + *reason,
                    approved ? 201 : 202, dump(ToJson(*r)));
    }
  }
  if (n >= 2 && s[1] == "reprints") {
    if (n == 2) {
      if (!get) return method_not_allowed();
      const std::string status = Param(q, "status");
      auto list = backend_.Reprints(status);
      if (!list.ok()) return ErrorResponse(list.status());
      json arr = json::array();
      for (const auto& r : *list) arr.push_back(ToJson(r));
      return JsonResponse(200, {{"reprints", arr}});
    }
    const std::string& id = s[2];
    if (n == 3) {
      if (!get) return method_not_allowed();
      auto r = backend_.Reprint(id);
      if (!r.ok()) return ErrorResponse(r.status());
      return JsonResponse(200, ToJson(*r));
    }
    if (n == 4 && (s[3] == "approve" || s[3] == "reject")) {
      if (!post) return method_not_allowed();
      const bool approve = s[3] == "approve";
      const std::string action = approve ? "reprint.approve" : "reprint.reject";
      if (who.role == Role::kOperator) {
        return Action(who, action, id,
                      Forbidden("approving or rejecting a reprint needs qa or admin"), "", 0, "");
      }
      auto body = ParseBody(req.body);
      if (!body.ok()) return Action(who, action, id, body.status(), "", 0, "");
      auto reason = ReasonField(*body, false);
      if (!reason.ok()) return Action(who, action, id, reason.status(), "", 0, "");
      auto existing = backend_.Reprint(id);
      if (!existing.ok()) return Action(who, action, id, existing.status(), "", 0, "");
      if (existing->requested_by == who.name) {
        return Action(who, action, id, Forbidden("a reprint needs a second person's decision"), "",
                      0, "");
      }
      auto r = backend_.DecideReprint(id, approve, who.name);
      if (!r.ok()) return Action(who, action, id, r.status(), *reason, 0, "");
      return Action(who, action, id, Status::Ok(),
                    r->job_id + (r->new_job_id.empty() ? "" : " -> " + r->new_job_id) +
                        (reason->empty() ? "" : ": " + *reason),
                    200, dump(ToJson(*r)));
    }
  }
  if (n >= 2 && s[1] == "stations") {
    if (n == 2) {
      if (!get) return method_not_allowed();
      auto st = backend_.Stations();
      if (!st.ok()) return ErrorResponse(st.status());
      json arr = json::array();
      for (const auto& x : *st) arr.push_back(ToJson(x));
      return JsonResponse(200, {{"stations", arr}});
    }
    if (n == 4 && (s[3] == "pause" || s[3] == "resume")) {
      if (!post) return method_not_allowed();
      const bool pause = s[3] == "pause";
      const std::string action = pause ? "station.pause" : "station.resume";
      if (who.role == Role::kQa) {
        return Action(who, action, s[2], Forbidden("station control needs operator or admin"), "",
                      0, "");
      }
      Status st = backend_.SetStationPaused(s[2], pause, who.name);
      return Action(who, action, s[2], st, "", 200,
                    dump({{"station_id", s[2]}, {"paused", pause}}));
    }
  }
  if (n == 2 && s[1] == "events") {
    if (!get) return method_not_allowed();
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.stream_events = true;
    r.body = "retry: 2000\n: connected as " + (IsSafeId(who.name) ? who.name : "user") + "\n\n";
    return r;
  }
  if (n == 2 && s[1] == "audit") {
    if (!get) return method_not_allowed();
    if (who.role != Role::kAdmin) return ErrorResponse(Forbidden("the audit trail needs admin"));
    if (audit_ == nullptr) return JsonResponse(200, {{"entries", json::array()}});
    auto limit = IntParam(q, "limit", 100, 1, 1000);
    if (!limit.ok()) return ErrorResponse(limit.status());
    auto tail = audit_->Tail(static_cast<size_t>(*limit));
    if (!tail.ok()) return ErrorResponse(tail.status());
    json arr = json::array();
    for (const auto& e : *tail) arr.push_back(ToJson(e));
    return JsonResponse(200, {{"entries", arr}});
  }
  return ErrorResponse(Status(Code::kNotFound, "no such endpoint"));
}

HttpResponse Api::Metrics() {
  auto m = backend_.Metrics();
  if (!m.ok()) return ErrorResponse(m.status());
  std::ostringstream o;
  o << "# HELP cardbureau_jobs Jobs in the store by state.\n"
       "# TYPE cardbureau_jobs gauge\n";
  for (const auto& [state, count] : m->jobs_by_state) {
    o << "cardbureau_jobs{state=\"" << PromLabel(state) << "\"} " << count << "\n";
  }
  o << "# HELP cardbureau_cards_per_hour Cards completed in the last 3600 seconds.\n"
       "# TYPE cardbureau_cards_per_hour gauge\n"
       "cardbureau_cards_per_hour "
    << m->cards_produced_last_hour << "\n";
  o << "# HELP cardbureau_failures_total Failures by catalogue code.\n"
       "# TYPE cardbureau_failures_total counter\n";
  for (const auto& [code, count] : m->failures_by_code) {
    o << "cardbureau_failures_total{code=\"" << PromLabel(code) << "\"} " << count << "\n";
  }
  o << "# HELP cardbureau_history_faults_total Faults recorded in the jobs' histories, by code.\n"
       "# TYPE cardbureau_history_faults_total counter\n";
  for (const auto& [code, count] : m->history_faults_by_code) {
    o << "cardbureau_history_faults_total{code=\"" << PromLabel(code) << "\"} " << count << "\n";
  }
  o << "# HELP cardbureau_queue_depth Jobs waiting for a station.\n"
       "# TYPE cardbureau_queue_depth gauge\n"
       "cardbureau_queue_depth "
    << m->queue_depth << "\n";
  if (m->link) {
    const auto& l = *m->link;
    o << "# HELP cardbureau_centre_link_up 1 while the bureau has a session with the centre.\n"
         "# TYPE cardbureau_centre_link_up gauge\n"
         "cardbureau_centre_link_up "
      << (l.state == "connected" ? 1 : 0) << "\n";
    o << "# HELP cardbureau_centre_link_since_seconds Unix time the link last changed state.\n"
         "# TYPE cardbureau_centre_link_since_seconds gauge\n"
         "cardbureau_centre_link_since_seconds "
      << l.since_ms / 1000 << "\n";
    o << "# HELP cardbureau_centre_last_heartbeat_seconds Unix time of the last message from "
         "the centre (0 = never).\n"
         "# TYPE cardbureau_centre_last_heartbeat_seconds gauge\n"
         "cardbureau_centre_last_heartbeat_seconds "
      << l.last_heartbeat_ms / 1000 << "\n";
    o << "# HELP cardbureau_centre_reconnects_total Sessions with the centre after the first.\n"
         "# TYPE cardbureau_centre_reconnects_total counter\n"
         "cardbureau_centre_reconnects_total "
      << l.reconnects << "\n";
  }
  o << "# HELP cardbureau_oldest_open_job_working_days Age of the oldest open job in working "
       "days since confirmation.\n"
       "# TYPE cardbureau_oldest_open_job_working_days gauge\n"
       "cardbureau_oldest_open_job_working_days "
    << m->oldest_open_job_working_days << "\n";
  o << "# HELP cardbureau_open_faults Station faults not acknowledged yet.\n"
       "# TYPE cardbureau_open_faults gauge\n"
       "cardbureau_open_faults "
    << m->open_faults << "\n";
  o << "# HELP cardbureau_station_up 1 when the station can take cards (idle, busy or paused).\n"
       "# TYPE cardbureau_station_up gauge\n";
  for (const auto& [id, state] : m->station_states) {
    const bool up = state == "idle" || state == "busy" || state == "paused";
    o << "cardbureau_station_up{station=\"" << PromLabel(id) << "\"} " << (up ? 1 : 0) << "\n";
  }
  o << "# HELP cardbureau_station_state Current state of each station (1 = in that state).\n"
       "# TYPE cardbureau_station_state gauge\n";
  for (const auto& [id, state] : m->station_states) {
    o << "cardbureau_station_state{station=\"" << PromLabel(id) << "\",state=\"" << PromLabel(state)
      << "\"} 1\n";
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = o.str();
  return r;
}

Result<std::filesystem::path> ResolveWebRoot(const std::filesystem::path& configured) {
  std::filesystem::path dir = configured;
  if (dir.empty()) {
    auto found = FindShared(SharedItem::kWeb);
    if (!found.ok()) {
      return Status(Code::kInvalidConfig,
                    "no dashboard page: " + found.status().message() + "; pass --web DIR",
                    "http.web");
    }
    dir = std::move(found).value();
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir / "index.html", ec)) {
    return Status(Code::kInvalidConfig,
                  "no dashboard page: " + (dir / "index.html").string() + " is not a file",
                  "http.web");
  }
  return dir;
}

HttpResponse Api::Static(const ParsedTarget& t) {
  if (options_.web_root.empty()) {
    return ErrorResponse(Status(Code::kNotFound, "no such endpoint"));
  }
  std::filesystem::path rel;
  for (const auto& seg : t.segments) rel /= seg;
  if (t.segments.empty()) rel = "index.html";
  std::error_code ec;
  const auto root = std::filesystem::weakly_canonical(options_.web_root, ec);
  if (ec) return ErrorResponse(Status(Code::kNotFound, "no such file"));
  const auto full = std::filesystem::weakly_canonical(root / rel, ec);
  // Symlinks out of the web root are refused like "..".
  const auto [root_end, full_it] =
      std::mismatch(root.begin(), root.end(), full.begin(), full.end());
  if (ec || root_end != root.end()) {
    return ErrorResponse(Status(Code::kBadRequest, "path traversal refused"));
  }
  if (!std::filesystem::is_regular_file(full, ec)) {
    return ErrorResponse(Status(Code::kNotFound, "no such file"));
  }
  auto data = ReadFileLimited(full, options_.max_static_file);
  if (!data.ok()) return ErrorResponse(data.status());
  HttpResponse r;
  r.content_type = ContentTypeFor(full);
  r.body = std::move(*data);
  r.headers.emplace_back("Cache-Control", "no-cache");
  if (full.extension() == ".html") {
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' blob: data:; "
                           "style-src 'self'; script-src 'self'; frame-ancestors 'none'");
  }
  return r;
}

}  // namespace cardbureau::http
