// CURVE: a bureau with the right keys gets jobs; a bureau whose key the centre
// does not admit, or that expects another centre key, gets nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zmq.h>

#include "cardbureau/testing/wait.h"
#include "harness.h"

namespace cardbureau::server {
namespace {

using namespace cbtest;

struct KeyPair {
  std::string pub;
  fs::path secret_file;
};

KeyPair MakeKeys(const fs::path& dir, const std::string& name) {
  char pub[41] = {}, sec[41] = {};
  EXPECT_EQ(zmq_curve_keypair(pub, sec), 0);
  KeyPair k{pub, dir / (name + ".key")};
  std::ofstream(k.secret_file) << sec << "\n";
  chmod(k.secret_file.c_str(), 0600);
  return k;
}

class Curve : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteJobsFile(dir_.path(), 3);
    centre_keys_ = MakeKeys(dir_.path(), "centre");
    good_ = MakeKeys(dir_.path(), "good");
    CentreOptions o;
    endpoint_ = FreeTcpEndpoint();
    o.bind = endpoint_;
    o.jobs_file = dir_.path() / "jobs.jsonl";
    o.photos_dir = dir_.path() / "photos";
    o.reports_file = dir_.path() / "reports.jsonl";
    o.show_progress = false;
    o.curve_secret_file = centre_keys_.secret_file;
    o.curve_allowed = {good_.pub};
    auto c = Centre::Create(o);
    ASSERT_TRUE(c.ok()) << c.status();
    centre_ = std::move(c).value();
    thread_ = std::thread([this] { status_ = centre_->Run(stop_); });
  }
  void TearDown() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(status_.ok()) << status_;
  }

  // Runs a bureau with these keys for `window` (or, with `until` >= 0, until
  // it has accepted that many jobs, at most `window`); returns jobs it accepted.
  int64_t RunBureau(const std::string& name, const KeyPair& mine, const std::string& centre_pub,
                    std::chrono::milliseconds window, int64_t until = -1) {
    ServeConfig c;
    c.bureau_id = name;
    c.centre = endpoint_;
    c.data_dir = dir_.path() / name;
    c.curve.centre_public_key = centre_pub;
    c.curve.public_key = mine.pub;
    c.curve.secret_key_file = mine.secret_file;
    auto store = JobStore::Open(c.data_dir, SystemClock::Instance());
    EXPECT_TRUE(store.ok());
    auto b = Bureau::Create(c, **store, SystemClock::Instance(), nullptr, nullptr);
    EXPECT_TRUE(b.ok()) << b.status();
    if (!b.ok()) return -1;
    std::atomic<bool> stop{false};
    Status st;
    std::thread t([&] { st = (*b)->Run(stop); });
    if (until >= 0) {
      cardbureau::testing::WaitFor([&] { return (*b)->stats().jobs_accepted >= until; }, window);
    } else {
      // Nothing may be accepted in the whole window.
      cardbureau::testing::HoldsFor([&] { return (*b)->stats().jobs_accepted == 0; }, window);
    }
    stop = true;
    t.join();
    EXPECT_TRUE(st.ok()) << st;
    return (*b)->stats().jobs_accepted;
  }

  TempDir dir_;
  KeyPair centre_keys_, good_;
  std::string endpoint_;
  std::unique_ptr<Centre> centre_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Status status_;
};

TEST_F(Curve, UnknownBureauKeyGetsNoJob) {
  auto stranger = MakeKeys(dir_.path(), "stranger");
  EXPECT_EQ(RunBureau("stranger", stranger, centre_keys_.pub, 2500ms), 0);
  EXPECT_EQ(centre_->summary().sends, 0);
}

TEST_F(Curve, WrongCentreKeyGetsNoJob) {
  auto impostor = MakeKeys(dir_.path(), "impostor");
  EXPECT_EQ(RunBureau("good", good_, impostor.pub, 2500ms), 0);
  EXPECT_EQ(centre_->summary().sends, 0);
}

TEST_F(Curve, AdmittedBureauGetsJobs) {
  EXPECT_EQ(RunBureau("good", good_, centre_keys_.pub, 10s, /*until=*/3), 3);
}

TEST_F(Curve, InsecureSecretKeyFileIsRefused) {
  chmod(good_.secret_file.c_str(), 0644);
  ServeConfig c;
  c.centre = endpoint_;
  c.data_dir = dir_.path() / "x";
  c.curve.centre_public_key = centre_keys_.pub;
  c.curve.public_key = good_.pub;
  c.curve.secret_key_file = good_.secret_file;
  auto store = JobStore::Open(c.data_dir, SystemClock::Instance());
  ASSERT_TRUE(store.ok());
  auto b = Bureau::Create(c, **store, SystemClock::Instance(), nullptr, nullptr);
  EXPECT_EQ(b.status().code(), Code::kKeyFileInsecure);
}

}  // namespace
}  // namespace cardbureau::server
