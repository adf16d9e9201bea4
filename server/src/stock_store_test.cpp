// Card stock lots: the lot file parser and the store's stock tables.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "cardbureau/core/validation.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/server/stock.h"
#include "job_fixtures.h"

namespace cardbureau::server {
namespace {

namespace fs = std::filesystem;

class StockTempDir {
 public:
  StockTempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cbstock-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~StockTempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

constexpr const char* kGoodLot =
    "uid,transit_no,card_type,expires\n"
    "04A1B2C3,1000751000000001,mifare-classic-1k,2031-12-31\r\n"
    "04a1b2c4,1000751000000002,mifare-classic-1k,\n"
    "\n"
    "04A1B2C5D6E7F8,1000751000000003,mifare-classic-4k,2031-12-31\n";

TEST(StockLotParse, GoodLot) {
  auto lot = ParseStockLot(kGoodLot, "LOT-1");
  ASSERT_TRUE(lot.ok()) << lot.status();
  EXPECT_EQ(lot->lot_id, "LOT-1");
  EXPECT_EQ(lot->sha256.size(), 64u);
  ASSERT_EQ(lot->cards.size(), 3u);
  EXPECT_EQ(lot->cards[0].uid, "04A1B2C3");
  EXPECT_EQ(lot->cards[0].line, 2);
  EXPECT_EQ(lot->cards[0].expires, "2031-12-31");
  EXPECT_EQ(lot->cards[1].uid, "04A1B2C4") << "UIDs are stored upper case";
  EXPECT_EQ(lot->cards[1].expires, "");
  EXPECT_EQ(lot->cards[2].line, 5) << "blank lines keep the file's numbering";
  EXPECT_EQ(lot->cards[2].card_type, CardType::kMifareClassic4K);
  // Without the optional column.
  auto three = ParseStockLot("uid,transit_no,card_type\n0A0B0C0D,12345678901,4k\n", "L");
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->cards[0].card_type, CardType::kMifareClassic4K);
  EXPECT_EQ(LotIdFromFileName("/srv/in/LOT-2026-11.csv"), "LOT-2026-11");
}

TEST(StockLotParse, EachKindOfBadRowRefusesTheWholeFileWithItsLine) {
  struct Case {
    const char* row;
    const char* says;
  };
  for (const Case& c : {
           Case{"04A1B2,1000751000000009,mifare-classic-1k", "not hex of 4 or 7 bytes"},
           Case{"04A1B2C3D4,1000751000000009,mifare-classic-1k", "not hex of 4 or 7 bytes"},
           Case{"04A1B2ZZ,1000751000000009,mifare-classic-1k", "not hex of 4 or 7 bytes"},
           Case{"04A1B2C3,1000751000000009,mifare-classic-1k", "already on line 2"},
           Case{"0BA1B2C3,123456789,mifare-classic-1k", "not 10-20 digits"},
           Case{"0BA1B2C3,123456789012345678901,mifare-classic-1k", "not 10-20 digits"},
           Case{"0BA1B2C3,12345678901A,mifare-classic-1k", "not 10-20 digits"},
           Case{"0BA1B2C3,1000751000000009,desfire-ev2", "not mifare-classic-1k"},
           Case{"0BA1B2C3,1000751000000009", "2 fields"},
       }) {
    const std::string text = std::string("uid,transit_no,card_type\n") +
                             "04A1B2C3,1000751000000001,mifare-classic-1k\n" + c.row + "\n" +
                             "0CA1B2C3,1000751000000002,mifare-classic-1k\n";
    auto lot = ParseStockLot(text, "LOT-BAD");
    ASSERT_FALSE(lot.ok()) << c.row;
    EXPECT_EQ(lot.status().code(), Code::kStockLotInvalid) << c.row;
    EXPECT_NE(lot.status().message().find("line 3: "), std::string::npos) << lot.status();
    EXPECT_NE(lot.status().message().find(c.says), std::string::npos) << lot.status();
    EXPECT_EQ(lot.status().message().find("line 2:"), std::string::npos) << lot.status();
    EXPECT_EQ(lot.status().message().find("line 4:"), std::string::npos) << lot.status();
  }
  // Every bad line is listed, not only the first.
  auto many = ParseStockLot(
      "uid,transit_no,card_type\nXX,1,1k\n04A1B2C3,1000751000000001,1k\n04A1B2C3,99,5k\n", "L");
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("2 bad line(s)"), std::string::npos) << many.status();
  EXPECT_NE(many.status().message().find("line 2:"), std::string::npos);
  EXPECT_NE(many.status().message().find("line 4:"), std::string::npos);
  // Header, emptiness, lot id, expiry.
  EXPECT_EQ(ParseStockLot("uid,card_type\n", "L").status().code(), Code::kStockLotInvalid);
  EXPECT_EQ(ParseStockLot("", "L").status().code(), Code::kStockLotInvalid);
  EXPECT_EQ(ParseStockLot("uid,transit_no,card_type\n", "L").status().code(),
            Code::kStockLotInvalid);
  EXPECT_EQ(ParseStockLot(kGoodLot, "../x").status().code(), Code::kStockLotInvalid);
  EXPECT_EQ(ParseStockLot("uid,transit_no,card_type,expires\n"
                          "04A1B2C3,1000751000000001,1k,31/12/2031\n",
                          "L")
                .status()
                .code(),
            Code::kStockLotInvalid);
}

class StockStoreTest : public ::testing::Test {
 protected:
  StockStoreTest() : clock_(ManualClock::AtBeijingDate(CivilDate{2026, 11, 25})) {
    auto s = JobStore::Open(dir_.path(), clock_);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) store_ = std::move(s).value();
  }

  Status Import(std::string_view text, std::string_view lot_id) {
    auto lot = ParseStockLot(text, lot_id);
    if (!lot.ok()) return lot.status();
    return store_->ImportStockLot(*lot, "test");
  }

  void AddJob(const std::string& id) {
    auto photo = cbtest::FakeJpeg(2000, 1);
    auto parsed = ParseJobJson(cbtest::ValidJobJson(id, photo, "张三"));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    Job job = std::move(parsed).value();
    ValidationOptions vo;
    vo.clock = &clock_;
    ASSERT_TRUE(ValidateJob(job, vo).ok());
    ASSERT_TRUE(store_->photos().Write(job.photo.sha256, photo).ok());
    ASSERT_TRUE(store_->photos().SyncDirectory().ok());
    std::vector<IntakeJob> v{IntakeJob{job, JobToJsonString(job)}};
    std::vector<std::string> skipped;
    ASSERT_TRUE(store_->AddValidated(v, &skipped).ok());
    for (JobState s : {JobState::kRendered, JobState::kEncoding}) {
      ASSERT_TRUE(store_->Advance(id, s).ok());
    }
  }

  static HistoryEvent Card(const std::string& uid, const std::string& stage,
                           const std::string& code = {}) {
    HistoryEvent e;
    e.kind = "card";
    e.stage = stage;
    e.uid = uid;
    e.code = code;
    e.message = stage == "rejected" ? "card to the reject hopper" : "";
    return e;
  }

  StockTempDir dir_;
  ManualClock clock_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(StockStoreTest, ImportsAGoodLotOnce) {
  ASSERT_TRUE(Import(kGoodLot, "LOT-1").ok());
  auto report = store_->StockReport();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->size(), 1u);
  EXPECT_EQ((*report)[0].lot_id, "LOT-1");
  EXPECT_EQ((*report)[0].received, 3);
  EXPECT_EQ((*report)[0].remaining, 3);
  // The same lot id again, and the same file under another id: refused.
  Status again = Import(kGoodLot, "LOT-1");
  EXPECT_EQ(again.code(), Code::kStockLotInvalid);
  EXPECT_NE(again.message().find("already imported"), std::string::npos) << again;
  Status renamed = Import(kGoodLot, "LOT-1b");
  EXPECT_EQ(renamed.code(), Code::kStockLotInvalid);
  EXPECT_NE(renamed.message().find("already imported as lot LOT-1"), std::string::npos) << renamed;
  EXPECT_EQ(store_->StockReport()->size(), 1u);
  EXPECT_EQ(store_->StockReport("NOPE").status().code(), Code::kNotFound);
}

TEST_F(StockStoreTest, AUidOfAnotherLotRefusesTheWholeFile) {
  ASSERT_TRUE(Import(kGoodLot, "LOT-1").ok());
  Status s = Import(
      "uid,transit_no,card_type\n"
      "0DA1B2C3,1000751000000011,mifare-classic-1k\n"
      "04A1B2C4,1000751000000012,mifare-classic-1k\n",
      "LOT-2");
  EXPECT_EQ(s.code(), Code::kStockLotInvalid);
  EXPECT_NE(s.message().find("line 3: UID 04A1B2C4 is already in lot LOT-1 (line 3)"),
            std::string::npos)
      << s;
  // Nothing of LOT-2 was imported, not even its good line.
  EXPECT_EQ(store_->StockReport("LOT-2").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->CheckStock("J", "0DA1B2C3", CardType::kMifareClassic1K, true).status().code(),
            Code::kStockUnknown);
}

TEST_F(StockStoreTest, CheckStockCodes) {
  // No lot yet: required refuses every card, not required lets it through.
  EXPECT_EQ(store_->CheckStock("J", "04A1B2C3", CardType::kMifareClassic1K, true).status().code(),
            Code::kStockUnknown);
  auto open = store_->CheckStock("J", "04A1B2C3", CardType::kMifareClassic1K, false);
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_TRUE(open->lot_id.empty());

  ASSERT_TRUE(Import(kGoodLot, "LOT-1").ok());
  auto ok = store_->CheckStock("J", "04a1b2c3", CardType::kMifareClassic1K, false);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->lot_id, "LOT-1");
  EXPECT_EQ(ok->transit_no, "1000751000000001");
  // Once a lot exists, a foreign card is refused even when not required.
  EXPECT_EQ(store_->CheckStock("J", "0EEEEEEE", CardType::kMifareClassic1K, false).status().code(),
            Code::kStockUnknown);
  EXPECT_EQ(store_->CheckStock("J", "04A1B2C3", CardType::kMifareClassic4K, true).status().code(),
            Code::kStockWrongType);
}

TEST_F(StockStoreTest, CardsFollowTheJobHistoryAndTheReportBalances) {
  ASSERT_TRUE(Import(kGoodLot, "LOT-1").ok());
  AddJob("J-1");
  AddJob("J-2");
  // J-1: its first card goes to the reject hopper (spoiled), the second is
  // produced.
  ASSERT_TRUE(store_->Record("J-1", {{Card("04A1B2C3", "rejected", "AUTH_FAILED")}}).ok());
  EXPECT_EQ(store_->CheckStock("J-1", "04A1B2C3", CardType::kMifareClassic1K, true).status().code(),
            Code::kStockUsed)
      << "a spoiled card cannot come back";
  ASSERT_TRUE(store_->CheckStock("J-1", "04A1B2C4", CardType::kMifareClassic1K, true).ok());
  ASSERT_TRUE(store_->AdvanceWith("J-1", JobState::kEncoded, {{Card("04A1B2C4", "encoded")}}).ok());
  // The produced card: fine for its own job (a resumed card), used for another.
  EXPECT_TRUE(store_->CheckStock("J-1", "04A1B2C4", CardType::kMifareClassic1K, true).ok());
  auto used = store_->CheckStock("J-2", "04A1B2C4", CardType::kMifareClassic1K, true);
  EXPECT_EQ(used.status().code(), Code::kStockUsed);
  EXPECT_NE(used.status().message().find("job J-1"), std::string::npos) << used.status();
  // J-2 is handed J-1's card: the reject row does not spoil another job's card.
  ASSERT_TRUE(store_->Record("J-2", {{Card("04A1B2C4", "rejected", "STOCK_USED")}}).ok());
  // A foreign card rejected: nothing in a lot changes.
  ASSERT_TRUE(store_->Record("J-2", {{Card("0EEEEEEE", "rejected", "STOCK_UNKNOWN")}}).ok());

  clock_.Advance(std::chrono::hours(1));
  auto report = store_->StockReport("LOT-1");
  ASSERT_TRUE(report.ok()) << report.status();
  const StockLotReport& r = (*report)[0];
  EXPECT_EQ(r.received, 3);
  EXPECT_EQ(r.produced, 1);
  EXPECT_EQ(r.spoiled, 1);
  EXPECT_EQ(r.remaining, 1);
  EXPECT_EQ(r.received, r.produced + r.spoiled + r.remaining);
  ASSERT_EQ(r.produced_cards.size(), 1u);
  EXPECT_EQ(r.produced_cards[0].job_id, "J-1");
  EXPECT_EQ(r.produced_cards[0].uid, "04A1B2C4");
  ASSERT_EQ(r.spoiled_cards.size(), 1u);
  EXPECT_EQ(r.spoiled_cards[0].uid, "04A1B2C3");
  EXPECT_EQ(r.spoiled_cards[0].reason, "AUTH_FAILED");
  EXPECT_EQ(r.spoiled_cards[0].job_id, "J-1");
  EXPECT_GT(r.spoiled_cards[0].at_ms, 0);

  // The blocking list: since a time before and after the spoiling.
  auto since = store_->StockSpoiledSince(r.spoiled_cards[0].at_ms);
  ASSERT_TRUE(since.ok());
  EXPECT_EQ(since->size(), 1u);
  EXPECT_TRUE(store_->StockSpoiledSince(r.spoiled_cards[0].at_ms + 1)->empty());

  auto by_type = store_->StockRemainingByType();
  ASSERT_TRUE(by_type.ok());
  ASSERT_EQ(by_type->size(), 2u);
  EXPECT_EQ((*by_type)[0].card_type, CardType::kMifareClassic1K);
  EXPECT_EQ((*by_type)[0].received, 2);
  EXPECT_EQ((*by_type)[0].remaining, 0);
  EXPECT_EQ((*by_type)[1].remaining, 1);
}

TEST_F(StockStoreTest, AProducedCardRejectedLaterByItsJobIsSpoiled) {
  ASSERT_TRUE(Import(kGoodLot, "LOT-1").ok());
  AddJob("J-1");
  ASSERT_TRUE(store_->AdvanceWith("J-1", JobState::kEncoded, {{Card("04A1B2C3", "encoded")}}).ok());
  ASSERT_TRUE(store_->Record("J-1", {{Card("04A1B2C3", "rejected", "VERIFY_MISMATCH")}}).ok());
  auto r = store_->StockReport("LOT-1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].produced, 0);
  EXPECT_EQ((*r)[0].spoiled, 1);
  EXPECT_EQ((*r)[0].spoiled_cards[0].reason, "VERIFY_MISMATCH");
}

}  // namespace
}  // namespace cardbureau::server
