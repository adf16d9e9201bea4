// Pure API tests (no sockets): target parsing, error mapping, SSE framing,
// metrics text, static files. Role rules over real HTTP: tests/http/.
#include "cardbureau/http/api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cardbureau/http/fake_backend.h"

namespace cardbureau::http {
namespace {

TEST(ParseTarget, SplitsAndDecodes) {
  auto t = ParseTarget("/api/jobs?q=%E5%BC%A0+三&limit=5&&state=");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->segments, (std::vector<std::string>{"api", "jobs"}));
  EXPECT_EQ(t->path, "/api/jobs");
  EXPECT_EQ(t->query.at("q"), "张 三");
  EXPECT_EQ(t->query.at("limit"), "5");
  EXPECT_EQ(t->query.at("state"), "");
  auto root = ParseTarget("/");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->segments.empty());
  EXPECT_EQ(root->path, "/");
  EXPECT_EQ(ParseTarget("//api///whoami/")->path, "/api/whoami");
}

TEST(ParseTarget, RefusesTraversalAndJunk) {
  for (const char* bad :
       {"", "api", "http://x/api", "/../etc/passwd", "/a/%2e%2e/b", "/a/%2E%2E", "/./x", "/a%2fb",
        "/a%5cb", "/a\\b", "/%00", "/a%0a", "/%zz", "/%4", "/?a=%"}) {
    auto t = ParseTarget(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().code(), Code::kBadRequest) << bad;
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "/a";
  EXPECT_FALSE(ParseTarget(deep).ok());
}

TEST(ErrorResponse, MapsCodesToStatusesWithJsonBody) {
  struct {
    Code code;
    int status;
  } cases[] = {{Code::kUnauthorized, 401},  {Code::kForbidden, 403},
               {Code::kNotFound, 404},      {Code::kFailedPrecondition, 409},
               {Code::kInputTooLarge, 413}, {Code::kInvalidJson, 400},
               {Code::kBadRequest, 400},    {Code::kStorageError, 500}};
  for (const auto& c : cases) {
    HttpResponse r = ErrorResponse(Status(c.code, "secret detail"));
    EXPECT_EQ(r.status, c.status);
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["code"], std::string(CodeName(c.code)));
    // 5xx details stay in the log, not on the wire.
    EXPECT_EQ(j["message"] == "secret detail", c.status < 500);
  }
}

TEST(EventToSse, FramesOneEvent) {
  std::string s = EventToSse({"job", "B-001", "encoding", "B", "", 42});
  EXPECT_EQ(s.rfind("event: job\ndata: {", 0), 0u);
  EXPECT_EQ(s.substr(s.size() - 2), "\n\n");
  auto j = nlohmann::json::parse(s.substr(s.find("data: ") + 6));
  EXPECT_EQ(j["id"], "B-001");
  EXPECT_EQ(j["at_ms"], 42);
  // A kind that could inject SSE fields is sent as a plain message.
  std::string evil = EventToSse({"job\ndata: x", "1", "s", "", "", 0});
  EXPECT_EQ(evil.rfind("event: message\n", 0), 0u);
  EXPECT_EQ(evil.find("\n\n"), evil.size() - 2);
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() {
    auto t = TokenTable::Parse(R"({"tokens":[{"name":"ad","role":"admin","sha256":")" +
                               HashToken("tok") + R"("}]})");
    tokens_ = *t;
    std::filesystem::create_directories(web_ / "sub");
    std::ofstream(web_ / "index.html") << "<html>hi</html>";
    std::ofstream(web_ / "sub" / "app.js") << "1;";
    std::ofstream(web_.parent_path() / ("cb_secret_" + std::to_string(::getpid()))) << "secret";
    backend_.AddStation("s1");
    backend_.AddBatch("B", "11010810", "School", 2);
  }
  ~ApiTest() override {
    std::filesystem::remove_all(web_);
    std::filesystem::remove(web_.parent_path() / ("cb_secret_" + std::to_string(::getpid())));
  }
  HttpResponse Get(const std::string& target, const std::string& auth = "Bearer tok") {
    return api_.Handle({"GET", target, auth, ""});
  }

  SystemClock clock_;
  FakeBackend backend_{clock_};
  TokenTable tokens_;
  std::filesystem::path web_ =
      std::filesystem::temp_directory_path() / ("cb_web_" + std::to_string(::getpid()));
  Api api_{backend_, tokens_, nullptr, ApiOptions{web_}};
};

TEST_F(ApiTest, ServesStaticFilesWithoutAuth) {
  auto r = Get("/", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<html>hi</html>");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  auto js = Get("/sub/app.js", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Get("/nope.css", "").status, 404);
  EXPECT_EQ(Get("/sub", "").status, 404);  // a directory is not a file
}

TEST_F(ApiTest, RefusesStaticTraversalIncludingSymlinks) {
  const std::string secret = "cb_secret_" + std::to_string(::getpid());
  EXPECT_EQ(Get("/../" + secret, "").status, 400);
  EXPECT_EQ(Get("/%2e%2e/" + secret, "").status, 400);
  std::filesystem::create_symlink(web_.parent_path() / secret, web_ / "link");
  auto r = Get("/link", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.find("secret\""), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(r.body)["code"], "BAD_REQUEST");
}

TEST_F(ApiTest, MetricsCoverEveryFamily) {
  backend_.InjectFault("s1", "PRINTER_JAM");
  backend_.RunUntilIdle();
  auto r = Get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("cardbureau_jobs{state=\"reported\"} 2\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("cardbureau_jobs{state=\"failed\"} 0\n"), std::string::npos);
  EXPECT_NE(r.body.find("cardbureau_cards_per_hour 2\n"), std::string::npos);
  EXPECT_NE(r.body.find("cardbureau_failures_total{code=\"PRINTER_JAM\"} 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("cardbureau_queue_depth 0\n"), std::string::npos);
  EXPECT_NE(r.body.find("cardbureau_station_up{station=\"s1\"} 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("cardbureau_station_state{station=\"s1\",state=\"idle\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(Get("/metrics", "").status, 401);
}

TEST_F(ApiTest, OverviewRoutesAnswerFromTheBackend) {
  // The fake backend has no intake loop, store faults or batch files: the
  // routes answer with the interface's defaults.
  auto link = Get("/api/link");
  ASSERT_EQ(link.status, 200);
  EXPECT_EQ(nlohmann::json::parse(link.body)["state"], "none");
  auto kpis = Get("/api/kpis");
  ASSERT_EQ(kpis.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(kpis.body).contains("cards_per_hour_15min"));
  auto sla = Get("/api/sla");
  ASSERT_EQ(sla.status, 200);
  EXPECT_EQ(nlohmann::json::parse(sla.body)["flag_after_days"], 15);
  auto faults = Get("/api/faults?open=1");
  ASSERT_EQ(faults.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(faults.body)["faults"].empty());
  EXPECT_EQ(api_.Handle({"POST", "/api/faults/abc/ack", "Bearer tok", ""}).status, 404);
  EXPECT_EQ(api_.Handle({"POST", "/api/faults/7/ack", "Bearer tok", ""}).status, 404);
  EXPECT_EQ(Get("/api/faults/7/ack").status, 405);
  EXPECT_EQ(Get("/api/batches/B/manifest").status, 404);
  EXPECT_EQ(Get("/api/link", "").status, 401);
  auto metrics = Get("/metrics");
  EXPECT_NE(metrics.body.find("cardbureau_oldest_open_job_working_days 0\n"), std::string::npos);
  EXPECT_EQ(metrics.body.find("cardbureau_centre_link_up"), std::string::npos);  // no loop
}

TEST_F(ApiTest, BadQueryParametersAre400) {
  EXPECT_EQ(Get("/api/jobs?limit=abc").status, 400);
  EXPECT_EQ(Get("/api/jobs?offset=-1").status, 400);
  EXPECT_EQ(Get("/api/jobs?q=" + std::string(101, 'x')).status, 400);
  auto ok = Get("/api/jobs?limit=99999");  // clamped, not refused
  EXPECT_EQ(ok.status, 200);
}

TEST_F(ApiTest, WrongMethodIs405AndUnknownRouteIs404) {
  EXPECT_EQ(api_.Handle({"DELETE", "/api/batches", "Bearer tok", ""}).status, 405);
  EXPECT_EQ(api_.Handle({"POST", "/index.html", "", ""}).status, 405);
  EXPECT_EQ(api_.Handle({"POST", "/healthz", "", ""}).status, 400);
  auto r = Get("/api/nothing/here");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(nlohmann::json::parse(r.body)["code"], "NOT_FOUND");
}

// `serve --http` / `dashboard-demo` refuse to start without the page
// (issue 19): a folder without index.html is INVALID_CONFIG http.web.
TEST(ResolveWebRoot, RefusesAFolderWithoutThePage) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("cb_webroot_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto missing = ResolveWebRoot(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kInvalidConfig);
  EXPECT_EQ(missing.status().field(), "http.web");
  auto absent = ResolveWebRoot(dir / "nope");
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().field(), "http.web");
  std::ofstream(dir / "index.html") << "<html></html>";
  auto found = ResolveWebRoot(dir);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::http
