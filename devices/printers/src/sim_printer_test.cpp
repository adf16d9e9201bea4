#include "cardbureau/printers/sim_printer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/printers/file_util.h"

namespace cardbureau::printers {
namespace {

namespace fs = std::filesystem;

class SimPrinterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("simprinter-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    config_.hopper_dir = dir_;
  }
  void TearDown() override { fs::remove_all(dir_); }
  PrintData Data(const std::string& card_id) {
    return PrintData{"JOB-1", card_id, {1, 2, 3}, {4, 5}, {6}, {7}};
  }
  fs::path dir_;
  SimPrinterConfig config_;
  LoopbackSlot slot_;
};

TEST_F(SimPrinterTest, FeedPutsAFreshBlankCardOnTheReader) {
  SimPrinter printer(config_, slot_);
  EXPECT_FALSE(slot_.WaitForCard(std::chrono::milliseconds(1)).has_value());
  ASSERT_TRUE(printer.Feed("JOB-1.1", CardType::kMifareClassic1K).ok());
  auto channel = slot_.WaitForCard(std::chrono::milliseconds(100));
  ASSERT_TRUE(channel.has_value());
  auto uid = devices::TransmitChecked(**channel, devices::Apdu::GetUid());
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_EQ(*uid, printer.current_card()->Uid());
}

TEST_F(SimPrinterTest, EveryCardHasItsOwnUid) {
  SimPrinter printer(config_, slot_);
  ASSERT_TRUE(printer.Feed("a", CardType::kMifareClassic1K).ok());
  Bytes first = printer.current_card()->Uid();
  ASSERT_TRUE(printer.Eject(Hopper::kReject).ok());
  ASSERT_TRUE(printer.Feed("b", CardType::kMifareClassic1K).ok());
  EXPECT_NE(printer.current_card()->Uid(), first);
}

TEST_F(SimPrinterTest, PrintAndEjectWriteTheHopperFolder) {
  SimPrinter printer(config_, slot_);
  ASSERT_TRUE(printer.Feed("JOB-1.1", CardType::kMifareClassic1K).ok());
  ASSERT_TRUE(printer.Print(Data("JOB-1.1")).ok());
  ASSERT_TRUE(printer.Eject(Hopper::kOutput).ok());
  fs::path card = dir_ / "output" / "JOB-1.1";
  EXPECT_EQ(*ReadFileLimited(card / "front.png", 100), (Bytes{1, 2, 3}));
  EXPECT_EQ(*ReadFileLimited(card / "back.png", 100), (Bytes{4, 5}));
  auto mfd = ReadFileLimited(card / "card.mfd", 8192);
  ASSERT_TRUE(mfd.ok());
  EXPECT_EQ(mfd->size(), 1024u);
  EXPECT_EQ(printer.counters().ejected_output, 1);
  // The card left the reader.
  EXPECT_FALSE(slot_.WaitForCard(std::chrono::milliseconds(1)).has_value());
}

// The ribbon and card stock the station tile shows: every feed takes a
// card, every print a ribbon panel; a fifth or less left is low; an empty
// input hopper refuses to feed.
TEST_F(SimPrinterTest, SuppliesGoDownWithEveryCardAndWarnWhenLow) {
  config_.card_stock = 5;
  config_.ribbon_prints = 10;
  SimPrinter printer(config_, slot_);
  auto s = printer.supplies();
  ASSERT_TRUE(s.known);
  EXPECT_EQ(s.cards_left, 5);
  EXPECT_EQ(s.ribbon_left, 10);
  EXPECT_FALSE(s.cards_low());
  EXPECT_FALSE(s.ribbon_low());
  for (int i = 1; i <= 4; ++i) {
    const std::string id = "JOB-1." + std::to_string(i);
    ASSERT_TRUE(printer.Feed(id, CardType::kMifareClassic1K).ok()) << i;
    ASSERT_TRUE(printer.Print(Data(id)).ok()) << i;
    ASSERT_TRUE(printer.Eject(Hopper::kOutput).ok()) << i;
  }
  s = printer.supplies();
  EXPECT_EQ(s.cards_left, 1);
  EXPECT_EQ(s.ribbon_left, 6);
  EXPECT_TRUE(s.cards_low()) << "1 of 5 cards is a fifth";
  EXPECT_FALSE(s.ribbon_low());
  ASSERT_TRUE(printer.Feed("JOB-1.5", CardType::kMifareClassic1K).ok());
  ASSERT_TRUE(printer.Eject(Hopper::kReject).ok());
  EXPECT_EQ(printer.supplies().cards_left, 0);
  Status empty = printer.Feed("JOB-1.6", CardType::kMifareClassic1K);
  EXPECT_EQ(empty.code(), Code::kPrinterError);
  EXPECT_NE(empty.message().find("input hopper empty"), std::string::npos) << empty;
  // A printer that reports nothing (the interface default).
  EXPECT_FALSE(PrinterSupplies{}.known);
  EXPECT_FALSE(PrinterSupplies{}.cards_low());
}

TEST_F(SimPrinterTest, PurgeRemovesEveryCardOfTheJobAndNoOther) {
  SimPrinter printer(config_, slot_);
  // Job "JOB-1": a rejected first card and a produced second one; job
  // "JOB-1.1" (dots are allowed in job ids) and "JOB-10" must survive.
  const std::vector<std::pair<std::string, Hopper>> cards = {{"JOB-1.1", Hopper::kReject},
                                                             {"JOB-1.2", Hopper::kOutput},
                                                             {"JOB-1.1.1", Hopper::kOutput},
                                                             {"JOB-10.1", Hopper::kOutput}};
  for (const auto& [id, hopper] : cards) {
    ASSERT_TRUE(printer.Feed(id, CardType::kMifareClassic1K).ok());
    ASSERT_TRUE(printer.Print(Data(id)).ok());
    ASSERT_TRUE(printer.Eject(hopper).ok());
  }
  ASSERT_TRUE(printer.Purge("JOB-1").ok());
  EXPECT_FALSE(fs::exists(dir_ / "reject" / "JOB-1.1"));
  EXPECT_FALSE(fs::exists(dir_ / "output" / "JOB-1.2"));
  EXPECT_TRUE(fs::exists(dir_ / "output" / "JOB-1.1.1" / "front.png"));
  EXPECT_TRUE(fs::exists(dir_ / "output" / "JOB-10.1" / "front.png"));
  ASSERT_TRUE(printer.Purge("JOB-1.1").ok());
  EXPECT_FALSE(fs::exists(dir_ / "output" / "JOB-1.1.1"));
  EXPECT_TRUE(fs::exists(dir_ / "output" / "JOB-10.1"));
  EXPECT_TRUE(printer.Purge("NO-SUCH-JOB").ok());
}

TEST_F(SimPrinterTest, FourKStock) {
  SimPrinter printer(config_, slot_);
  ASSERT_TRUE(printer.Feed("x", CardType::kMifareClassic4K).ok());
  ASSERT_TRUE(printer.Eject(Hopper::kReject).ok());
  EXPECT_EQ(ReadFileLimited(dir_ / "reject" / "x" / "card.mfd", 8192)->size(), 4096u);
}

TEST_F(SimPrinterTest, JamsAndRibbonOnDemand) {
  config_.jam_on_feed = {2};
  config_.jam_on_print = {2};
  config_.ribbon_runs_out_after = 2;
  SimPrinter printer(config_, slot_);
  ASSERT_TRUE(printer.Feed("1", CardType::kMifareClassic1K).ok());
  ASSERT_TRUE(printer.Print(Data("1")).ok());
  ASSERT_TRUE(printer.Eject(Hopper::kOutput).ok());
  EXPECT_EQ(printer.Feed("2", CardType::kMifareClassic1K).code(), Code::kPrinterJam);
  ASSERT_TRUE(printer.Feed("3", CardType::kMifareClassic1K).ok());
  EXPECT_EQ(printer.Print(Data("3")).code(), Code::kPrinterJam);
  ASSERT_TRUE(printer.Eject(Hopper::kReject).ok());
  ASSERT_TRUE(printer.Feed("4", CardType::kMifareClassic1K).ok());
  ASSERT_TRUE(printer.Print(Data("4")).ok());
  ASSERT_TRUE(printer.Eject(Hopper::kOutput).ok());
  ASSERT_TRUE(printer.Feed("5", CardType::kMifareClassic1K).ok());
  EXPECT_EQ(printer.Print(Data("5")).code(), Code::kPrinterOutOfRibbon);
  printer.ReplaceRibbon();
  EXPECT_TRUE(printer.Print(Data("5")).ok());
  EXPECT_EQ(printer.counters().jams, 2);
}

TEST_F(SimPrinterTest, CardFaultsApplyToTheNthCard) {
  devices::FaultPlan pull;
  pull.pull_after_apdu = 1;
  config_.card_faults[2] = pull;
  SimPrinter printer(config_, slot_);
  ASSERT_TRUE(printer.Feed("1", CardType::kMifareClassic1K).ok());
  auto c1 = slot_.WaitForCard(std::chrono::milliseconds(10));
  ASSERT_TRUE(devices::TransmitChecked(**c1, devices::Apdu::GetUid()).ok());
  ASSERT_TRUE(devices::TransmitChecked(**c1, devices::Apdu::GetUid()).ok());
  ASSERT_TRUE(printer.Eject(Hopper::kOutput).ok());
  ASSERT_TRUE(printer.Feed("2", CardType::kMifareClassic1K).ok());
  auto c2 = slot_.WaitForCard(std::chrono::milliseconds(10));
  ASSERT_TRUE(devices::TransmitChecked(**c2, devices::Apdu::GetUid()).ok());
  EXPECT_EQ(devices::TransmitChecked(**c2, devices::Apdu::GetUid()).status().code(),
            Code::kCardRemoved);
  // Reseating puts the same card back into the field.
  Bytes uid = printer.current_card()->Uid();
  ASSERT_TRUE(printer.Reseat().ok());
  auto again = devices::TransmitChecked(**c2, devices::Apdu::GetUid());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, uid);
}

}  // namespace
}  // namespace cardbureau::printers
