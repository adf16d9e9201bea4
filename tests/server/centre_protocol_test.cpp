// The reference centre's side of protocol.md, driven by a raw DEALER playing
// a bureau.
#include <gtest/gtest.h>

#include "cardbureau/testing/wait.h"
#include "harness.h"

namespace cardbureau::server {
namespace {

using namespace cbtest;

class CentreProtocol : public ::testing::Test {
 protected:
  CentreOptions Options(int jobs) {
    WriteJobsFile(dir_.path(), jobs);
    CentreOptions o;
    o.bind = FreeTcpEndpoint();
    o.jobs_file = dir_.path() / "jobs.jsonl";
    o.photos_dir = dir_.path() / "photos";
    o.reports_file = dir_.path() / "reports.jsonl";
    o.redeliver_after = 600ms;
    o.heartbeat_interval = 200ms;
    o.peer_timeout = 3s;
    o.show_progress = false;
    return o;
  }

  void Start(CentreOptions o) {
    endpoint_ = o.bind;
    auto c = Centre::Create(std::move(o));
    ASSERT_TRUE(c.ok()) << c.status();
    centre_ = std::move(c).value();
    stop_ = false;
    done_ = false;
    thread_ = std::thread([this] {
      status_ = centre_->Run(stop_);
      done_ = true;
    });
    bureau_ = RawPeer::Dealer(endpoint_, "raw-bureau");
  }

  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    EXPECT_TRUE(status_.ok()) << status_;
  }

  void TearDown() override { Stop(); }

  // Jobs received within `window`.
  std::vector<JobMessage> Jobs(std::chrono::milliseconds window) {
    std::vector<JobMessage> jobs;
    auto until = std::chrono::steady_clock::now() + window;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto m = bureau_->Recv(left);
      if (!m) break;
      if (auto* j = std::get_if<JobMessage>(&*m)) jobs.push_back(*j);
    }
    return jobs;
  }

  TempDir dir_;
  std::string endpoint_;
  std::unique_ptr<Centre> centre_;
  std::unique_ptr<RawPeer> bureau_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
  Status status_;
};

TEST_F(CentreProtocol, NeverSendsMoreThanTheCredit) {
  Start(Options(10));
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{3});
  auto jobs = Jobs(500ms);
  ASSERT_EQ(jobs.size(), 3u);
  for (const auto& j : jobs) {
    ASSERT_TRUE(j.photo.has_value());
    EXPECT_EQ(Sha256Hex(*j.photo), j.body["photo"]["sha256"]);  // frame 1 is the photo
    EXPECT_FALSE(j.body.contains("photo_file"));                // centre-only field stripped
    bureau_->Send(Accepted{j.job_id});
  }
  bureau_->Send(Pull{2});
  EXPECT_EQ(Jobs(500ms).size(), 2u);
  // Credit used up: nothing more comes, and a hello starts from zero credit.
  EXPECT_EQ(Jobs(500ms).size(), 0u);
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  EXPECT_EQ(Jobs(500ms).size(), 0u);
}

TEST_F(CentreProtocol, RedeliversUnacceptedJobs) {
  Start(Options(2));
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{1});
  auto first = Jobs(300ms);
  ASSERT_EQ(first.size(), 1u);
  // No accepted: after the time-out it is sent again (against new credit).
  bureau_->Send(Pull{1});
  auto second = Jobs(300ms);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0].job_id, first[0].job_id);  // the other job first
  bureau_->Send(Accepted{second[0].job_id});
  bureau_->Send(Pull{5});
  auto redelivered = bureau_->Expect<JobMessage>(2s);
  ASSERT_TRUE(redelivered.has_value());
  EXPECT_EQ(redelivered->job_id, first[0].job_id);
  bureau_->Send(Accepted{redelivered->job_id});
  // Accepted: the centre forgets redelivery; nothing else is left to send.
  EXPECT_EQ(Jobs(1500ms).size(), 0u);
  EXPECT_GE(centre_->summary().redeliveries, 1);
}

TEST_F(CentreProtocol, RepeatedReportIsAckedAndStoredOnce) {
  Start(Options(1));
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{1});
  auto jobs = Jobs(300ms);
  ASSERT_EQ(jobs.size(), 1u);
  Completed c{"r-1",        jobs[0].job_id, {"04A1B2C3", "1000751234567890", "mifare-classic-1k"},
              {"ok", "ok"}, "s1",           "2026-11-25T10:00:00+08:00"};
  bureau_->Send(c);
  auto ack1 = bureau_->Expect<Ack>();
  ASSERT_TRUE(ack1.has_value());
  EXPECT_EQ(ack1->report_id, "r-1");
  bureau_->Send(c);
  auto ack2 = bureau_->Expect<Ack>();
  ASSERT_TRUE(ack2.has_value());
  EXPECT_EQ(ack2->report_id, "r-1");
  auto lines = ReadLines(dir_.path() / "reports.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["report_id"], "r-1");
  EXPECT_EQ(j["bureau"], "raw-bureau");
  EXPECT_EQ(centre_->summary().repeated_reports, 1);
}

TEST_F(CentreProtocol, MalformedInputIsAnsweredWithErrorAndNothingStops) {
  Start(Options(1));
  bureau_->SendFrames({"not json"});
  auto e = bureau_->Expect<Error>();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "INVALID_JSON");
  bureau_->SendFrames({R"({"type":"hello","v":7})"});
  e = bureau_->Expect<Error>();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "UNSUPPORTED_VERSION");
  bureau_->SendFrames({R"({"type":"job","v":1,"job_id":"x"})"});
  e = bureau_->Expect<Error>();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "UNKNOWN_TYPE");
  EXPECT_EQ(e->in_reply_to, "job");
  bureau_->SendFrames({R"({"type":"pull","v":1,"credit":-2})"});
  e = bureau_->Expect<Error>();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "INVALID_FIELD");
  bureau_->SendFrames({R"({"type":"heartbeat","v":1})", "junk"});
  e = bureau_->Expect<Error>();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "PROTOCOL_ERROR");
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{1});
  EXPECT_EQ(Jobs(500ms).size(), 1u);
}

TEST_F(CentreProtocol, UntilDoneExitsWhenEveryJobHasATerminalReport) {
  auto o = Options(2);
  o.until_done = true;
  Start(o);
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{2});
  auto jobs = Jobs(500ms);
  ASSERT_EQ(jobs.size(), 2u);
  bureau_->Send(Rejected{"r-a", jobs[0].job_id, "INVALID_FIELD", "student.name", "x"});
  EXPECT_FALSE(done_.load());
  bureau_->Send(Failed{"r-b", jobs[1].job_id, "PRINTER_JAM", "jam", true});
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] { return done_.load(); }));
  EXPECT_EQ(ReadLines(dir_.path() / "reports.jsonl").size(), 2u);
}

TEST_F(CentreProtocol, RestartKeepsReportsAndDoesNotResendFinishedJobs) {
  auto o = Options(3);
  Start(o);
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{1});
  auto jobs = Jobs(300ms);
  ASSERT_EQ(jobs.size(), 1u);
  bureau_->Send(Cancelled{"r-x", jobs[0].job_id});
  ASSERT_TRUE(bureau_->Expect<Ack>().has_value());
  Stop();
  bureau_.reset();
  // Same files, new process state.
  o.until_done = false;
  Start(o);
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{5});
  auto rest = Jobs(500ms);
  ASSERT_EQ(rest.size(), 2u);
  for (const auto& j : rest) EXPECT_NE(j.job_id, jobs[0].job_id);
  EXPECT_EQ(centre_->summary().done, 1);
  // The stored report is recognised after the restart.
  bureau_->Send(Cancelled{"r-x", jobs[0].job_id});
  ASSERT_TRUE(bureau_->Expect<Ack>().has_value());
  EXPECT_EQ(ReadLines(dir_.path() / "reports.jsonl").size(), 1u);
}

TEST_F(CentreProtocol, SendsCancelAndHeartbeats) {
  auto o = Options(2);
  o.cancels.push_back(CancelPlan{"RJ-000001", 1});
  Start(o);
  bureau_->Send(Hello{"raw-bureau", "test", 1});
  bureau_->Send(Pull{1});
  std::vector<Message> seen;
  auto cancel = bureau_->Expect<Cancel>(2s, &seen);
  ASSERT_TRUE(cancel.has_value());
  EXPECT_EQ(cancel->job_id, "RJ-000001");
  int heartbeats = 0;
  auto until = std::chrono::steady_clock::now() + 800ms;
  while (std::chrono::steady_clock::now() < until) {
    auto m = bureau_->Recv(200ms, /*skip_noise=*/false);
    if (m && std::holds_alternative<Heartbeat>(*m)) ++heartbeats;
  }
  EXPECT_GE(heartbeats, 2);
}

TEST(CancelPlan, Parses) {
  auto p = ParseCancelPlan("RJ-1@5");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->job_id, "RJ-1");
  EXPECT_EQ(p->after_dispatched, 5);
  EXPECT_FALSE(ParseCancelPlan("RJ-1").ok());
  EXPECT_FALSE(ParseCancelPlan("@3").ok());
  EXPECT_FALSE(ParseCancelPlan("J@x").ok());
}

}  // namespace
}  // namespace cardbureau::server
