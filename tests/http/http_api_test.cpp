// API tests over real HTTP on loopback: HttpServer + Api + FakeBackend +
// AuditTrail. Every endpoint, every role rule, the error bodies, the limits,
// the event stream and a clean stop.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "cardbureau/http/api.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/auth.h"
#include "cardbureau/http/commands.h"
#include "cardbureau/http/fake_backend.h"
#include "cardbureau/http/server.h"
#include "cardbureau/testing/wait.h"

namespace cardbureau::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  std::string retry_after;
  json Json() const { return json::parse(body); }
  std::string code() const { return Json().value("code", ""); }
};

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cb_http_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto t = TokenTable::Parse(
        json{{"tokens",
              {{{"name", "wang"}, {"role", "operator"}, {"sha256", HashToken("tok-op")}},
               {{"name", "li"}, {"role", "qa"}, {"sha256", HashToken("tok-qa")}},
               {{"name", "zhao"}, {"role", "admin"}, {"sha256", HashToken("tok-admin")}}}}}
            .dump());
    ASSERT_TRUE(t.ok()) << t.status();
    tokens_ = *t;
    backend_ = std::make_unique<FakeBackend>(clock_, dir_ / "previews");
    backend_->AddStation("s1");
    backend_->AddStation("s2");
    ids_ = backend_->AddBatch("B1", "11010810", "北京一零一中学", 3);
    backend_->AddRejectedJob("B1", "B1-X01", "PHOTO_NO_FACE");
    auto audit = AuditTrail::Open(dir_, clock_);
    ASSERT_TRUE(audit.ok()) << audit.status();
    audit_ = std::move(*audit);
    ApiOptions opt;
    opt.web_root = std::string(CARDBUREAU_SOURCE_DIR) + "/web";
    api_ = std::make_unique<Api>(*backend_, tokens_, audit_.get(), opt);
    HttpServerOptions so;
    so.port = 0;
    so.header_limit = 4096;
    so.body_limit = 4096;
    so.sse_keepalive = std::chrono::milliseconds(200);
    server_ = std::make_unique<HttpServer>(*api_, so);
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    server_.reset();
    api_.reset();
    audit_.reset();
    backend_.reset();
    std::filesystem::remove_all(dir_);
  }

  tcp::socket Connect() {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    return s;
  }

  Reply Send(const std::string& method, const std::string& target, const std::string& token,
             const std::string& body = "") {
    tcp::socket s = Connect();
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    bhttp::write(s, req);
    return ReadReply(s);
  }
  Reply ReadReply(tcp::socket& s) {
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(16 * 1024 * 1024);
    bhttp::read(s, buf, p);
    auto res = p.release();
    return {static_cast<int>(res.result_int()), std::string(res[bhttp::field::content_type]),
            res.body(), std::string(res[bhttp::field::retry_after])};
  }
  Reply Get(const std::string& target, const std::string& token = "tok-op") {
    return Send("GET", target, token);
  }
  Reply Post(const std::string& target, const std::string& token,
             const json& body = json::object()) {
    return Send("POST", target, token, body.dump());
  }
  // Sends raw bytes and reads one response.
  Reply Raw(const std::string& bytes) {
    tcp::socket s = Connect();
    net::write(s, net::buffer(bytes));
    return ReadReply(s);
  }
  std::vector<AuditRecord> AuditEntries() {
    auto tail = audit_->Tail(1000);
    EXPECT_TRUE(tail.ok());
    return std::vector<AuditRecord>(tail->rbegin(), tail->rend());
  }
  void ExpectServerAlive() {
    Reply r = Get("/healthz", "");
    EXPECT_EQ(r.status, 200);
  }

  SystemClock clock_;
  std::filesystem::path dir_;
  TokenTable tokens_;
  std::unique_ptr<FakeBackend> backend_;
  std::unique_ptr<AuditTrail> audit_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::string> ids_;
  uint16_t port_ = 0;
  net::io_context ioc_;
};

TEST_F(HttpApiTest, HealthzNeedsNoToken) {
  Reply r = Get("/healthz", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.Json()["status"], "ok");
}

TEST_F(HttpApiTest, EveryApiEndpointNeedsAToken) {
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"GET", "/api/whoami"},
      {"GET", "/api/batches"},
      {"GET", "/api/batches/B1"},
      {"GET", "/api/jobs"},
      {"GET", "/api/jobs/B1-001"},
      {"GET", "/api/jobs/B1-001/preview/front"},
      {"POST", "/api/jobs/B1-001/reprint"},
      {"GET", "/api/reprints"},
      {"POST", "/api/reprints/RP1/approve"},
      {"POST", "/api/reprints/RP1/reject"},
      {"GET", "/api/stations"},
      {"POST", "/api/stations/s1/pause"},
      {"POST", "/api/stations/s1/resume"},
      {"GET", "/api/events"},
      {"GET", "/api/audit"},
      {"GET", "/metrics"},
      {"GET", "/api/unknown"}};
  for (const auto& [method, target] : endpoints) {
    for (const std::string token : {"", "wrong-token"}) {
      Reply r = Send(method, target, token, method == "POST" ? "{\"reason\":\"x\"}" : "");
      EXPECT_EQ(r.status, 401) << method << " " << target << " token=" << token;
      EXPECT_EQ(r.code(), "UNAUTHORIZED") << target;
    }
  }
  EXPECT_EQ(backend_->Reprints("")->size(), 0u);  // nothing happened
  EXPECT_EQ(backend_->Stations()->at(0).state, "idle");
  EXPECT_TRUE(AuditEntries().empty());  // anonymous calls are refused before any action
}

TEST_F(HttpApiTest, WhoamiReportsNameAndRole) {
  EXPECT_EQ(Get("/api/whoami", "tok-op").Json(), (json{{"name", "wang"}, {"role", "operator"}}));
  EXPECT_EQ(Get("/api/whoami", "tok-qa").Json()["role"], "qa");
  EXPECT_EQ(Get("/api/whoami", "tok-admin").Json()["role"], "admin");
}

TEST_F(HttpApiTest, BatchesWithCounts) {
  backend_->Step();  // two jobs go to the stations
  Reply r = Get("/api/batches");
  ASSERT_EQ(r.status, 200);
  auto b = r.Json()["batches"].at(0);
  EXPECT_EQ(b["batch_id"], "B1");
  EXPECT_EQ(b["school_name"], "北京一零一中学");
  EXPECT_EQ(b["total"], 4);
  EXPECT_EQ(b["in_progress"], 2);
  EXPECT_EQ(b["queued"], 1);
  EXPECT_EQ(b["rejected"], 1);
  EXPECT_EQ(b["produced"], 0);
  backend_->RunUntilIdle();
  Reply one = Get("/api/batches/B1", "tok-qa");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.Json()["produced"], 3);
  Reply missing = Get("/api/batches/NOPE");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.code(), "NOT_FOUND");
}

TEST_F(HttpApiTest, JobSearchFiltersAndTimeline) {
  backend_->RunUntilIdle();
  EXPECT_EQ(Get("/api/jobs").Json()["total"], 4);
  EXPECT_EQ(Get("/api/jobs?state=rejected").Json()["jobs"].at(0)["job_id"], "B1-X01");
  EXPECT_EQ(Get("/api/jobs?state=rejected").Json()["jobs"].at(0)["last_code"], "PHOTO_NO_FACE");
  EXPECT_EQ(Get("/api/jobs?school=11010810").Json()["total"], 4);
  EXPECT_EQ(Get("/api/jobs?school=99999999").Json()["total"], 0);
  EXPECT_EQ(Get("/api/jobs?code=" + ids_[1]).Json()["jobs"].size(), 1u);
  // Text search matches the student name (percent-encoded UTF-8).
  Reply by_name = Get("/api/jobs?q=%E6%B5%8B%E8%AF%95%E5%AD%A6%E7%94%9F2");
  ASSERT_EQ(by_name.status, 200);
  EXPECT_EQ(by_name.Json()["jobs"].at(0)["job_id"], ids_[1]);
  Reply page = Get("/api/jobs?limit=2&offset=1");
  EXPECT_EQ(page.Json()["jobs"].size(), 2u);
  EXPECT_EQ(page.Json()["jobs"].at(0)["job_id"], ids_[1]);

  Reply d = Get("/api/jobs/" + ids_[0], "tok-qa");
  ASSERT_EQ(d.status, 200);
  auto j = d.Json();
  EXPECT_EQ(j["state"], "reported");
  EXPECT_TRUE(j["has_front_preview"].get<bool>());
  std::vector<std::string> states;
  for (const auto& t : j["timeline"]) states.push_back(t["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"received", "validated", "encoding", "encoded",
                                              "printed", "verified", "reported"}));
  EXPECT_EQ(j["timeline"].at(2)["station"], "s1");
  EXPECT_EQ(Get("/api/jobs/NOPE").status, 404);
}

TEST_F(HttpApiTest, CardPreviewsArePng) {
  EXPECT_EQ(Get("/api/jobs/" + ids_[0] + "/preview/front").status, 404);  // not rendered yet
  backend_->RunUntilIdle();
  for (const char* side : {"front", "back"}) {
    Reply r = Get("/api/jobs/" + ids_[0] + "/preview/" + side);
    ASSERT_EQ(r.status, 200) << side;
    EXPECT_EQ(r.content_type, "image/png");
    ASSERT_GT(r.body.size(), 8u);
    EXPECT_EQ(r.body.substr(1, 3), "PNG");
  }
  EXPECT_EQ(Get("/api/jobs/" + ids_[0] + "/preview/side").status, 404);
  EXPECT_EQ(Get("/api/jobs/NOPE/preview/front").code(), "NOT_FOUND");
  EXPECT_EQ(Get("/api/jobs/B1-X01/preview/front").status, 404);
}

TEST_F(HttpApiTest, StationsPauseResumeByRole) {
  Reply list = Get("/api/stations", "tok-qa");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Json()["stations"].size(), 2u);
  EXPECT_EQ(list.Json()["stations"].at(0)["state"], "idle");

  Reply qa = Post("/api/stations/s1/pause", "tok-qa");
  EXPECT_EQ(qa.status, 403);
  EXPECT_EQ(qa.code(), "FORBIDDEN");
  EXPECT_EQ(backend_->Stations()->at(0).state, "idle");

  EXPECT_EQ(Post("/api/stations/s1/pause", "tok-op").status, 200);
  EXPECT_EQ(Get("/api/stations").Json()["stations"].at(0)["state"], "paused");
  backend_->RunUntilIdle();
  EXPECT_EQ(backend_->Stations()->at(0).produced, 0);  // paused: no work taken
  EXPECT_EQ(Post("/api/stations/s1/resume", "tok-admin").status, 200);
  EXPECT_EQ(Get("/api/stations").Json()["stations"].at(0)["state"], "idle");
  EXPECT_EQ(Post("/api/stations/s9/pause", "tok-op").status, 404);
  EXPECT_EQ(Send("GET", "/api/stations/s1/pause", "tok-op").status, 405);

  backend_->AddBatch("B2", "11010810", "北京一零一中学", 1);
  backend_->InjectFault("s1", "PRINTER_JAM");
  backend_->Step();  // s1 takes B2-001
  backend_->Step();  // and jams
  auto s1 = Get("/api/stations").Json()["stations"].at(0);
  EXPECT_EQ(s1["failed"], 1);
  EXPECT_EQ(s1["last_faults"].at(0)["code"], "PRINTER_JAM");
}

TEST_F(HttpApiTest, OperatorReprintWaitsForQaApproval) {
  backend_->RunUntilIdle();
  Reply req = Post("/api/jobs/" + ids_[0] + "/reprint", "tok-op", {{"reason", "smudged print"}});
  ASSERT_EQ(req.status, 202) << req.body;
  auto r = req.Json();
  EXPECT_EQ(r["status"], "pending");
  EXPECT_EQ(r["requested_by"], "wang");
  const std::string id = r["reprint_id"];
  // Nothing runs before the approval.
  backend_->RunUntilIdle();
  EXPECT_FALSE(Get("/api/jobs/" + ids_[0]).Json()["card_voided"].get<bool>());
  EXPECT_EQ(Get("/api/jobs").Json()["total"], 4);

  Reply self = Post("/api/reprints/" + id + "/approve", "tok-op");
  EXPECT_EQ(self.status, 403);
  EXPECT_EQ(self.code(), "FORBIDDEN");
  EXPECT_EQ(Get("/api/reprints/" + id).Json()["status"], "pending");

  Reply ok = Post("/api/reprints/" + id + "/approve", "tok-qa");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Json()["status"], "approved");
  EXPECT_EQ(ok.Json()["decided_by"], "li");
  const std::string new_job = ok.Json()["new_job_id"];
  EXPECT_EQ(Get("/api/jobs/" + new_job).Json()["reprint_of"], ids_[0]);
  EXPECT_TRUE(Get("/api/jobs/" + ids_[0]).Json()["card_voided"].get<bool>());
  backend_->RunUntilIdle();
  EXPECT_EQ(Get("/api/jobs/" + new_job).Json()["state"], "reported");
  EXPECT_EQ(Get("/api/batches/B1").Json()["reprinted"], 1);
  // Decided requests cannot be decided again.
  EXPECT_EQ(Post("/api/reprints/" + id + "/reject", "tok-admin").status, 409);
  EXPECT_EQ(Post("/api/reprints/" + id + "/approve", "tok-qa").code(), "FAILED_PRECONDITION");
  // The voided card cannot be reprinted twice.
  EXPECT_EQ(Post("/api/jobs/" + ids_[0] + "/reprint", "tok-qa", {{"reason", "x"}}).status, 409);
}

TEST_F(HttpApiTest, QaAndAdminReprintsRunAtOnce) {
  backend_->RunUntilIdle();
  Reply qa = Post("/api/jobs/" + ids_[1] + "/reprint", "tok-qa", {{"reason", "chip failed QA"}});
  ASSERT_EQ(qa.status, 201) << qa.body;
  EXPECT_EQ(qa.Json()["status"], "approved");
  EXPECT_EQ(qa.Json()["decided_by"], "li");
  Reply admin = Post("/api/jobs/" + ids_[2] + "/reprint", "tok-admin", {{"reason", "lost"}});
  ASSERT_EQ(admin.status, 201);
  EXPECT_FALSE(admin.Json()["new_job_id"].get<std::string>().empty());
}

TEST_F(HttpApiTest, RejectingAReprintNeedsQa) {
  backend_->RunUntilIdle();
  const std::string id = Post("/api/jobs/" + ids_[0] + "/reprint", "tok-op", {{"reason", "bent"}})
                             .Json()["reprint_id"];
  EXPECT_EQ(Post("/api/reprints/" + id + "/reject", "tok-op").status, 403);
  Reply r = Post("/api/reprints/" + id + "/reject", "tok-qa", {{"reason", "card is fine"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["status"], "rejected");
  EXPECT_TRUE(r.Json()["new_job_id"].get<std::string>().empty());
  EXPECT_FALSE(Get("/api/jobs/" + ids_[0]).Json()["card_voided"].get<bool>());
  EXPECT_EQ(Get("/api/reprints?status=rejected").Json()["reprints"].size(), 1u);
  EXPECT_EQ(Get("/api/reprints?status=pending").Json()["reprints"].size(), 0u);
  EXPECT_EQ(Get("/api/reprints/RP999").status, 404);
  EXPECT_EQ(Post("/api/reprints/RP999/approve", "tok-qa").status, 404);
}

TEST_F(HttpApiTest, ReprintInputErrors) {
  backend_->RunUntilIdle();
  const std::string t = "/api/jobs/" + ids_[0] + "/reprint";
  Reply no_reason = Post(t, "tok-op");
  EXPECT_EQ(no_reason.status, 400);
  EXPECT_EQ(no_reason.code(), "INVALID_FIELD");
  EXPECT_EQ(no_reason.Json()["field"], "reason");
  EXPECT_EQ(Post(t, "tok-op", {{"reason", "   "}}).status, 400);
  EXPECT_EQ(Post(t, "tok-op", {{"reason", 5}}).status, 400);
  EXPECT_EQ(Post(t, "tok-op", {{"reason", std::string(501, 'x')}}).status, 400);
  Reply bad_json = Send("POST", t, "tok-op", "{\"reason\": ");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.code(), "INVALID_JSON");
  EXPECT_EQ(Send("POST", t, "tok-op", "[1,2]").code(), "INVALID_JSON");
  EXPECT_EQ(Post("/api/jobs/NOPE/reprint", "tok-op", {{"reason", "x"}}).status, 404);
  EXPECT_EQ(Post("/api/jobs/B1-X01/reprint", "tok-op", {{"reason", "x"}}).status, 409);
  ASSERT_EQ(Post(t, "tok-op", {{"reason", "x"}}).status, 202);
  Reply dup = Post(t, "tok-op", {{"reason", "again"}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.code(), "FAILED_PRECONDITION");
}

TEST_F(HttpApiTest, EveryActionIsAuditedWithWhoAndOutcome) {
  backend_->RunUntilIdle();
  const std::string id = Post("/api/jobs/" + ids_[0] + "/reprint", "tok-op", {{"reason", "smudge"}})
                             .Json()["reprint_id"];
  Post("/api/reprints/" + id + "/approve", "tok-op");  // refused
  Post("/api/reprints/" + id + "/approve", "tok-qa");
  Post("/api/stations/s2/pause", "tok-qa");  // refused
  Post("/api/stations/s2/pause", "tok-op");
  Post("/api/jobs/" + ids_[1] + "/reprint", "tok-op");  // no reason
  auto e = AuditEntries();
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[0].actor, "wang");
  EXPECT_EQ(e[0].role, "operator");
  EXPECT_EQ(e[0].action, "reprint.request");
  EXPECT_EQ(e[0].target, ids_[0]);
  EXPECT_EQ(e[0].outcome, "OK");
  EXPECT_NE(e[0].detail.find("smudge"), std::string::npos);
  EXPECT_EQ(e[1].outcome, "FORBIDDEN");
  EXPECT_EQ(e[2].actor, "li");
  EXPECT_EQ(e[2].action, "reprint.approve");
  EXPECT_EQ(e[2].outcome, "OK");
  EXPECT_EQ(e[3].action, "station.pause");
  EXPECT_EQ(e[3].outcome, "FORBIDDEN");
  EXPECT_EQ(e[4].outcome, "OK");
  EXPECT_EQ(e[5].outcome, "INVALID_FIELD");
  for (const auto& x : e) EXPECT_GT(x.at_ms, 0);

  // The audit endpoint is admin only.
  EXPECT_EQ(Get("/api/audit", "tok-op").status, 403);
  EXPECT_EQ(Get("/api/audit", "tok-qa").status, 403);
  Reply a = Get("/api/audit?limit=2", "tok-admin");
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.Json()["entries"].size(), 2u);
  EXPECT_EQ(a.Json()["entries"].at(0)["seq"], 6);

  // `cardbureau audit verify` over the same file: intact, then broken.
  auto commands = Commands();
  auto audit_cmd = std::find_if(commands.begin(), commands.end(),
                                [](const Command& c) { return c.name == "audit"; });
  ASSERT_NE(audit_cmd, commands.end());
  std::string data = dir_.string();
  std::vector<std::string> args = {"audit", "verify", "--data", data};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  EXPECT_EQ(audit_cmd->run(static_cast<int>(argv.size()), argv.data()), 0);
  const auto file = dir_ / std::string(kAuditFileName);
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  text.replace(text.find("\"wang\""), 6, "\"zhou\"");
  std::ofstream(file, std::ios::trunc) << text;
  EXPECT_EQ(audit_cmd->run(static_cast<int>(argv.size()), argv.data()), 1);
  auto rep = VerifyAuditFile(file);
  ASSERT_TRUE(rep->broken_line.has_value());
  EXPECT_EQ(*rep->broken_line, 1);
}

TEST_F(HttpApiTest, MetricsInPrometheusText) {
  backend_->RunUntilIdle();
  Reply r = Get("/metrics", "tok-qa");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  for (const char* needle :
       {"# TYPE cardbureau_jobs gauge", "cardbureau_jobs{state=\"reported\"} 3",
        "cardbureau_jobs{state=\"rejected\"} 1", "cardbureau_cards_per_hour 3",
        "cardbureau_failures_total{code=\"PHOTO_NO_FACE\"} 1", "cardbureau_queue_depth 0",
        "cardbureau_station_up{station=\"s1\"} 1", "cardbureau_station_state{station=\"s2\""}) {
    EXPECT_NE(r.body.find(needle), std::string::npos) << needle;
  }
}

TEST_F(HttpApiTest, ConnectionCapsAnswerBusyAndSpareOtherClients) {
  server_.reset();
  HttpServerOptions so;
  so.port = 0;
  so.max_connections = 6;
  so.max_connections_per_client = 4;
  so.retry_after_s = 7;
  server_ = std::make_unique<HttpServer>(*api_, so);
  ASSERT_TRUE(server_->Start().ok());
  port_ = server_->port();
  auto connect_from = [&](const char* from) {
    tcp::socket s(ioc_);
    s.open(tcp::v4());
    s.bind(tcp::endpoint(net::ip::make_address(from), 0));
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    return s;
  };
  auto get_from = [&](const char* from) {
    tcp::socket s = connect_from(from);
    net::write(s, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
    return ReadReply(s);
  };
  auto wait_count = [&](size_t n) {
    (void)cardbureau::testing::WaitFor([&] { return server_->connection_count() == n; });
    return server_->connection_count();
  };
  // One client holds four idle connections: its own cap.
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_from("127.0.0.1"));
  ASSERT_EQ(wait_count(4), 4u);
  Reply mine = get_from("127.0.0.1");
  EXPECT_EQ(mine.status, 429);
  EXPECT_EQ(mine.retry_after, "7");
  EXPECT_EQ(mine.code(), "SERVER_BUSY");
  // Another operator's browser is still served.
  Reply other = get_from("127.0.0.2");
  EXPECT_EQ(other.status, 200);
  // Fill the global cap from a second address; a third address gets 503.
  ASSERT_EQ(wait_count(4), 4u);  // the served request's connection is closed
  for (int i = 0; i < 2; ++i) idle.push_back(connect_from("127.0.0.2"));
  ASSERT_EQ(wait_count(6), 6u);
  Reply busy = get_from("127.0.0.3");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.retry_after, "7");
  EXPECT_EQ(busy.code(), "SERVER_BUSY");
  // Once the idle connections go, everyone is served again.
  idle.clear();
  ASSERT_EQ(wait_count(0), 0u);
  EXPECT_EQ(get_from("127.0.0.1").status, 200);
  EXPECT_EQ(get_from("127.0.0.3").status, 200);
}

TEST_F(HttpApiTest, EventStreamDeliversProgress) {
  EXPECT_EQ(Get("/api/events", "").status, 401);
  tcp::socket s = Connect();
  const std::string req =
      "GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-op\r\n\r\n";
  net::write(s, net::buffer(req));
  // Wait until the stream is subscribed, then make progress.
  std::string got;
  std::array<char, 4096> buf{};
  while (got.find("connected") == std::string::npos) {
    size_t n = s.read_some(net::buffer(buf));
    got.append(buf.data(), n);
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(got.find("text/event-stream"), std::string::npos);
  backend_->Step();
  while (got.find("\"state\":\"encoding\"") == std::string::npos) {
    size_t n = s.read_some(net::buffer(buf));
    got.append(buf.data(), n);
  }
  EXPECT_NE(got.find("event: job\ndata: {"), std::string::npos);
  EXPECT_NE(got.find("\"id\":\"" + ids_[0] + "\""), std::string::npos);
  // Keep-alive comments arrive while idle.
  while (got.find(": keepalive") == std::string::npos) {
    size_t n = s.read_some(net::buffer(buf));
    got.append(buf.data(), n);
  }
  // A clean stop closes the open stream promptly.
  const auto t0 = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  beast::error_code ec;
  while (!ec) s.read_some(net::buffer(buf), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(HttpApiTest, OversizedHeadersAre431AndTheServerCarriesOn) {
  const std::string req =
      "GET /api/batches HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') +
      "\r\nAuthorization: Bearer tok-op\r\n\r\n";
  Reply r = Raw(req);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.code(), "INPUT_TOO_LARGE");
  ExpectServerAlive();
}

TEST_F(HttpApiTest, OversizedBodyIs413) {
  backend_->RunUntilIdle();
  json big = {{"reason", std::string(5000, 'x')}};
  Reply r = Post("/api/jobs/" + ids_[0] + "/reprint", "tok-op", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.code(), "INPUT_TOO_LARGE");
  EXPECT_EQ(backend_->Reprints("")->size(), 0u);
  ExpectServerAlive();
}

TEST_F(HttpApiTest, MalformedRequestIs400) {
  Reply r = Raw("GARBAGE\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.code(), "BAD_REQUEST");
  Reply bad_len = Raw("POST /api/whoami HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n");
  EXPECT_EQ(bad_len.status, 400);
  ExpectServerAlive();
}

TEST_F(HttpApiTest, UnknownRouteIs404Json) {
  Reply r = Get("/api/nothing", "tok-admin");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.code(), "NOT_FOUND");
  EXPECT_EQ(Get("/no-such-page.html", "").status, 404);
}

TEST_F(HttpApiTest, StaticFilesAndTraversal) {
  Reply page = Get("/", "");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  EXPECT_EQ(Get("/app.js", "").status, 200);
  EXPECT_EQ(Get("/style.css", "").status, 200);
  for (const char* t : {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt",
                        "/a/../../CMakeLists.txt"}) {
    Reply r = Raw(std::string("GET ") + t + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(r.status, 400) << t;
    EXPECT_EQ(r.code(), "BAD_REQUEST") << t;
    EXPECT_EQ(r.body.find("cmake_minimum_required"), std::string::npos);
  }
  ExpectServerAlive();
}

TEST_F(HttpApiTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  tcp::socket s = Connect();
  for (int i = 0; i < 3; ++i) {
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/api/whoami", 11);
    req.set(bhttp::field::authorization, "Bearer tok-qa");
    bhttp::write(s, req);
    Reply r = ReadReply(s);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Json()["name"], "li");
  }
}

TEST(HttpServer, RefusesAPortInUseAndParsesAddresses) {
  SystemClock clock;
  FakeBackend backend(clock);
  TokenTable tokens;
  Api api(backend, tokens, nullptr);
  HttpServerOptions o;
  o.port = 0;
  HttpServer a(api, o);
  ASSERT_TRUE(a.Start().ok());
  o.port = a.port();
  HttpServer b(api, o);
  Status s = b.Start();
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(a.Start().code(), Code::kFailedPrecondition);
  a.Stop();
  a.Stop();  // idempotent

  HttpServerOptions p;
  EXPECT_TRUE(ParseListenAddress("127.0.0.1:9000", &p).ok());
  EXPECT_EQ(p.port, 9000);
  EXPECT_TRUE(ParseListenAddress("[::1]:0", &p).ok());
  EXPECT_EQ(p.address, "::1");
  for (const char* bad : {"", "127.0.0.1", ":80", "localhost:80", "1.2.3.4:99999", "1.2.3.4:x"}) {
    EXPECT_EQ(ParseListenAddress(bad, &p).code(), Code::kInvalidConfig) << bad;
  }
}

}  // namespace
}  // namespace cardbureau::http
