#include "cardbureau/http/store_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cardbureau/http/api.h"

namespace cardbureau::http {
namespace {

using server::JobState;

class StoreBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cb_store_backend_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto store = server::JobStore::Open(dir_, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    std::vector<server::IntakeJob> jobs = {Intake("J-1", "11010810", "1000751200000001"),
                                           Intake("J-2", "11010810", "1000751200000002"),
                                           Intake("J-3", "11010520", "1000751200000003")};
    std::vector<std::string> skipped;
    ASSERT_TRUE(store_->AddValidated(jobs, &skipped).ok());
    ASSERT_TRUE(store_->Advance("J-1", JobState::kRendered).ok());
    ASSERT_TRUE(store_->Advance("J-1", JobState::kEncoding, "station-1").ok());
    ASSERT_TRUE(store_->Reject("J-9", Status(Code::kPhotoNoFace, "no face")).ok());
    backend_ = std::make_unique<StoreBackend>(*store_);
  }
  void TearDown() override {
    backend_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  static server::IntakeJob Intake(std::string id, std::string school, std::string card_no) {
    server::IntakeJob in;
    in.job.job_id = std::move(id);
    in.job.school.code = std::move(school);
    in.job.school.name = "School";
    in.job.card.card_no = std::move(card_no);
    in.job.student.name = "测试学生";
    in.job.photo.sha256 = std::string(64, 'a');
    in.job_json = "{}";
    return in;
  }

  SystemClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<server::JobStore> store_;
  std::unique_ptr<StoreBackend> backend_;
};

TEST_F(StoreBackendTest, BatchesAreSchoolsWithCounts) {
  auto batches = backend_->Batches();
  ASSERT_TRUE(batches.ok()) << batches.status();
  ASSERT_EQ(batches->size(), 2u);  // J-9 was refused before its school was known
  auto b = backend_->Batch("school-11010810");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->total, 2);
  EXPECT_EQ(b->in_progress, 1);
  EXPECT_EQ(b->queued, 1);
  EXPECT_EQ(backend_->Batch("school-99").status().code(), Code::kNotFound);
  EXPECT_EQ(backend_->Batch("11010810").status().code(), Code::kNotFound);
}

TEST_F(StoreBackendTest, SlaCountsWorkingDaysFromConfirmation) {
  ManualClock clock(ManualClock::AtBeijingDate(CivilDate{2026, 12, 2}));  // a Wednesday
  server::IntakeJob old = Intake("J-old", "11010810", "1000751200000010");
  old.job_json = R"({"confirmed_at":"2026-11-04T09:00:00+08:00"})";  // Wednesday, 4 weeks back
  server::IntakeJob fresh = Intake("J-new", "11010810", "1000751200000011");
  fresh.job_json = R"({"confirmed_at":"2026-12-01T23:30:00Z"})";  // 2 Dec in Beijing
  std::vector<server::IntakeJob> jobs = {old, fresh};
  ASSERT_TRUE(store_->AddValidated(jobs, nullptr).ok());
  SlaPolicy policy;
  policy.holidays.insert(ParseIsoDate("2026-11-20")->ToDays());  // a Friday off
  StoreBackend backend(*store_, clock, policy);
  auto v = backend.Sla();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->flag_after_days, 15);
  ASSERT_FALSE(v->jobs.empty());
  // 20 weekdays after 4 Nov up to 2 Dec, less the holiday: 19, flagged, first.
  EXPECT_EQ(v->jobs[0].job_id, "J-old");
  EXPECT_EQ(v->jobs[0].working_days, 19);
  EXPECT_TRUE(v->jobs[0].flagged);
  EXPECT_EQ(v->jobs[0].batch_id, "school-11010810");
  auto it = std::find_if(v->jobs.begin(), v->jobs.end(),
                         [](const SlaJob& j) { return j.job_id == "J-new"; });
  ASSERT_NE(it, v->jobs.end());
  EXPECT_EQ(it->working_days, 0);
  EXPECT_FALSE(it->flagged);
  EXPECT_EQ(v->flagged, 1);
  EXPECT_EQ(v->oldest_working_days, 19);
  auto m = backend.Metrics();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->oldest_open_job_working_days, 19);
  EXPECT_EQ(m->failures_by_code["PHOTO_NO_FACE"], 1);  // J-9's refusal, from the store
  // The batch is not complete while jobs are queued; the bar's parts add up.
  auto b = backend.Batch("school-11010810");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->complete);
  EXPECT_EQ(b->produced + b->in_progress + b->queued + b->rejected + b->failed + b->voided,
            b->total);
  auto k = backend.Kpis();
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->queue_depth, 4);   // J-2, J-3, J-old, J-new
  EXPECT_EQ(k->at_stations, 1);   // J-1
  EXPECT_EQ(k->eta_seconds, -1);  // nothing produced yet: no rate
}

TEST_F(StoreBackendTest, SearchDetailAndTimeline) {
  JobSearch all;
  EXPECT_EQ(backend_->SearchJobs(all)->total, 4);
  JobSearch by_state;
  by_state.state = "encoding";
  auto enc = backend_->SearchJobs(by_state);
  ASSERT_EQ(enc->jobs.size(), 1u);
  EXPECT_EQ(enc->jobs[0].job_id, "J-1");
  EXPECT_EQ(enc->jobs[0].batch_id, "school-11010810");
  JobSearch bad;
  bad.state = "flying";
  EXPECT_EQ(backend_->SearchJobs(bad).status().code(), Code::kBadRequest);
  JobSearch page;
  page.limit = 1;
  page.offset = 1;
  auto p = backend_->SearchJobs(page);
  EXPECT_EQ(p->total, 4);
  EXPECT_EQ(p->jobs.size(), 1u);

  auto d = backend_->Job("J-1");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_FALSE(d->timeline.empty());
  EXPECT_EQ(d->timeline.back().state, "encoding");
  EXPECT_EQ(d->job.state, "encoding");
  auto rejected = backend_->Job("J-9");
  ASSERT_TRUE(rejected.ok());
  EXPECT_EQ(rejected->job.state, "rejected");
  EXPECT_EQ(rejected->job.last_code, "PHOTO_NO_FACE");
  EXPECT_EQ(backend_->Job("nope").status().code(), Code::kNotFound);
}

// The dashboard's timeline is the job's history, row for row (the rows
// `cardbureau history` prints), with the fault's code and the refusal's
// field and message.
TEST_F(StoreBackendTest, TimelineIsTheJobsHistory) {
  server::HistoryEvent jam;
  jam.kind = "fault";
  jam.station = "station-1";
  jam.printer = "sim-1";
  jam.attempt = 1;
  jam.stage = "feed";
  jam.code = "PRINTER_JAM";
  jam.message = "card jammed in the feeder";
  ASSERT_TRUE(store_->Record("J-1", std::vector<server::HistoryEvent>{jam}).ok());
  auto d = backend_->Job("J-1");
  ASSERT_TRUE(d.ok()) << d.status();
  auto history = store_->History("J-1");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(d->timeline.size(), history->size());
  for (size_t i = 0; i < history->size(); ++i) {
    EXPECT_EQ(d->timeline[i].kind, (*history)[i].kind);
    EXPECT_EQ(d->timeline[i].state, (*history)[i].state);
    EXPECT_EQ(d->timeline[i].at_ms, (*history)[i].at_ms);
  }
  // /metrics counts it from the store (a restart does not lose it).
  auto m = backend_->Metrics();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->history_faults_by_code["PRINTER_JAM"], 1);
  const auto& last = d->timeline.back();
  EXPECT_EQ(last.kind, "fault");
  EXPECT_EQ(last.code, "PRINTER_JAM");
  EXPECT_EQ(last.station, "station-1");
  EXPECT_EQ(last.printer, "sim-1");
  EXPECT_EQ(last.attempt, 1);
  EXPECT_EQ(last.stage, "feed");
  auto refused = backend_->Job("J-9");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->timeline.back().code, "PHOTO_NO_FACE");
  EXPECT_FALSE(refused->timeline.back().message.empty());
}

TEST_F(StoreBackendTest, PreviewsComeFromTheCardsDirectory) {
  EXPECT_EQ(backend_->CardPreview("J-1", PreviewSide::kFront).status().code(), Code::kNotFound);
  const auto dir = store_->CardsDir("J-1");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "front.png") << "png";
  auto p = backend_->CardPreview("J-1", PreviewSide::kFront);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, dir / "front.png");
  EXPECT_TRUE(backend_->Job("J-1")->has_front_preview);
  EXPECT_FALSE(backend_->Job("J-1")->has_back_preview);
  EXPECT_EQ(backend_->CardPreview("J-1", PreviewSide::kBack).status().code(), Code::kNotFound);
}

TEST_F(StoreBackendTest, MetricsAndLineOnlyParts) {
  auto m = backend_->Metrics();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->jobs_by_state.at("encoding"), 1);
  EXPECT_EQ(m->jobs_by_state.at("rejected"), 1);
  EXPECT_EQ(m->jobs_by_state.at("acknowledged"), 0);
  EXPECT_EQ(m->queue_depth, 2);
  EXPECT_TRUE(backend_->Stations()->empty());
  EXPECT_EQ(backend_->SetStationPaused("s1", true, "x").code(), Code::kNotFound);
  EXPECT_EQ(backend_->RequestReprint("J-1", "r", "x", true).status().code(),
            Code::kFailedPrecondition);
  int seen = 0;
  auto sub = backend_->Subscribe([&](const DashboardEvent&) { ++seen; });
  backend_->events().Publish({"job", "J-1", "encoded", "school-11010810", "", 1});
  EXPECT_EQ(seen, 1);
}

TEST_F(StoreBackendTest, ServesTheApi) {
  auto tokens = TokenTable::Parse(R"({"tokens":[{"name":"q","role":"qa","sha256":")" +
                                  HashToken("t") + R"("}]})");
  ASSERT_TRUE(tokens.ok());
  Api api(*backend_, *tokens, nullptr);
  HttpResponse r = api.Handle({"GET", "/api/jobs?school=11010520", "Bearer t", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["total"], 1);
  EXPECT_EQ(j["jobs"][0]["job_id"], "J-3");
  EXPECT_EQ(api.Handle({"POST", "/api/jobs/J-1/reprint", "Bearer t", R"({"reason":"x"})"}).status,
            409);
}

// A card_replaced the centre answers UNKNOWN_TYPE stays in the outbox and is
// shown with the answer: /api/reports/pending and the job's detail.
TEST_F(StoreBackendTest, PendingReportsShowTheCentresAnswer) {
  auto produce = [&](const std::string& id, const std::string& uid) {
    for (JobState s : {JobState::kRendered, JobState::kEncoding}) {
      ASSERT_TRUE(store_->Advance(id, s).ok()) << id;
    }
    server::HistoryEvent card;
    card.kind = "card";
    card.stage = "encoded";
    card.uid = uid;
    ASSERT_TRUE(store_->AdvanceWith(id, JobState::kEncoded, {&card, 1}).ok()) << id;
    ASSERT_TRUE(store_->Advance(id, JobState::kPrinted).ok());
    ASSERT_TRUE(store_->Advance(id, JobState::kVerified).ok());
  };
  produce("J-2", "04A1B2C3");
  server::Completed c;
  c.card = {"04A1B2C3", "1000751200000002", "mifare-classic-1k"};
  auto done = store_->Complete("J-2", c);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE(store_->Acknowledge(server::ReportIdOf(*done)).ok());
  auto rp = store_->RequestReprint("J-2", "cracked", "li", true);
  ASSERT_TRUE(rp.ok()) << rp.status();
  produce(rp->new_job_id, "04FFEE01");
  c.card.uid = "04FFEE01";
  std::optional<server::Message> replaced;
  ASSERT_TRUE(store_->Complete(rp->new_job_id, c, {}, &replaced).ok());
  ASSERT_TRUE(replaced.has_value());
  const std::string report_id = server::ReportIdOf(*replaced);
  // Before any answer: pending, no answer.
  auto before = backend_->PendingReports();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->size(), 2u);  // J-9's rejected and J-2's card_replaced
  ASSERT_EQ(*store_->RecordCentreAnswer("card_replaced", "UNKNOWN_TYPE",
                                        "unknown message type from a bureau"),
            1);

  auto tokens = TokenTable::Parse(R"({"tokens":[{"name":"o","role":"operator","sha256":")" +
                                  HashToken("t") + R"("}]})");
  ASSERT_TRUE(tokens.ok());
  Api api(*backend_, *tokens, nullptr);
  HttpResponse r = api.Handle({"GET", "/api/reports/pending", "Bearer t", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["reports"].size(), 2u);
  nlohmann::json cr;
  for (const auto& x : j["reports"]) {
    if (x["type"] == "card_replaced") cr = x;
  }
  ASSERT_TRUE(cr.is_object()) << r.body;
  EXPECT_EQ(cr["report_id"], report_id);
  EXPECT_EQ(cr["job_id"], "J-2");
  EXPECT_EQ(cr["centre_answer"]["code"], "UNKNOWN_TYPE");
  EXPECT_EQ(cr["centre_answer"]["count"], 1);
  for (const auto& x : j["reports"]) {
    if (x["type"] == "rejected") {
      EXPECT_TRUE(x["centre_answer"].is_null());
    }
  }
  EXPECT_EQ(api.Handle({"POST", "/api/reports/pending", "Bearer t", "{}"}).status, 405);
  // The job's detail lists it too, and its timeline has the answer.
  r = api.Handle({"GET", "/api/jobs/J-2", "Bearer t", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["pending_reports"].size(), 1u);
  EXPECT_EQ(j["pending_reports"][0]["centre_answer"]["code"], "UNKNOWN_TYPE");
  bool in_timeline = false;
  for (const auto& e : j["timeline"]) {
    in_timeline |= e["kind"] == "report" && e["code"] == "UNKNOWN_TYPE";
  }
  EXPECT_TRUE(in_timeline) << r.body;
  // Acked: gone from the list.
  ASSERT_TRUE(store_->Acknowledge(report_id).ok());
  j = nlohmann::json::parse(api.Handle({"GET", "/api/reports/pending", "Bearer t", ""}).body);
  EXPECT_EQ(j["reports"].size(), 1u);
}

// Card stock (issue 21): unused cards per card type with the low-level
// warning, from the store's lots, through GET /api/stock.
TEST_F(StoreBackendTest, StockRemainingPerCardTypeWithTheLowLevel) {
  auto empty = backend_->Stock();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->card_types.empty()) << "no lot imported";
  auto lot = server::ParseStockLot(
      "uid,transit_no,card_type\n04A1B2C3,1000751000000001,mifare-classic-1k\n"
      "04A1B2C4,1000751000000002,mifare-classic-1k\n"
      "04A1B2C5,1000751000000003,mifare-classic-4k\n",
      "LOT-1");
  ASSERT_TRUE(lot.ok()) << lot.status();
  ASSERT_TRUE(store_->ImportStockLot(*lot, "test").ok());
  backend_->SetStockLowLevel(2);
  auto stock = backend_->Stock();
  ASSERT_TRUE(stock.ok()) << stock.status();
  EXPECT_EQ(stock->low_level, 2);
  ASSERT_EQ(stock->card_types.size(), 2u);
  EXPECT_EQ(stock->card_types[0].card_type, "mifare-classic-1k");
  EXPECT_EQ(stock->card_types[0].remaining, 2);
  EXPECT_FALSE(stock->card_types[0].low);
  EXPECT_EQ(stock->card_types[1].card_type, "mifare-classic-4k");
  EXPECT_EQ(stock->card_types[1].remaining, 1);
  EXPECT_TRUE(stock->card_types[1].low) << "1 unused card is below the level 2";

  auto tokens = TokenTable::Parse(R"({"tokens":[{"name":"o","role":"operator","sha256":")" +
                                  HashToken("t") + R"("}]})");
  ASSERT_TRUE(tokens.ok());
  Api api(*backend_, *tokens, nullptr);
  HttpResponse r = api.Handle({"GET", "/api/stock", "Bearer t", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["low_level"], 2);
  EXPECT_EQ(j["card_types"][1]["card_type"], "mifare-classic-4k");
  EXPECT_EQ(j["card_types"][1]["low"], true);
  EXPECT_EQ(api.Handle({"POST", "/api/stock", "Bearer t", ""}).status, 405);
  EXPECT_EQ(api.Handle({"GET", "/api/stock", "", ""}).status, 401);
}

}  // namespace
}  // namespace cardbureau::http
