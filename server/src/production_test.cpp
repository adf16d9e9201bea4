#include "cardbureau/server/production.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "cardbureau/testing/wait.h"
#include "job_fixtures.h"

namespace cardbureau::server {
namespace {

using namespace std::chrono_literals;

// Records sink calls; can refuse a step with CANCELLED.
class RecordingSink : public ProductionSink {
 public:
  Status Advance(const std::string& job_id, JobState to) override {
    std::lock_guard lock(mu);
    if (cancel_at && *cancel_at == to) {
      ++refused;
      cv.notify_all();
      return Status(Code::kCancelled, "cancelled");
    }
    steps[job_id].push_back(to);
    return Status::Ok();
  }
  void Completed(const std::string& job_id, const CardOutcome& o) override {
    std::lock_guard lock(mu);
    completed[job_id] = o;
    cv.notify_all();
  }
  void Failed(const std::string& job_id, const Status& why, bool retryable) override {
    std::lock_guard lock(mu);
    failed[job_id] = why;
    failed_retryable[job_id] = retryable;
    cv.notify_all();
  }
  bool WaitDone(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return completed.size() + failed.size() >= n; });
  }
  std::mutex mu;
  std::condition_variable cv;
  std::optional<JobState> cancel_at;
  int refused = 0;  // steps refused with CANCELLED (cancel_at)
  std::map<std::string, std::vector<JobState>> steps;
  std::map<std::string, CardOutcome> completed;
  std::map<std::string, Status> failed;
  std::map<std::string, bool> failed_retryable;
};

JobContext Ctx(const std::string& id, JobState state = JobState::kValidated) {
  JobContext c;
  c.job_id = id;
  auto photo = cbtest::FakeJpeg(100, 1);
  c.job = ParseJobJson(cbtest::ValidJobJson(id, photo)).value();
  c.state = state;
  return c;
}

std::vector<std::string> ReadLines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::filesystem::path TempFile() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cbprod-XXXXXX").string();
  int fd = mkstemp(tmpl.data());
  close(fd);
  std::filesystem::remove(tmpl);
  return tmpl;
}

TEST(FakeProduction, CompletesThroughEveryStateInOrder) {
  RecordingSink sink;
  FakeProductionOptions o;
  o.produced_log = TempFile();
  FakeProduction p(sink, o);
  p.Start(Ctx("J1"));
  ASSERT_TRUE(sink.WaitDone(1));
  p.Stop();
  std::vector<JobState> want{JobState::kRendered, JobState::kEncoding, JobState::kEncoded,
                             JobState::kPrinted, JobState::kVerified};
  EXPECT_EQ(sink.steps["J1"], want);
  ASSERT_EQ(sink.completed.count("J1"), 1u);
  EXPECT_EQ(sink.completed["J1"].card.card_no, "1000751234567890");
  EXPECT_EQ(sink.completed["J1"].card.uid.size(), 8u);
  EXPECT_EQ(ReadLines(o.produced_log), std::vector<std::string>{"J1"});
  std::filesystem::remove(o.produced_log);
}

TEST(FakeProduction, ResumeAfterEncodingNeverEncodesAgain) {
  RecordingSink sink;
  FakeProductionOptions o;
  o.produced_log = TempFile();
  FakeProduction p(sink, o);
  p.Start(Ctx("J1", JobState::kEncoded));
  ASSERT_TRUE(sink.WaitDone(1));
  p.Stop();
  std::vector<JobState> want{JobState::kPrinted, JobState::kVerified};
  EXPECT_EQ(sink.steps["J1"], want);
  EXPECT_TRUE(ReadLines(o.produced_log).empty());
}

TEST(FakeProduction, FailEveryNthJob) {
  RecordingSink sink;
  FakeProductionOptions o;
  o.fail_every = 2;
  FakeProduction p(sink, o);
  for (int i = 0; i < 4; ++i) p.Start(Ctx("J" + std::to_string(i)));
  ASSERT_TRUE(sink.WaitDone(4));
  p.Stop();
  EXPECT_EQ(sink.failed.size(), 2u);
  EXPECT_EQ(sink.completed.size(), 2u);
  for (auto& [id, s] : sink.failed) {
    EXPECT_EQ(s.code(), Code::kPrinterJam);
    EXPECT_TRUE(sink.failed_retryable[id]);
  }
}

TEST(FakeProduction, CancelledStepStopsTheJob) {
  RecordingSink sink;
  sink.cancel_at = JobState::kEncoding;
  FakeProductionOptions o;
  o.produced_log = TempFile();
  FakeProduction p(sink, o);
  p.Start(Ctx("J1"));
  {  // until production has asked for the refused step
    std::unique_lock lock(sink.mu);
    ASSERT_TRUE(sink.cv.wait_for(lock, 10s, [&] { return sink.refused > 0; }));
  }
  p.Stop();
  EXPECT_TRUE(sink.completed.empty());
  EXPECT_TRUE(sink.failed.empty());
  EXPECT_TRUE(ReadLines(o.produced_log).empty());  // nothing encoded
}

TEST(FakeProduction, HoldAndReleaseAndParkOnStop) {
  RecordingSink sink;
  FakeProductionOptions o;
  o.hold = FakeHold::kBeforeEncoding;
  o.stations = 2;
  FakeProduction p(sink, o);
  p.Start(Ctx("J1"));
  p.Start(Ctx("J2"));
  ASSERT_TRUE(cardbureau::testing::WaitFor([&] { return p.Held().size() >= 2; }));
  ASSERT_EQ(p.Held().size(), 2u);
  p.Release("J1");
  ASSERT_TRUE(sink.WaitDone(1));
  EXPECT_EQ(sink.completed.count("J1"), 1u);
  p.Stop();  // J2 parks at the hold: no report, state stays `rendered`
  EXPECT_EQ(sink.completed.count("J2"), 0u);
  EXPECT_EQ(sink.steps["J2"], std::vector<JobState>{JobState::kRendered});
}

}  // namespace
}  // namespace cardbureau::server
