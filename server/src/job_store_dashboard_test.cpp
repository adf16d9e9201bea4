// JobStore's dashboard queries (schema 6, job_store_dashboard.cpp): station
// faults until acknowledged and across a reopen, failure counts, production
// figures and open jobs from the history rows.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "cardbureau/core/validation.h"
#include "cardbureau/server/job_store.h"
#include "job_fixtures.h"

namespace cardbureau::server {
namespace {

namespace fs = std::filesystem;

StationFaultRow Fault(int64_t at_ms, std::string station, std::string code, std::string message,
                      std::string job_id) {
  StationFaultRow f;
  f.at_ms = at_ms;
  f.station = std::move(station);
  f.code = std::move(code);
  f.message = std::move(message);
  f.job_id = std::move(job_id);
  return f;
}

class DashboardStoreTest : public ::testing::Test {
 protected:
  DashboardStoreTest() : clock_(ManualClock::AtBeijingDate(CivilDate{2026, 11, 25})) {
    std::string tmpl = (fs::temp_directory_path() / "cbdash-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    Reopen();
  }
  ~DashboardStoreTest() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Reopen() {
    store_.reset();
    auto s = JobStore::Open(dir_, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(s).value();
  }
  void Add(const std::string& id) {
    auto photo = cbtest::FakeJpeg(2000, 7);
    auto parsed = ParseJobJson(cbtest::ValidJobJson(id, photo, "张三"));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    Job job = std::move(parsed).value();
    ValidationOptions vo;
    vo.clock = &clock_;
    ASSERT_TRUE(ValidateJob(job, vo).ok());
    ASSERT_TRUE(store_->photos().Write(job.photo.sha256, photo).ok());
    std::vector<IntakeJob> v{IntakeJob{job, JobToJsonString(job)}};
    ASSERT_TRUE(store_->AddValidated(v, nullptr).ok());
  }
  void Produce(const std::string& id) {
    for (JobState s : {JobState::kRendered, JobState::kEncoding, JobState::kEncoded,
                       JobState::kPrinted, JobState::kVerified}) {
      ASSERT_TRUE(store_->Advance(id, s).ok());
    }
    ASSERT_TRUE(store_->Complete(id, Completed{}).ok());
  }
  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
        .count();
  }

  fs::path dir_;
  ManualClock clock_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(DashboardStoreTest, FaultsStayUntilAcknowledgedAndSurviveReopen) {
  auto a = store_->AddStationFault(Fault(NowMs(), "station-1", "PRINTER_JAM", "jam at feed", "J1"));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = store_->AddStationFault(
      Fault(NowMs() + 1, "station-2", "PRINTER_OUT_OF_RIBBON", "ribbon", ""));
  ASSERT_TRUE(b.ok());
  EXPECT_GT(*b, *a);
  EXPECT_EQ(store_->AddStationFault(Fault(0, "", "X", "", "")).status().code(),
            Code::kInvalidField);

  Reopen();  // durable, not in memory
  auto open = store_->StationFaults("", true);
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 2u);
  EXPECT_EQ((*open)[0].id, *b);  // newest first
  EXPECT_EQ((*open)[1].code, "PRINTER_JAM");
  EXPECT_EQ((*open)[1].job_id, "J1");
  EXPECT_EQ(store_->StationFaults("station-1", true)->size(), 1u);

  auto acked = store_->AcknowledgeStationFault(*a, "wang");
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(acked->acked_by, "wang");
  EXPECT_TRUE(acked->acked_at_ms.has_value());
  EXPECT_EQ(store_->AcknowledgeStationFault(*a, "li").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->AcknowledgeStationFault(9999, "li").status().code(), Code::kNotFound);
  Reopen();
  EXPECT_TRUE(store_->StationFaults("station-1", true)->empty());
  auto all = store_->StationFaults("station-1", false);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].acked_by, "wang");

  // Failure counts: station faults plus refused and failed jobs, from the store.
  Add("J2");
  ASSERT_TRUE(store_->Fail("J2", Status(Code::kPrinterJam, "jammed thrice"), false).ok());
  ASSERT_TRUE(store_->Reject("J3", Status(Code::kPhotoNoFace, "no face", "photo"), "S1").ok());
  Reopen();
  auto counts = store_->FailureCounts();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ((*counts)["PRINTER_JAM"], 2);  // one station fault + one failed job
  EXPECT_EQ((*counts)["PRINTER_OUT_OF_RIBBON"], 1);
  EXPECT_EQ((*counts)["PHOTO_NO_FACE"], 1);
}

TEST_F(DashboardStoreTest, FiguresCountReportedRowsByTime) {
  const int64_t start = NowMs();
  Add("A1");
  Add("A2");
  Add("A3");
  Produce("A1");
  clock_.Advance(std::chrono::minutes(20));
  Produce("A2");
  ASSERT_TRUE(store_->Advance("A3", JobState::kRendered).ok());
  ASSERT_TRUE(store_->Advance("A3", JobState::kEncoding).ok());
  Add("A4");
  const int64_t now = NowMs();
  auto f = store_->Figures(now - 10 * 60 * 1000, start, now);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->produced_since_hour, 1);  // A2 only
  EXPECT_EQ(f->produced_since_day, 2);
  EXPECT_EQ(f->produced_last_15min, 1);
  EXPECT_EQ(f->queued, 1);       // A4 (validated)
  EXPECT_EQ(f->at_stations, 1);  // A3 (encoding)
  // Acknowledging a produced job does not count it twice.
  auto pending = store_->PendingReports();
  ASSERT_TRUE(pending.ok());
  for (const auto& p : *pending) ASSERT_TRUE(store_->Acknowledge(p.report_id).ok());
  EXPECT_EQ(store_->Figures(0, 0, now)->produced_since_day, 2);

  auto open = store_->OpenJobs();
  ASSERT_TRUE(open.ok()) << open.status();
  ASSERT_EQ(open->size(), 2u);
  EXPECT_EQ((*open)[0].job_id, "A3");
  EXPECT_EQ((*open)[0].state, JobState::kEncoding);
  EXPECT_EQ((*open)[0].confirmed_at, "2026-11-20T10:04:00+08:00");  // from the job JSON
  EXPECT_EQ((*open)[1].job_id, "A4");
}

}  // namespace
}  // namespace cardbureau::server
