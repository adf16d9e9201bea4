#include "cardbureau/dashboard/service.h"

#include <cstdio>

#include "cardbureau/dashboard/line_backend.h"
#include "cardbureau/http/api.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/auth.h"
#include "cardbureau/http/server.h"
#include "cardbureau/http/sla.h"
#include "cardbureau/http/store_audit_head.h"
#include "cardbureau/line/line_config.h"

namespace cardbureau::dashboard {

namespace {

class HttpService final : public server::Service {
 public:
  HttpService(server::Bureau& bureau, http::TokenTable tokens,
              std::unique_ptr<http::AuditTrail> audit, std::unique_ptr<LineBackend> backend,
              http::ApiOptions api_options, http::HttpServerOptions server_options)
      : bureau_(bureau),
        tokens_(std::move(tokens)),
        audit_(std::move(audit)),
        backend_(std::move(backend)),
        api_(*backend_, tokens_, audit_.get(), std::move(api_options)),
        server_(api_, std::move(server_options)) {}

  ~HttpService() override {
    server_.Stop();
    bureau_.SetObserver(nullptr);
  }

  Status Start() {
    LineBackend* backend = backend_.get();
    bureau_.SetObserver([backend](const server::JobEvent& e) { backend->OnJobEvent(e); });
    return server_.Start();
  }
  uint16_t port() const { return server_.port(); }

 private:
  server::Bureau& bureau_;
  http::TokenTable tokens_;
  std::unique_ptr<http::AuditTrail> audit_;
  std::unique_ptr<LineBackend> backend_;
  http::Api api_;
  http::HttpServer server_;
};

}  // namespace

Result<std::unique_ptr<server::Service>> MakeHttpService(const server::ServeContext& ctx) {
  const server::HttpConfig& hc = ctx.config.http;
  http::HttpServerOptions server_options;
  CB_RETURN_IF_ERROR(http::ParseListenAddress(hc.listen, &server_options));
  // The page first: a dashboard without its page refuses to start.
  http::ApiOptions api_options;
  CB_ASSIGN_OR_RETURN(api_options.web_root, http::ResolveWebRoot(hc.web_dir));
  CB_ASSIGN_OR_RETURN(http::TokenTable tokens, http::TokenTable::Load(hc.tokens_file));
  // The trail's head is kept in the store (an earlier head file migrates).
  CB_ASSIGN_OR_RETURN(auto heads, http::StoreAuditHead::Open(ctx.store, ctx.config.data_dir));
  CB_ASSIGN_OR_RETURN(auto audit, http::AuditTrail::Open(ctx.config.data_dir, ctx.clock, heads));
  auto* line = dynamic_cast<line::Line*>(ctx.bureau.production());
  server::Bureau* bureau = &ctx.bureau;
  // The SLA policy (working days, flag share, public holidays): DATA/sla.json.
  CB_ASSIGN_OR_RETURN(http::SlaPolicy sla, http::LoadSlaPolicy(ctx.config.data_dir / "sla.json"));
  auto backend = std::make_unique<LineBackend>(
      ctx.store, line, [bureau](const std::string& id) { bureau->StartAttempt(id); }, ctx.clock);
  backend->SetSlaPolicy(std::move(sla));
  backend->SetLinkSource([bureau] { return bureau->link(); });
  // The stock gauge's warning level: line.json "stock": {"low_level": N}.
  if (auto lc = line::LoadLineConfig(ctx.config.data_dir / "line.json"); lc.ok()) {
    backend->SetStockLowLevel(lc->stock_low_level);
  }
  auto service =
      std::make_unique<HttpService>(ctx.bureau, std::move(tokens), std::move(audit),
                                    std::move(backend), std::move(api_options), server_options);
  CB_RETURN_IF_ERROR(service->Start());
  std::fprintf(stderr, "cardbureau serve: dashboard on http://%s:%u\n",
               server_options.address.c_str(), static_cast<unsigned>(service->port()));
  return std::unique_ptr<server::Service>(std::move(service));
}

}  // namespace cardbureau::dashboard
