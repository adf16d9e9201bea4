// The production line over the in-process loopback: real renderer, real
// personalizer, real virtual cards in simulated printers, a recording sink.
#include "cardbureau/line/line.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cardbureau/core/validation.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/pkcs11_keystore.h"
#include "cardbureau/layout/qr.h"
#include "cardbureau/line/commands.h"
#include "cardbureau/line/qa.h"
#include "cardbureau/printers/file_util.h"
#include "cardbureau/printers/sim_printer.h"
#include "cardbureau/testing/files.h"
#include "cardbureau/testing/softhsm.h"
#include "cardbureau/testing/wait.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
using server::JobState;

const fs::path kRoot = CARDBUREAU_SOURCE_DIR;

using cardbureau::testing::Slurp;

// Records every transition and terminal call; enforces the server's
// transition table; can cancel jobs.
class RecordingSink : public server::ProductionSink {
 public:
  Status Advance(const std::string& id, JobState to) override {
    std::lock_guard lock(mu_);
    if (cancelled_.count(id)) return Status(Code::kCancelled, "cancelled by the centre");
    JobState from = state_.count(id) ? state_[id] : JobState::kValidated;
    if (!server::IsAllowedTransition(from, to)) {
      bad_transitions_.push_back(id);
      return Status(Code::kFailedPrecondition, "forbidden transition");
    }
    state_[id] = to;
    history_[id].push_back(to);
    return Status::Ok();
  }
  // History rows, as the store would keep them (issue 15).
  Status AdvanceWith(const std::string& id, JobState to,
                     std::vector<server::HistoryEvent> events) override {
    Status s = Advance(id, to);
    if (s.ok()) {
      std::lock_guard lock(mu_);
      for (auto& e : events) events_[id].push_back(std::move(e));
    }
    return s;
  }
  Status Record(const std::string& id, std::vector<server::HistoryEvent> events) override {
    std::lock_guard lock(mu_);
    for (auto& e : events) events_[id].push_back(std::move(e));
    return Status::Ok();
  }
  void FailedWith(const std::string& id, const Status& why, bool retryable,
                  std::vector<server::HistoryEvent> events) override {
    {
      std::lock_guard lock(mu_);
      for (auto& e : events) events_[id].push_back(std::move(e));
    }
    Failed(id, why, retryable);
  }
  void Completed(const std::string& id, const server::CardOutcome& out) override {
    std::lock_guard lock(mu_);
    for (const auto& e : out.history) events_[id].push_back(e);
    completed_[id] = out;
    terminal_[id]++;
    cv_.notify_all();
  }
  void Failed(const std::string& id, const Status& why, bool) override {
    std::lock_guard lock(mu_);
    failed_[id] = why;
    terminal_[id]++;
    cv_.notify_all();
  }
  void Cancel(const std::string& id) {
    std::lock_guard lock(mu_);
    cancelled_.insert(id);
  }
  bool WaitTerminal(size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return terminal_.size() >= n; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, JobState> state_;
  std::map<std::string, std::vector<JobState>> history_;
  std::map<std::string, server::CardOutcome> completed_;
  std::map<std::string, Status> failed_;
  std::map<std::string, int> terminal_;
  std::set<std::string> cancelled_;
  std::vector<std::string> bad_transitions_;
  std::map<std::string, std::vector<server::HistoryEvent>> events_;
};

class LineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("line-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    cardbureau::testing::CopyTestKeys(kRoot, dir_ / "keys");
    auto keys = encoder::LoadKeystore(dir_ / "keys/keystore-test.json");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *keys;
    photo_path_ = kRoot / "fixtures/photos/astronaut.png";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A valid job derived from a fixture, with its own id and card number.
  server::JobContext MakeJob(const std::string& id, CardType type = CardType::kMifareClassic1K) {
    auto job = ParseJob(Slurp(kRoot / "fixtures/jobs/valid-junior-reissue.json"));
    EXPECT_TRUE(job.ok());
    job->job_id = id;
    job->card.card_type = type;
    auto clock = ManualClock::AtBeijingDate({2026, 11, 25});
    ValidationOptions o;
    o.clock = &clock;
    EXPECT_TRUE(ValidateJob(*job, o).ok());
    server::JobContext ctx;
    ctx.job_id = id;
    ctx.job = *job;
    ctx.photo_path = photo_path_;
    ctx.cards_dir = dir_ / "cards" / id;
    fs::create_directories(ctx.cards_dir);
    return ctx;
  }

  StationSetup Sim(const std::string& name, printers::SimPrinterConfig pc) {
    auto slot = std::make_shared<printers::LoopbackSlot>();
    pc.name = name;
    pc.hopper_dir = dir_ / "hopper" / name;
    StationSetup st;
    st.name = name;
    st.printer = std::make_unique<printers::SimPrinter>(pc, *slot);
    st.source = std::make_unique<LoopbackCardSource>(*slot);
    st.keepalive = slot;
    return st;
  }

  LineOptions Options() {
    LineOptions o;
    o.keys = keys_;
    o.card_wait = std::chrono::milliseconds(500);
    o.batches_dir = dir_ / "batches";
    return o;
  }

  // Checks one produced card with the QA verifier from its hopper dump and
  // written face.
  void ExpectCardPasses(const std::string& job_id, const std::string& hopper) {
    auto outcome = sink_.completed_.at(job_id);
    fs::path card_dir;
    for (const auto& e : fs::directory_iterator(dir_ / "hopper" / hopper / "output")) {
      if (e.path().filename().string().rfind(job_id + ".", 0) == 0) card_dir = e.path();
    }
    ASSERT_FALSE(card_dir.empty()) << job_id;
    auto image = printers::ReadFileLimited(card_dir / "card.mfd", 4096);
    ASSERT_TRUE(image.ok());
    auto uid = devices::UidFromImage(*image);
    ASSERT_TRUE(uid.ok());
    EXPECT_EQ(ToHex(*uid), outcome.card.uid);
    auto card = devices::MifareClassicEmulator::Create(*image, *uid);
    ASSERT_TRUE(card.ok());
    devices::LoopbackChannel channel(*card);
    cv::Mat front = cv::imread((dir_ / "cards" / job_id / "front.png").string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(front.empty());
    auto verifier = layout::QrVerifier::FromPemFile(keys_.sign_key_path);
    ASSERT_TRUE(verifier.ok());
    auto qa = VerifyCard(channel, front, keys_, *verifier);
    ASSERT_TRUE(qa.ok()) << qa.status();
    EXPECT_TRUE(qa->chip.ok()) << qa->chip;
    EXPECT_TRUE(qa->face.ok()) << qa->face;
    ASSERT_TRUE(qa->record.has_value());
    EXPECT_EQ(qa->record->job_id, job_id);
  }

  fs::path dir_;
  fs::path photo_path_;
  encoder::KeySet keys_;
  RecordingSink sink_;
};

TEST_F(LineTest, TwoStationsProduceVerifiedCards) {
  std::vector<StationSetup> st;
  printers::SimPrinterConfig a, b;
  a.seed = 100;
  b.seed = 900;
  st.push_back(Sim("s1", a));
  st.push_back(Sim("s2", b));
  auto line = Line::Create(sink_, Options(), std::move(st));
  ASSERT_TRUE(line.ok()) << line.status();
  const int n = 8;
  for (int i = 0; i < n; ++i) {
    (*line)->Start(MakeJob("J" + std::to_string(i),
                           i % 3 == 2 ? CardType::kMifareClassic4K : CardType::kMifareClassic1K));
  }
  ASSERT_TRUE(sink_.WaitTerminal(n, std::chrono::seconds(120)));
  (*line)->Stop();
  EXPECT_TRUE(sink_.failed_.empty());
  EXPECT_TRUE(sink_.bad_transitions_.empty());
  ASSERT_EQ(sink_.completed_.size(), static_cast<size_t>(n));
  std::set<std::string> uids;
  for (const auto& [id, out] : sink_.completed_) {
    EXPECT_EQ(sink_.terminal_[id], 1);
    EXPECT_EQ(out.qa.chip, "ok");
    EXPECT_EQ(out.qa.face, "ok");
    uids.insert(out.card.uid);
    EXPECT_EQ(sink_.history_[id],
              (std::vector<JobState>{JobState::kRendered, JobState::kEncoding, JobState::kEncoded,
                                     JobState::kPrinted, JobState::kVerified}));
    ExpectCardPasses(id, out.station);
  }
  EXPECT_EQ(uids.size(), static_cast<size_t>(n)) << "every job got its own card";
  EXPECT_EQ(sink_.completed_["J2"].card.card_type, "mifare-classic-4k");
  // Both stations worked, and the batch reconciliation balances.
  auto stations = (*line)->Stations();
  EXPECT_GT(stations[0].produced, 0);
  EXPECT_GT(stations[1].produced, 0);
  auto rec = nlohmann::json::parse(Slurp(dir_ / "batches" / "11010810" / "reconciliation.json"));
  EXPECT_EQ(rec["produced"], n);
  EXPECT_EQ(rec["balanced"], true);
  EXPECT_TRUE(fs::exists(dir_ / "batches" / "11010810" / "manifest.pdf"));
}

// The pkcs11 keystore (SoftHSM2, the test keys imported): a token that goes
// away pauses the station with KEYSTORE_UNAVAILABLE in its history, no card
// is half-encoded, and the station resumes by itself when the token is
// back; every card passes QA with the file keys (the same bytes).
TEST_F(LineTest, TokenAwayPausesTheStationAndItResumes) {
  cardbureau::testing::SoftHsm hsm(dir_ / "hsm");
  ASSERT_TRUE(hsm.ok());
  encoder::Pkcs11Config config;
  config.module = cardbureau::testing::kSoftHsmModule;
  config.token = cardbureau::testing::kSoftHsmToken;
  config.pin_file = hsm.pin_file().string();
  ASSERT_TRUE(encoder::ImportKeysToToken(config, keys_, Slurp(keys_.sign_key_path)).ok());
  auto backend = encoder::OpenPkcs11Backend(config);
  ASSERT_TRUE(backend.ok()) << backend.status();
  LineOptions o = Options();
  o.keys = encoder::KeySet{};
  o.keys.backend = *backend;
  std::vector<StationSetup> st;
  printers::SimPrinterConfig a;
  a.seed = 300;
  st.push_back(Sim("s1", a));
  auto line = Line::Create(sink_, std::move(o), std::move(st));
  ASSERT_TRUE(line.ok()) << line.status();

  const fs::path away = dir_ / "hsm" / "tokens-away";
  fs::rename(hsm.token_dir(), away);
  (*line)->Start(MakeJob("K0"));
  (*line)->Start(MakeJob("K1"));
  // The station shows its own "keystore" state (not an operator's pause).
  ASSERT_TRUE(cardbureau::testing::WaitFor(
      [&] {
        const auto s = (*line)->Stations().front();
        return s.state == "keystore" && !s.faults.empty() &&
               s.faults.back().code == "KEYSTORE_UNAVAILABLE";
      },
      std::chrono::seconds(60)));
  {
    std::lock_guard lock(sink_.mu_);
    EXPECT_TRUE(sink_.completed_.empty());
    EXPECT_TRUE(sink_.failed_.empty());
  }
  fs::rename(away, hsm.token_dir());
  ASSERT_TRUE(sink_.WaitTerminal(2, std::chrono::seconds(120)));
  // Back to normal by itself (no operator resume).
  EXPECT_TRUE(cardbureau::testing::WaitFor(
      [&] { return (*line)->Stations().front().state == "idle"; }, std::chrono::seconds(20)))
      << (*line)->Stations().front().state;
  (*line)->Stop();
  EXPECT_TRUE(sink_.failed_.empty());
  ASSERT_EQ(sink_.completed_.size(), 2u);
  for (const auto& [id, out] : sink_.completed_) ExpectCardPasses(id, out.station);
  // The card fed while the token was away was rejected blank.
  EXPECT_GE((*line)->Stations().front().rejected_cards, 1);
}

TEST_F(LineTest, FaultsAreRecoveredWithFreshCardsAndAccounted) {
  printers::SimPrinterConfig pc;
  pc.seed = 42;
  pc.jam_on_feed = {2};   // no card consumed; retried
  pc.jam_on_print = {2};  // an encoded card voided; a fresh card
  devices::FaultPlan pull, auth;
  pull.pull_after_apdu = 10;  // card slips out mid-encode: reseated and resumed
  auth.fail_auth = 1;         // the card refuses authentication: rejected
  auth.dead_sector = 8;
  pc.card_faults[1] = pull;
  pc.card_faults[3] = auth;
  std::vector<StationSetup> st;
  st.push_back(Sim("s1", pc));
  LineOptions o = Options();
  o.station_failure_limit = 10;
  auto line = Line::Create(sink_, o, std::move(st));
  ASSERT_TRUE(line.ok()) << line.status();
  for (int i = 0; i < 4; ++i) (*line)->Start(MakeJob("F" + std::to_string(i)));
  ASSERT_TRUE(sink_.WaitTerminal(4, std::chrono::seconds(120)));
  (*line)->Stop();
  EXPECT_TRUE(sink_.failed_.empty()) << sink_.failed_.begin()->second;
  EXPECT_EQ(sink_.completed_.size(), 4u);
  for (const auto& [id, out] : sink_.completed_) ExpectCardPasses(id, "s1");
  auto stats = (*line)->Stats();
  EXPECT_EQ(stats.cards_rejected, 2);  // the print-jammed card and the dead-sector card
  EXPECT_GE(stats.failures_by_code["CARD_REMOVED"], 1);
  EXPECT_GE(stats.failures_by_code["PRINTER_JAM"], 2);
  EXPECT_GE(stats.failures_by_code["AUTH_FAILED"], 1);
  auto batches = (*line)->Batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].cards_used, batches[0].produced + batches[0].cards_rejected);
  EXPECT_EQ(batches[0].cards_used, 6);
  EXPECT_EQ(batches[0].reprinted, 1);  // F1 took three cards (print jam, dead sector)
  // Every fault and card is in the jobs' histories (issue 15): attempts
  // with station and printer, faults with their codes and stages, the cards
  // sent to the reject hopper, each produced card's UID and QA verdict.
  int attempts = 0, rejected_cards = 0;
  std::map<std::string, int> faults;  // "CODE@stage"
  for (const auto& [id, rows] : sink_.events_) {
    int qa_ok = 0;
    for (const auto& e : rows) {
      EXPECT_EQ(e.station, "s1") << id << " " << e.kind;
      EXPECT_FALSE(e.printer.empty()) << id << " " << e.kind;
      if (e.kind == "attempt") ++attempts;
      if (e.kind == "fault") faults[e.code + "@" + e.stage]++;
      if (e.kind == "card" && e.stage == "rejected") ++rejected_cards;
      if (e.kind == "card" && e.stage == "encoded") {
        EXPECT_EQ(e.uid, sink_.completed_[id].card.uid) << id;
      }
      if (e.kind == "qa" && e.code == "OK") ++qa_ok;
    }
    EXPECT_EQ(qa_ok, 1) << id;
  }
  EXPECT_EQ(attempts, 6);
  EXPECT_EQ(rejected_cards, 2);
  EXPECT_EQ(faults["PRINTER_JAM@feed"], 1) << "the feed jam";
  EXPECT_EQ(faults["PRINTER_JAM@print"], 1) << "the print jam";
  EXPECT_GE(faults["AUTH_FAILED@encode"], 1) << "the card refusing authentication";
  int resumed = 0;
  for (const auto& [key, n] : faults) {
    if (key.size() > 7 && key.substr(key.size() - 7) == "@encode" &&
        key.rfind("AUTH_FAILED", 0) != 0) {
      resumed += n;
    }
  }
  EXPECT_GE(resumed, 1) << "the pulled card (reseated and resumed)";
  // Rejected cards are in the reject hopper with their chip image.
  int rejects = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "hopper/s1/reject")) {
    rejects += fs::exists(e.path() / "card.mfd");
  }
  EXPECT_EQ(rejects, 2);
}

TEST_F(LineTest, TriesRunOutIntoAFailedReport) {
  printers::SimPrinterConfig pc;
  devices::FaultPlan dead;
  dead.dead_sector = 7;
  for (int i = 1; i <= 5; ++i) pc.card_faults[i] = dead;
  std::vector<StationSetup> st;
  st.push_back(Sim("s1", pc));
  LineOptions o = Options();
  o.max_tries = 2;
  auto line = Line::Create(sink_, o, std::move(st));
  ASSERT_TRUE(line.ok());
  (*line)->Start(MakeJob("X1"));
  ASSERT_TRUE(sink_.WaitTerminal(1, std::chrono::seconds(60)));
  (*line)->Stop();
  ASSERT_EQ(sink_.failed_.count("X1"), 1u);
  EXPECT_EQ(sink_.failed_["X1"].code(), Code::kAuthFailed);
  EXPECT_EQ(sink_.terminal_["X1"], 1);
  EXPECT_EQ((*line)->Stats().cards_rejected, 2);
}

// Issue 15 item 2: a card whose production record cannot be written is
// held with the code (failed, never completed); a card whose face copies
// cannot be written completes with a fault in its history.
TEST_F(LineTest, OutputFailuresAreHeldOrRecordedNeverOnlyPrinted) {
  std::vector<StationSetup> st;
  st.push_back(Sim("s1", printers::SimPrinterConfig{}));
  auto line = Line::Create(sink_, Options(), std::move(st));
  ASSERT_TRUE(line.ok()) << line.status();
  auto p1 = MakeJob("P1");  // its card directory is a file: no production record
  fs::remove_all(p1.cards_dir);
  std::ofstream(p1.cards_dir) << "not a directory";
  auto p2 = MakeJob("P2");  // front.png is a directory: no face copies
  fs::create_directories(p2.cards_dir / "front.png");
  (*line)->Start(p1);
  (*line)->Start(p2);
  ASSERT_TRUE(sink_.WaitTerminal(2, std::chrono::seconds(120)));
  (*line)->Stop();
  ASSERT_EQ(sink_.failed_.count("P1"), 1u);
  EXPECT_EQ(sink_.completed_.count("P1"), 0u);
  EXPECT_EQ(sink_.failed_["P1"].code(), Code::kIoError) << sink_.failed_["P1"];
  EXPECT_NE(sink_.failed_["P1"].message().find("production record"), std::string::npos);
  bool record_fault = false, rejected = false;
  for (const auto& e : sink_.events_["P1"]) {
    record_fault |= e.kind == "fault" && e.stage == "record" && e.code == "IO_ERROR";
    rejected |= e.kind == "card" && e.stage == "rejected";
  }
  EXPECT_TRUE(record_fault);
  EXPECT_TRUE(rejected) << "the unproven card goes to the reject hopper";
  ASSERT_EQ(sink_.completed_.count("P2"), 1u)
      << (sink_.failed_.count("P2") ? sink_.failed_["P2"].ToString() : "");
  bool outputs_fault = false;
  for (const auto& e : sink_.completed_["P2"].history) {
    outputs_fault |= e.kind == "fault" && e.stage == "outputs" && e.code == "IO_ERROR";
  }
  EXPECT_TRUE(outputs_fault) << "the face copies' failure is in the job's history";
  EXPECT_GE((*line)->Stats().failures_by_code["IO_ERROR"], 2);
}

TEST_F(LineTest, FailingStationLeavesRotationAndOthersTakeOver) {
  printers::SimPrinterConfig bad, good;
  bad.jam_on_feed = {1, 2, 3, 4, 5, 6};
  good.seed = 77;
  std::vector<StationSetup> st;
  st.push_back(Sim("bad", bad));
  st.push_back(Sim("good", good));
  LineOptions o = Options();
  o.station_failure_limit = 2;
  auto line = Line::Create(sink_, o, std::move(st));
  ASSERT_TRUE(line.ok());
  for (int i = 0; i < 4; ++i) (*line)->Start(MakeJob("R" + std::to_string(i)));
  ASSERT_TRUE(sink_.WaitTerminal(4, std::chrono::seconds(120)));
  auto stations = (*line)->Stations();
  (*line)->Stop();
  EXPECT_EQ(sink_.completed_.size(), 4u);
  for (const auto& [id, out] : sink_.completed_) EXPECT_EQ(out.station, "good");
  EXPECT_EQ(stations[0].state, "out-of-rotation");
  EXPECT_EQ(stations[0].produced, 0);
  EXPECT_FALSE(stations[0].last_faults.empty());
}

TEST_F(LineTest, CancelledJobIsStoppedAndItsCardRejected) {
  printers::SimPrinterConfig pc;
  std::vector<StationSetup> st;
  st.push_back(Sim("s1", pc));
  auto line = Line::Create(sink_, Options(), std::move(st));
  ASSERT_TRUE(line.ok());
  sink_.Cancel("C1");
  (*line)->Start(MakeJob("C1"));
  (*line)->Start(MakeJob("C2"));
  ASSERT_TRUE(sink_.WaitTerminal(1, std::chrono::seconds(60)));
  (*line)->Stop();
  EXPECT_EQ(sink_.completed_.count("C1"), 0u);
  EXPECT_EQ(sink_.failed_.count("C1"), 0u);  // the server reports `cancelled`, not the line
  EXPECT_EQ(sink_.completed_.count("C2"), 1u);
}

TEST_F(LineTest, ResumeAfterEncodingNeverEncodesAgain) {
  printers::SimPrinterConfig pc;
  std::vector<StationSetup> st;
  st.push_back(Sim("s1", pc));
  auto line = Line::Create(sink_, Options(), std::move(st));
  ASSERT_TRUE(line.ok());
  auto ctx = MakeJob("E1");
  ctx.state = JobState::kEncoded;  // handed over after a crash
  (*line)->Start(ctx);
  ASSERT_TRUE(sink_.WaitTerminal(1, std::chrono::seconds(30)));
  (*line)->Stop();
  ASSERT_EQ(sink_.failed_.count("E1"), 1u);
  EXPECT_EQ(sink_.failed_["E1"].code(), Code::kCardError);
  EXPECT_EQ((*line)->Stations()[0].produced, 0);
  EXPECT_FALSE(fs::exists(dir_ / "hopper/s1/output"));
}

TEST(LineConfigTest, ParsesAndRefusesWithTheKeyNamed) {
  auto ok = ParseLineConfig(R"({"keys": "k.json", "stations": [
      {"name": "a", "printer": "sim", "faults": {"jam_feed": [3], "cards": {"2": "pull-after=5"}}},
      {"name": "b", "printer": "sim", "card_types": ["mifare-classic-4k"]}]})",
                            "/base");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->keys, fs::path("/base/k.json"));
  EXPECT_EQ(ok->stations[0].jam_feed, std::set<int>{3});
  EXPECT_EQ(ok->stations[0].card_faults.at(2).pull_after_apdu, 5);
  EXPECT_EQ(ok->stations[1].card_types, std::set<CardType>{CardType::kMifareClassic4K});
  EXPECT_TRUE(ok->direct_io);  // the default
  auto buffered =
      ParseLineConfig(R"({"keys": "k", "direct_io": false, "stations": [{"name": "a"}]})", "");
  ASSERT_TRUE(buffered.ok()) << buffered.status();
  EXPECT_FALSE(buffered->direct_io);
  struct Case {
    const char* json;
    const char* field;
  };
  for (const Case& c :
       {Case{R"({"stations": [{"name": "a"}]})", "keys"},
        Case{R"({"keys": "k", "stations": []})", "stations"},
        Case{R"({"keys": "k", "stationz": []})", "stationz"},
        Case{R"({"keys": "k", "stations": [{"name": "a", "printer": "inkjet"}]})",
             "stations[0].printer"},
        Case{R"({"keys": "k", "stations": [{"name": "a"}, {"name": "a"}]})", "stations[1].name"},
        Case{R"({"keys": "k", "max_tries": 0, "stations": [{"name": "a"}]})", "max_tries"},
        Case{R"({"keys": "k", "direct_io": "yes", "stations": [{"name": "a"}]})", "direct_io"},
        Case{R"({"keys": "k", "stations": [{"name": "a", "faults": {"cards": {"1": "boom"}}}]})",
             "stations[0].faults.cards.1"}}) {
    auto r = ParseLineConfig(c.json, "");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), Code::kInvalidConfig);
    EXPECT_EQ(r.status().field(), c.field) << c.json;
  }
}

}  // namespace
}  // namespace cardbureau::line
