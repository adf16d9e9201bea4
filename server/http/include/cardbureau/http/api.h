// The HTTP API as a pure request -> response function (no sockets), so it
// can be tested and fuzzed directly; HttpServer (server.h) only moves bytes.
//
// Routes (all JSON unless noted; every error is a JSON body
// {"code": "<CATALOGUE_CODE>", "message": "..."}):
//   GET  /healthz                         no auth
//   GET  /api/whoami                      any role
//   GET  /api/batches, /api/batches/{id}  any role
//   GET  /api/jobs?state=&school=&code=&q=&limit=&offset=   any role
//   GET  /api/jobs/{id}                   any role (detail + timeline)
//   GET  /api/jobs/{id}/preview/front|back  any role (image/png)
//   POST /api/jobs/{id}/reprint {"reason"}  operator -> pending (needs qa);
//                                           qa/admin -> approved at once
//   GET  /api/reprints?status=, /api/reprints/{id}  any role
//   POST /api/reprints/{id}/approve|reject  qa, admin; never the requester
//   GET  /api/stations                    any role
//   POST /api/stations/{id}/pause|resume  operator, admin
//   GET  /api/events                      any role; Server-Sent Events (the
//                                         response has stream_events set)
//   GET  /api/audit?limit=                admin
//   GET  /metrics                         any role; Prometheus text 0.0.4
//   GET  other paths                      static files from the web root, no
//                                         auth (the page carries no data)
// Status mapping: UNAUTHORIZED 401, FORBIDDEN 403, NOT_FOUND 404, wrong
// method 405 (BAD_REQUEST), FAILED_PRECONDITION/ALREADY_EXISTS 409,
// INPUT_TOO_LARGE 413, BAD_REQUEST/INVALID_JSON/INVALID_FIELD 400, the rest
// 500 (the message is generic; details stay in the server log).
// Every POST (allowed or refused after authentication) is appended to the
// audit trail with the caller, role, target and outcome.
//
// Thread-safety: Handle is thread-safe when the backend is.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cardbureau/core/status.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/auth.h"
#include "cardbureau/http/backend.h"

namespace cardbureau::http {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // origin-form: "/api/jobs?q=1"
  std::string authorization;  // Authorization header value, "" if absent
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // GET /api/events: the server answers with text/event-stream and then
  // forwards backend events (see EventToSse); body is the first chunk.
  bool stream_events = false;
};

// A decoded request target. Pure.
struct ParsedTarget {
  std::vector<std::string> segments;         // percent-decoded path segments
  std::map<std::string, std::string> query;  // decoded; last value wins
  std::string path;                          // decoded path, "/" joined
};

// Parses an origin-form target. BAD_REQUEST for an absolute or empty
// target, bad percent escapes, NUL/control bytes, '\\', "." or ".."
// segments (path traversal), or more than 32 segments / 32 query fields.
Result<ParsedTarget> ParseTarget(std::string_view target);

// {"code": "...", "message": "..."} with the HTTP status for the code.
HttpResponse ErrorResponse(const Status& status);
int HttpStatusFor(Code code);

// One SSE message ("event: <kind>\ndata: {json}\n\n") for an event.
std::string EventToSse(const DashboardEvent& event);

struct ApiOptions {
  std::filesystem::path web_root;  // static files; empty = none served
  size_t max_static_file = 4 * 1024 * 1024;
  size_t max_batch_file = 64 * 1024 * 1024;  // a batch manifest PDF
};

// The dashboard page folder a server is to serve: `configured` (--web,
// "http.web") when given, else the shared web/ folder found from the
// executable's location (core/share_dir.h: <prefix>/share/cardbureau/web, or
// the source tree's web/ for a binary in its build tree). INVALID_CONFIG
// (key http.web) when that folder has no index.html, so a server never
// starts without its page.
Result<std::filesystem::path> ResolveWebRoot(const std::filesystem::path& configured);

class Api {
 public:
  // `backend` and `tokens` must outlive the Api. `audit` may be null (then
  // actions are not recorded — tests and fuzzing only).
  Api(DashboardBackend& backend, const TokenTable& tokens, AuditTrail* audit,
      ApiOptions options = {});

  HttpResponse Handle(const HttpRequest& request);

  DashboardBackend& backend() { return backend_; }

 private:
  HttpResponse Route(const HttpRequest& request, const ParsedTarget& target, const Principal& who);
  HttpResponse Static(const ParsedTarget& target);
  HttpResponse Metrics();
  HttpResponse Action(const Principal& who, std::string_view action, std::string_view target,
                      const Status& outcome, std::string_view detail, int ok_status,
                      std::string ok_body);

  DashboardBackend& backend_;
  const TokenTable& tokens_;
  AuditTrail* audit_;
  ApiOptions options_;
};

}  // namespace cardbureau::http
