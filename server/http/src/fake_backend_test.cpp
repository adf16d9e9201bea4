#include "cardbureau/http/fake_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace cardbureau::http {
namespace {

class FakeBackendTest : public ::testing::Test {
 protected:
  FakeBackendTest()
      : dir_(std::filesystem::temp_directory_path() / ("cb_fake_" + std::to_string(::getpid()))),
        backend_(clock_, dir_) {
    backend_.AddStation("s1");
    backend_.AddStation("s2");
    ids_ = backend_.AddBatch("B1", "11010810", "School", 3);
  }
  ~FakeBackendTest() override { std::filesystem::remove_all(dir_); }

  SystemClock clock_;
  std::filesystem::path dir_;
  FakeBackend backend_;
  std::vector<std::string> ids_;
};

TEST_F(FakeBackendTest, RunsABatchToCompletion) {
  EXPECT_EQ(backend_.Batch("B1")->queued, 3);
  std::vector<DashboardEvent> seen;
  auto sub = backend_.Subscribe([&](const DashboardEvent& e) { seen.push_back(e); });
  EXPECT_GT(backend_.RunUntilIdle(), 0);
  auto b = backend_.Batch("B1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->produced, 3);
  EXPECT_EQ(b->queued + b->in_progress + b->failed, 0);
  auto job = backend_.Job(ids_[0]);
  ASSERT_TRUE(job.ok());
  std::vector<std::string> states;
  for (const auto& t : job->timeline) states.push_back(t.state);
  EXPECT_EQ(states, (std::vector<std::string>{"received", "validated", "encoding", "encoded",
                                              "printed", "verified", "reported"}));
  EXPECT_TRUE(job->has_front_preview);
  auto front = backend_.CardPreview(ids_[0], PreviewSide::kFront);
  ASSERT_TRUE(front.ok());
  std::ifstream in(*front, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().kind, "station");
  sub.reset();
  const size_t n = seen.size();
  backend_.AddBatch("B2", "1", "x", 1);
  EXPECT_EQ(seen.size(), n);  // unsubscribed
}

TEST_F(FakeBackendTest, ReprintNeedsProducedCardAndVoidsTheOldOne) {
  auto early = backend_.RequestReprint(ids_[0], "smudge", "op", false);
  EXPECT_EQ(early.status().code(), Code::kFailedPrecondition);
  backend_.RunUntilIdle();
  auto pending = backend_.RequestReprint(ids_[0], "smudge", "op", false);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->status, "pending");
  EXPECT_EQ(backend_.RequestReprint(ids_[0], "again", "op", false).status().code(),
            Code::kFailedPrecondition);
  EXPECT_FALSE(backend_.Job(ids_[0])->job.card_voided);
  auto done = backend_.DecideReprint(pending->reprint_id, true, "qa");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->status, "approved");
  EXPECT_EQ(done->new_job_id, ids_[0] + "-R1");
  auto old = backend_.Job(ids_[0]);
  EXPECT_TRUE(old->job.card_voided);
  EXPECT_EQ(old->job.reprinted_by, done->new_job_id);
  EXPECT_EQ(backend_.Job(done->new_job_id)->job.reprint_of, ids_[0]);
  EXPECT_EQ(backend_.DecideReprint(pending->reprint_id, false, "qa").status().code(),
            Code::kFailedPrecondition);
  backend_.RunUntilIdle();
  EXPECT_EQ(backend_.Job(done->new_job_id)->job.state, "reported");
  auto b = backend_.Batch("B1");
  EXPECT_EQ(b->reprinted, 1);
  EXPECT_EQ(b->produced, 4);
}

TEST_F(FakeBackendTest, FaultRequeuesThenPausedStationTakesNoWork) {
  backend_.InjectFault("s1", "PRINTER_JAM");
  ASSERT_TRUE(backend_.SetStationPaused("s2", true, "op").ok());
  backend_.RunUntilIdle();
  auto st = backend_.Stations();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)[0].produced, 3);
  EXPECT_EQ((*st)[0].failed, 1);
  ASSERT_EQ((*st)[0].last_faults.size(), 1u);
  EXPECT_EQ((*st)[0].last_faults[0].code, "PRINTER_JAM");
  EXPECT_EQ((*st)[1].produced, 0);
  EXPECT_EQ((*st)[1].state, "paused");
  EXPECT_EQ(backend_.Metrics()->failures_by_code.at("PRINTER_JAM"), 1);
  EXPECT_EQ(backend_.SetStationPaused("nope", true, "op").code(), Code::kNotFound);
  backend_.SetStationOffline("s2", true);
  EXPECT_EQ(backend_.SetStationPaused("s2", false, "op").code(), Code::kFailedPrecondition);
}

TEST_F(FakeBackendTest, SearchFilters) {
  backend_.RunUntilIdle();
  EXPECT_EQ(backend_.SearchJobs({})->total, 3);
  JobSearch by_code;
  by_code.code = ids_[1];
  EXPECT_EQ(backend_.SearchJobs(by_code)->jobs.at(0).job_id, ids_[1]);
  JobSearch by_text;
  by_text.text = "b1-00";
  by_text.limit = 2;
  auto r = backend_.SearchJobs(by_text);
  EXPECT_EQ(r->total, 3);
  EXPECT_EQ(r->jobs.size(), 2u);
  JobSearch by_state;
  by_state.state = "failed";
  EXPECT_EQ(backend_.SearchJobs(by_state)->total, 0);
  JobSearch by_school;
  by_school.school_code = "99";
  EXPECT_EQ(backend_.SearchJobs(by_school)->total, 0);
}

}  // namespace
}  // namespace cardbureau::http
