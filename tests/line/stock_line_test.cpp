// Card stock lots on the line (issue 21): every card at the encoder is
// checked against the imported lots before anything is written to it; a
// foreign, used or wrong-type card goes to the reject hopper with its code
// and the job takes a fresh card; the card's transit number is printed on
// the front; with faults, every card of a lot is accounted for.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/layout/template.h"
#include "cardbureau/line/line.h"
#include "cardbureau/line/line_config.h"
#include "cardbureau/line/stock_command.h"
#include "cardbureau/printers/file_util.h"
#include "cardbureau/printers/sim_printer.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/testing/files.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
using server::JobState;

const fs::path kStockRoot = CARDBUREAU_SOURCE_DIR;

// A sink over a real JobStore (what the Bureau does for production, minus
// the centre), counting finished jobs.
class StockStoreSink : public server::ProductionSink {
 public:
  explicit StockStoreSink(server::JobStore& store) : store_(store) {}
  Status Advance(const std::string& id, JobState to) override { return store_.Advance(id, to); }
  Status AdvanceWith(const std::string& id, JobState to,
                     std::vector<server::HistoryEvent> events) override {
    return store_.AdvanceWith(id, to, events);
  }
  Status Record(const std::string& id, std::vector<server::HistoryEvent> events) override {
    return store_.Record(id, events);
  }
  void Completed(const std::string& id, const server::CardOutcome& out) override {
    server::Completed c;
    c.card = out.card;
    c.qa = out.qa;
    c.station = out.station;
    c.produced_at = out.produced_at;
    auto r = store_.Complete(id, c, out.history);
    EXPECT_TRUE(r.ok()) << r.status();
    Done(id, true);
  }
  void Failed(const std::string& id, const Status& why, bool retryable) override {
    FailedWith(id, why, retryable, {});
  }
  void FailedWith(const std::string& id, const Status& why, bool retryable,
                  std::vector<server::HistoryEvent> events) override {
    auto r = store_.Fail(id, why, retryable, events);
    EXPECT_TRUE(r.ok()) << r.status();
    Done(id, false);
  }
  Result<server::StockCardInfo> CheckStock(const std::string& job_id, const std::string& uid,
                                           CardType type, bool required) override {
    return store_.CheckStock(job_id, uid, type, required);
  }
  bool WaitFinished(size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_.size() >= n; });
  }
  std::map<std::string, bool> finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }

 private:
  void Done(const std::string& id, bool ok) {
    std::lock_guard lock(mu_);
    finished_[id] = ok;
    cv_.notify_all();
  }
  server::JobStore& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, bool> finished_;
};

// A sink whose stock check answers from a table (UID -> code), recording
// the history rows, for the line's handling of each code.
class TableStockSink : public StockStoreSink {
 public:
  TableStockSink(server::JobStore& store, std::map<std::string, Status> refused,
                 std::map<std::string, std::string> transit)
      : StockStoreSink(store), refused_(std::move(refused)), transit_(std::move(transit)) {}
  Result<server::StockCardInfo> CheckStock(const std::string&, const std::string& uid, CardType,
                                           bool) override {
    std::lock_guard lock(mu_);
    checked_.push_back(uid);
    if (auto it = refused_.find(uid); it != refused_.end()) return it->second;
    server::StockCardInfo info;
    info.lot_id = "LOT-T";
    info.uid = uid;
    info.transit_no = transit_.count(uid) ? transit_.at(uid) : "";
    return info;
  }
  std::vector<std::string> checked() {
    std::lock_guard lock(mu_);
    return checked_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Status> refused_;
  std::map<std::string, std::string> transit_;
  std::vector<std::string> checked_;
};

class StockLineTest : public ::testing::Test {
 protected:
  StockLineTest() : clock_(ManualClock::AtBeijingDate({2026, 11, 25})) {}

  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("stock-line-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    cardbureau::testing::CopyTestKeys(kStockRoot, dir_ / "keys");
    auto keys = encoder::LoadKeystore(dir_ / "keys/keystore-test.json");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *keys;
    auto store = server::JobStore::Open(dir_ / "data", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // A valid job from a fixture, stored as intake does; its context.
  server::JobContext AddJob(const std::string& id, CardType type) {
    auto job = ParseJob(
        cardbureau::testing::Slurp(kStockRoot / "fixtures/jobs/valid-junior-reissue.json"));
    EXPECT_TRUE(job.ok());
    job->job_id = id;
    job->card.card_type = type;
    ValidationOptions o;
    o.clock = &clock_;
    EXPECT_TRUE(ValidateJob(*job, o).ok());
    std::vector<server::IntakeJob> in{server::IntakeJob{*job, JobToJsonString(*job)}};
    std::vector<std::string> skipped;
    EXPECT_TRUE(store_->AddValidated(in, &skipped).ok());
    server::JobContext ctx;
    ctx.job_id = id;
    ctx.job = *job;
    ctx.photo_path = kStockRoot / "fixtures/photos/astronaut.png";
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
    o.clock = &clock_;
    return o;
  }

  // Card images in a hopper ("output"/"reject") of a station, by card id.
  std::map<std::string, Bytes> Hopper(const std::string& station, const std::string& which) {
    std::map<std::string, Bytes> out;
    const fs::path d = dir_ / "hopper" / station / which;
    if (!fs::exists(d)) return out;
    for (const auto& e : fs::directory_iterator(d)) {
      auto image = printers::ReadFileLimited(e.path() / "card.mfd", 4096);
      if (image.ok()) out[e.path().filename().string()] = *image;
    }
    return out;
  }

  fs::path dir_;
  ManualClock clock_;
  encoder::KeySet keys_;
  std::unique_ptr<server::JobStore> store_;
};

TEST_F(StockLineTest, ForeignUsedAndWrongTypeCardsGoToTheHopperWithTheirCode) {
  const uint64_t seed = 300;
  auto uid_of = [&](int feed) { return ToHex(devices::StockUid(seed + feed)); };
  std::map<std::string, Status> refused = {
      {uid_of(1), Status(Code::kStockUnknown, "in no lot")},
      {uid_of(2), Status(Code::kStockUsed, "produced for job X")},
      {uid_of(3), Status(Code::kStockWrongType, "mifare-classic-4k")},
  };
  TableStockSink sink(*store_, refused, {{uid_of(4), "1000751000004444"}});
  printers::SimPrinterConfig pc;
  pc.seed = seed;
  std::vector<StationSetup> st;
  st.push_back(Sim("s1", pc));
  LineOptions o = Options();
  o.max_tries = 4;
  auto line = Line::Create(sink, o, std::move(st));
  ASSERT_TRUE(line.ok()) << line.status();
  (*line)->Start(AddJob("J-STOCK", CardType::kMifareClassic1K));
  ASSERT_TRUE(sink.WaitFinished(1, std::chrono::seconds(120)));
  (*line)->Stop();
  ASSERT_TRUE(sink.finished().at("J-STOCK")) << "the fourth card is good";
  EXPECT_EQ(sink.checked(), (std::vector<std::string>{uid_of(1), uid_of(2), uid_of(3), uid_of(4)}));

  // The three refused cards are in the reject hopper, unwritten (the check
  // comes before the first write), the fourth in the output hopper.
  auto reject = Hopper("s1", "reject");
  ASSERT_EQ(reject.size(), 3u);
  for (int n = 1; n <= 3; ++n) {
    const std::string card_id = "J-STOCK." + std::to_string(n);
    ASSERT_TRUE(reject.count(card_id)) << card_id;
    EXPECT_EQ(reject.at(card_id), devices::MakeBlankStock(devices::StockKind::kBjt1k, seed + n))
        << card_id << " was written to";
  }
  EXPECT_EQ(Hopper("s1", "output").count("J-STOCK.4"), 1u);

  // The job's history: each refused card rejected with its code and UID.
  auto history = store_->History("J-STOCK");
  ASSERT_TRUE(history.ok());
  std::map<std::string, std::string> rejected;  // uid -> code
  int stock_faults = 0;
  for (const auto& h : *history) {
    if (h.kind == "card" && h.detail.stage == "rejected") rejected[h.detail.uid] = h.detail.code;
    if (h.kind == "fault" && h.detail.stage == "stock") ++stock_faults;
  }
  EXPECT_EQ(rejected, (std::map<std::string, std::string>{{uid_of(1), "STOCK_UNKNOWN"},
                                                          {uid_of(2), "STOCK_USED"},
                                                          {uid_of(3), "STOCK_WRONG_TYPE"}}));
  EXPECT_EQ(stock_faults, 3);
  auto rec = store_->Find("J-STOCK");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->card_uid, uid_of(4));

  // The fourth card's transit number is on the front, in its field.
  auto tmpl = layout::LoadTemplate("bjt-student");
  ASSERT_TRUE(tmpl.ok());
  const layout::Element* field = nullptr;
  for (const auto& el : tmpl->front.elements) {
    if (layout::IsLateText(el)) field = &el;
  }
  ASSERT_NE(field, nullptr) << "bjt-student has a {card.transit_no} field";
  cv::Mat front = cv::imread((dir_ / "cards/J-STOCK/front.png").string(), cv::IMREAD_GRAYSCALE);
  ASSERT_FALSE(front.empty());
  const double ppmm = 300 / 25.4;
  const cv::Rect box(static_cast<int>(field->rect.x * ppmm), static_cast<int>(field->rect.y * ppmm),
                     static_cast<int>(field->rect.w * ppmm),
                     static_cast<int>(field->rect.h * ppmm));
  EXPECT_GT(cv::countNonZero(front(box) < 100), 50) << "no text in the transit number field";
}

// Two stations with faults over real lots made from the sim stock: every
// card of the lots is produced, spoiled (with the reject's code) or left.
TEST_F(StockLineTest, TheLotReportBalancesAfterALineWithFaults) {
  const fs::path serial = dir_ / "data" / "stock-serial";
  const std::string bureau = "bj-bureau-test";
  for (auto kind : {devices::StockKind::kBjt1k, devices::StockKind::kBjt4k}) {
    auto uids = devices::PeekStockUids(devices::StockSerialFile(serial, kind), bureau,
                                       devices::StockSerialBase(kind), 25);
    ASSERT_TRUE(uids.ok()) << uids.status();
    std::string csv = "uid,transit_no,card_type\n";
    for (const auto& u : *uids) {
      csv += ToHex(u.uid) + ",10007510" + std::to_string(10000000 + u.serial) + "," +
             (kind == devices::StockKind::kBjt4k ? "mifare-classic-4k" : "mifare-classic-1k") +
             "\n";
    }
    auto lot = server::ParseStockLot(csv, kind == devices::StockKind::kBjt4k ? "LOT-4K" : "LOT-1K");
    ASSERT_TRUE(lot.ok()) << lot.status();
    ASSERT_TRUE(store_->ImportStockLot(*lot, "test").ok());
  }
  StockStoreSink sink(*store_);
  printers::SimPrinterConfig a, b;
  a.seed = 100;
  b.seed = 900;
  for (auto* pc : {&a, &b}) {
    pc->stock_serial_file = serial;
    pc->bureau = bureau;
  }
  a.jam_on_feed = {2};
  a.jam_on_print = {3};
  auto pull = devices::ParseFaultPlan("pull-after=12");
  auto auth = devices::ParseFaultPlan("fail-auth=1");
  ASSERT_TRUE(pull.ok() && auth.ok());
  a.card_faults[4] = *pull;
  b.card_faults[2] = *auth;
  std::vector<StationSetup> st;
  st.push_back(Sim("s1", a));
  st.push_back(Sim("s2", b));
  LineOptions o = Options();
  o.max_tries = 4;
  auto line = Line::Create(sink, o, std::move(st));
  ASSERT_TRUE(line.ok()) << line.status();
  const int n = 8;
  for (int i = 0; i < n; ++i) {
    (*line)->Start(AddJob("B" + std::to_string(i),
                          i % 3 == 2 ? CardType::kMifareClassic4K : CardType::kMifareClassic1K));
  }
  ASSERT_TRUE(sink.WaitFinished(n, std::chrono::seconds(240)));
  (*line)->Stop();
  int completed = 0;
  for (const auto& [id, ok] : sink.finished()) completed += ok;
  EXPECT_EQ(completed, n);

  auto lots = store_->StockReport();
  ASSERT_TRUE(lots.ok()) << lots.status();
  ASSERT_EQ(lots->size(), 2u);
  int64_t produced = 0, spoiled = 0;
  std::set<std::string> spoiled_uids;
  for (const auto& l : *lots) {
    EXPECT_EQ(l.received, 25);
    EXPECT_EQ(l.received, l.produced + l.spoiled + l.remaining) << l.lot_id;
    produced += l.produced;
    spoiled += l.spoiled;
    for (const auto& s : l.spoiled_cards) {
      spoiled_uids.insert(s.uid);
      EXPECT_FALSE(s.reason.empty());
      EXPECT_GT(s.at_ms, 0);
    }
  }
  EXPECT_EQ(produced, n) << "one produced card per job";
  // Every card in the reject hoppers is a spoiled card of a lot, and back.
  std::set<std::string> hopper_uids;
  for (const char* s : {"s1", "s2"}) {
    for (const auto& [card_id, image] : Hopper(s, "reject")) {
      auto uid = devices::UidFromImage(image);
      ASSERT_TRUE(uid.ok());
      hopper_uids.insert(ToHex(*uid));
    }
  }
  EXPECT_GE(spoiled, 2) << "the print jam and the failed authentication each spoil a card";
  EXPECT_EQ(spoiled_uids, hopper_uids);
  // The produced cards are the jobs' bound UIDs.
  for (const auto& l : *lots) {
    for (const auto& p : l.produced_cards) {
      auto rec = store_->Find(p.job_id);
      ASSERT_TRUE(rec.ok() && rec->has_value());
      EXPECT_EQ((*rec)->card_uid, p.uid);
    }
  }
}

TEST_F(StockLineTest, WithoutALotTheLineRefusesEveryCardUnlessNotRequired) {
  StockStoreSink sink(*store_);
  printers::SimPrinterConfig pc;
  pc.seed = 500;
  {
    std::vector<StationSetup> st;
    st.push_back(Sim("s1", pc));
    auto line = Line::Create(sink, Options(), std::move(st));  // stock_required by default
    ASSERT_TRUE(line.ok()) << line.status();
    (*line)->Start(AddJob("N-1", CardType::kMifareClassic1K));
    ASSERT_TRUE(sink.WaitFinished(1, std::chrono::seconds(120)));
    (*line)->Stop();
    EXPECT_FALSE(sink.finished().at("N-1"));
    auto reports = store_->TerminalReport("N-1");
    ASSERT_TRUE(reports.ok() && reports->has_value());
    EXPECT_NE(server::EncodeFrame0(**reports).find("STOCK_UNKNOWN"), std::string::npos);
  }
  {
    std::vector<StationSetup> st;
    pc.seed = 600;
    st.push_back(Sim("s2", pc));
    LineOptions o = Options();
    o.stock_required = false;
    auto line = Line::Create(sink, o, std::move(st));
    ASSERT_TRUE(line.ok()) << line.status();
    (*line)->Start(AddJob("N-2", CardType::kMifareClassic1K));
    ASSERT_TRUE(sink.WaitFinished(2, std::chrono::seconds(120)));
    (*line)->Stop();
    EXPECT_TRUE(sink.finished().at("N-2")) << "no lot, not required: runs as before lots";
  }
}

// `cardbureau stock`: exit codes and outputs of each subcommand.
int Stock(std::vector<std::string> args, std::string* out = nullptr, std::string* err = nullptr) {
  args.insert(args.begin(), "stock");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = RunStock(static_cast<int>(argv.size()), argv.data());
  const std::string o = ::testing::internal::GetCapturedStdout();
  const std::string e = ::testing::internal::GetCapturedStderr();
  if (out) *out = o;
  if (err) *err = e;
  return rc;
}

TEST_F(StockLineTest, StockCommand) {
  const std::string data = (dir_ / "cli").string();
  const fs::path good = dir_ / "LOT-A.csv";
  {
    std::ofstream f(good);
    f << "uid,transit_no,card_type\n04A1B2C3,1000751000000001,mifare-classic-1k\n"
         "04A1B2C4,1000751000000002,mifare-classic-4k\n";
  }
  const fs::path bad = dir_ / "LOT-B.csv";
  {
    std::ofstream f(bad);
    f << "uid,transit_no,card_type\n04A1B2C5,1000751000000003,mifare-classic-1k\n"
         "04A1B2C3,1000751000000004,mifare-classic-1k\nZZ,1,1k\n";
  }
  std::string out, err;
  EXPECT_EQ(Stock({"import"}, &out, &err), 2) << "usage";
  EXPECT_EQ(Stock({"bogus"}, &out, &err), 2);
  EXPECT_EQ(Stock({"import", "--help"}, &out, &err), 0);
  EXPECT_NE(out.find("uid,transit_no,card_type"), std::string::npos);
  EXPECT_EQ(Stock({"report", "--data", data}, &out, &err), 1) << "no store yet: NOT_FOUND";
  ASSERT_EQ(Stock({"import", "--data", data, good.string()}, &out, &err), 0) << err;
  EXPECT_NE(out.find("lot LOT-A: 2 cards imported"), std::string::npos) << out;
  EXPECT_EQ(Stock({"import", "--data", data, good.string(), "--lot", "OTHER"}, &out, &err), 1);
  EXPECT_NE(err.find("STOCK_LOT_INVALID"), std::string::npos) << err;
  // A bad file: refused whole, its bad lines named (a UID of lot LOT-A is
  // found only by the store, after the file's own checks pass).
  EXPECT_EQ(Stock({"import", "--data", data, bad.string()}, &out, &err), 1);
  EXPECT_NE(err.find("line 4:"), std::string::npos) << err;
  {
    std::ofstream f(bad);
    f << "uid,transit_no,card_type\n04A1B2C5,1000751000000003,mifare-classic-1k\n"
         "04A1B2C3,1000751000000004,mifare-classic-1k\n";
  }
  EXPECT_EQ(Stock({"import", "--data", data, bad.string()}, &out, &err), 1);
  EXPECT_NE(err.find("line 3: UID 04A1B2C3 is already in lot LOT-A"), std::string::npos) << err;
  EXPECT_EQ(Stock({"report", "--data", data, "--json"}, &out, &err), 0) << err;
  auto report = nlohmann::json::parse(out);
  ASSERT_EQ(report["lots"].size(), 1u) << out;
  EXPECT_EQ(report["lots"][0]["received"], 2);
  EXPECT_EQ(report["lots"][0]["remaining"], 2);
  EXPECT_EQ(report["lots"][0]["balanced"], true);
  EXPECT_EQ(Stock({"report", "--data", data, "--lot", "NOPE"}, &out, &err), 1);
  EXPECT_EQ(Stock({"spoiled", "--data", data, "--since", "2026-01-01"}, &out, &err), 0) << err;
  EXPECT_EQ(out, "uid,transit_no,lot,reason,spoiled_at,job_id\n");
  EXPECT_EQ(Stock({"spoiled", "--data", data, "--since", "yesterday"}, &out, &err), 2);
  // sim-lot: the next cards of the data dir's sim stock, importable.
  const fs::path sim = dir_ / "LOT-SIM.csv";
  ASSERT_EQ(
      Stock({"sim-lot", "--data", data, "--count", "5", "--type", "4k", "--out", sim.string()},
            &out, &err),
      0)
      << err;
  auto first = devices::PeekStockUids(
      devices::StockSerialFile(fs::path(data) / "stock-serial", devices::StockKind::kBjt4k),
      "bj-bureau-01", devices::kSerialBase4k, 1);
  ASSERT_TRUE(first.ok());
  const std::string text = cardbureau::testing::Slurp(sim);
  EXPECT_NE(text.find(ToHex(first->front().uid) + ","), std::string::npos) << text;
  EXPECT_NE(text.find(",mifare-classic-4k,"), std::string::npos) << text;
  EXPECT_EQ(Stock({"import", "--data", data, sim.string()}, &out, &err), 0) << err;
  EXPECT_EQ(Stock({"sim-lot", "--data", data, "--count", "0"}, &out, &err), 2);
}

TEST(StockLineConfig, StockSettings) {
  const std::string stations = R"("stations": [{"name": "a"}])";
  auto def = ParseLineConfig(R"({"keys": "k", )" + stations + "}", "/d");
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_TRUE(def->stock_required) << "the check is on by default";
  EXPECT_EQ(def->stock_low_level, 100);
  auto off = ParseLineConfig(
      R"({"keys": "k", "stock": {"required": false, "low_level": 7}, )" + stations + "}", "/d");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->stock_required);
  EXPECT_EQ(off->stock_low_level, 7);
  for (const char* bad : {R"("stock": {"required": "no"})", R"("stock": {"low": 1})",
                          R"("stock": true)", R"("stock": {"low_level": -1})"}) {
    auto r = ParseLineConfig(std::string(R"({"keys": "k", )") + bad + ", " + stations + "}", "/d");
    EXPECT_EQ(r.status().code(), Code::kInvalidConfig) << bad;
  }
}

}  // namespace
}  // namespace cardbureau::line
