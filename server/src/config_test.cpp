#include "cardbureau/server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>

namespace cardbureau::server {
namespace {

TEST(ServeConfig, DefaultsAreValid) {
  ServeConfig c;
  EXPECT_TRUE(CheckServeConfig(c).ok());
  EXPECT_EQ(c.retention_days, 7);
  EXPECT_LE(c.heartbeat_interval_ms, 2000);
  EXPECT_EQ(c.peer_timeout_ms, 10000);
}

TEST(ServeConfig, DashboardNeedsATokenFile) {
  auto c = ParseServeConfig(R"({"http": {"listen": "127.0.0.1:8080", "web": "/srv/web"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->http.enabled());
  EXPECT_EQ(c->http.web_dir, "/srv/web");
  Status s = CheckServeConfig(*c);
  EXPECT_EQ(s.code(), Code::kInvalidConfig);
  EXPECT_EQ(s.field(), "http.tokens");
  c = ParseServeConfig(R"({"http": {"listen": "127.0.0.1:0", "tokens": "/etc/cb/tokens.json"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http.tokens_file, "/etc/cb/tokens.json");
  EXPECT_TRUE(CheckServeConfig(*c).ok());
  EXPECT_EQ(ParseServeConfig(R"({"http": {"port": 80}})").status().code(), Code::kInvalidConfig);
  EXPECT_FALSE(ServeConfig{}.http.enabled());  // off by default
}

TEST(ServeConfig, ParsesEveryKey) {
  auto c = ParseServeConfig(R"({
    "bureau_id": "sh-bureau-02", "centre": "tcp://10.0.0.1:5570", "data_dir": "/var/lib/cb",
    "queue_capacity": 16, "stations": 4, "intake_batch": 32, "heartbeat_interval_ms": 500,
    "peer_timeout_ms": 5000, "reconnect_min_ms": 100, "reconnect_max_ms": 4000,
    "report_retry_min_ms": 200, "report_retry_max_ms": 9000, "retention_days": 3,
    "purge_interval_s": 30,
    "production": {"kind": "fake", "delay_ms": 2, "log": "/tmp/p.log", "fail_every": 5,
                   "hold": "before-encoding"}
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bureau_id, "sh-bureau-02");
  EXPECT_EQ(c->data_dir, "/var/lib/cb");
  EXPECT_EQ(c->queue_capacity, 16);
  EXPECT_EQ(c->stations, 4);
  EXPECT_EQ(c->retention_days, 3);
  EXPECT_EQ(c->production.kind, "fake");
  EXPECT_EQ(c->production.fail_every, 5);
  EXPECT_EQ(c->production.hold, "before-encoding");
  EXPECT_TRUE(CheckServeConfig(*c).ok());
}

TEST(ServeConfig, FileValuesOverrideBaseOnlyWhereGiven) {
  ServeConfig base;
  base.queue_capacity = 5;
  auto c = ParseServeConfig(R"({"stations": 2})", base);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->queue_capacity, 5);
  EXPECT_EQ(c->stations, 2);
}

TEST(ServeConfig, ErrorsNameTheKey) {
  auto s = ParseServeConfig(R"({"queue_capacty": 3})").status();
  EXPECT_EQ(s.code(), Code::kInvalidConfig);
  EXPECT_EQ(s.field(), "queue_capacty");
  s = ParseServeConfig(R"({"stations": "two"})").status();
  EXPECT_EQ(s.code(), Code::kInvalidConfig);
  EXPECT_EQ(s.field(), "stations");
  s = ParseServeConfig(R"({"production": {"speed": 1}})").status();
  EXPECT_EQ(s.field(), "production.speed");
  s = ParseServeConfig(R"({"curve": []})").status();
  EXPECT_EQ(s.field(), "curve");
  s = ParseServeConfig("{oops").status();
  EXPECT_EQ(s.code(), Code::kInvalidConfig);
  s = ParseServeConfig("[]").status();
  EXPECT_EQ(s.code(), Code::kInvalidConfig);
}

TEST(ServeConfig, RangeChecksNameTheKey) {
  ServeConfig c;
  c.heartbeat_interval_ms = 5000;  // protocol: at least every 2 s
  EXPECT_EQ(CheckServeConfig(c).field(), "heartbeat_interval_ms");
  c = ServeConfig{};
  c.queue_capacity = 0;
  EXPECT_EQ(CheckServeConfig(c).field(), "queue_capacity");
  c = ServeConfig{};
  c.production.hold = "sometimes";
  EXPECT_EQ(CheckServeConfig(c).field(), "production.hold");
  c = ServeConfig{};
  c.curve.centre_public_key = std::string(40, 'a');
  EXPECT_EQ(CheckServeConfig(c).field(), "curve");
  c.curve.public_key = "short";
  c.curve.secret_key_file = "/x";
  EXPECT_EQ(CheckServeConfig(c).field(), "curve.public_key");
}

TEST(ServeConfig, SecretKeyFilePermissionsAreChecked) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cbkey-XXXXXX").string();
  int fd = mkstemp(tmpl.data());
  ASSERT_GE(fd, 0);
  close(fd);
  { std::ofstream(tmpl) << std::string(40, 'a') << "\n"; }
  chmod(tmpl.c_str(), 0644);
  EXPECT_EQ(ReadSecretKeyFile(tmpl).status().code(), Code::kKeyFileInsecure);
  chmod(tmpl.c_str(), 0600);
  auto k = ReadSecretKeyFile(tmpl);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->size(), 40u);
  { std::ofstream(tmpl) << "not a key\n"; }
  EXPECT_EQ(ReadSecretKeyFile(tmpl).status().code(), Code::kInvalidKey);
  std::filesystem::remove(tmpl);
}

}  // namespace
}  // namespace cardbureau::server
