// Integration: our PC/SC layer against a real pcscd with the vpcd driver and
// our emulated card connected to vpcd. Starts pcscd itself (root only).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "cardbureau/core/stop.h"
#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/card_image.h"
#include "cardbureau/devices/commands.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/pcsc.h"
#include "cardbureau/devices/vpcd_card.h"
#include "cardbureau/testing/commands.h"
#include "cardbureau/testing/pcscd_guard.h"
#include "command_sequence.h"

namespace cardbureau::devices {
namespace {

using namespace std::chrono_literals;
using cardbureau::testing::kVirtualReader0;
using cardbureau::testing::kVirtualReader1;

std::shared_ptr<MifareClassicEmulator> StockCard(uint64_t seed, FaultPlan faults = {}) {
  const Bytes image = MakeBlankStock(StockKind::kBjt1k, seed);
  return std::make_shared<MifareClassicEmulator>(image, *UidFromImage(image), faults);
}

// Waits for the next event of `kind` on `reader`, skipping others.
std::optional<ReaderEvent> NextEvent(PcscReaders& readers, ReaderEventKind kind,
                                     const std::string& reader, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto e = readers.WaitForEvent(left);
    if (!e.ok()) {
      ADD_FAILURE() << e.status();
      return std::nullopt;
    }
    if (*e && (*e)->kind == kind && (*e)->reader == reader) return *e;
  }
  return std::nullopt;
}

TEST(PcscVpcdTest, ListsBothVirtualReadersWithoutCards) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  PcscReaders readers;
  auto list = readers.List();
  ASSERT_TRUE(list.ok()) << list.status();
  int found = 0;
  for (const auto& r : *list) {
    if (r.name == kVirtualReader0 || r.name == kVirtualReader1) {
      ++found;
      EXPECT_FALSE(r.card_present) << r.name;
    }
  }
  EXPECT_EQ(found, 2);
}

TEST(PcscVpcdTest, WaitForCardTimesOutWithNoCardYet) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  PcscReaders readers;
  const auto start = std::chrono::steady_clock::now();
  auto atr = readers.WaitForCard(kVirtualReader0, 300ms);
  ASSERT_TRUE(atr.ok()) << atr.status();
  EXPECT_FALSE(atr->has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 290ms);
  EXPECT_EQ(PcscChannel::Open(kVirtualReader0).status().code(), Code::kCardRemoved);
  auto channel = readers.WaitAndConnect(kVirtualReader0, 200ms);
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_FALSE(channel->has_value());
}

TEST(PcscVpcdTest, InsertAndRemoveAreSeenAsEvents) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  PcscReaders readers;
  auto baseline = readers.WaitForEvent(0ms);
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  EXPECT_FALSE(baseline->has_value());

  auto card = StockCard(1);
  auto vcard = std::make_unique<VpcdCard>(card, VpcdOptions{});
  auto inserted = NextEvent(readers, ReaderEventKind::kCardInserted, kVirtualReader0, 10s);
  ASSERT_TRUE(inserted.has_value());
  EXPECT_EQ(inserted->atr, MifareClassicAtr(CardSize::k1K));

  card->Remove();  // the card leaves the field: VpcdCard disconnects
  EXPECT_TRUE(NextEvent(readers, ReaderEventKind::kCardRemoved, kVirtualReader0, 10s));
  card->Insert();
  EXPECT_TRUE(NextEvent(readers, ReaderEventKind::kCardInserted, kVirtualReader0, 10s));
  vcard.reset();  // closing the connection removes the card
  EXPECT_TRUE(NextEvent(readers, ReaderEventKind::kCardRemoved, kVirtualReader0, 10s));
}

TEST(PcscVpcdTest, SecondReaderOnPort35964) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  auto card = StockCard(2);
  VpcdCard vcard(card, VpcdOptions{.port = 35964});
  PcscReaders readers;
  auto atr = readers.WaitForCard(kVirtualReader1, 10s);
  ASSERT_TRUE(atr.ok()) << atr.status();
  ASSERT_TRUE(atr->has_value());
  auto list = readers.List();
  ASSERT_TRUE(list.ok());
  for (const auto& r : *list) {
    if (r.name == kVirtualReader0) {
      EXPECT_FALSE(r.card_present);
    }
    if (r.name == kVirtualReader1) {
      EXPECT_TRUE(r.card_present);
    }
  }
}

TEST(PcscVpcdTest, ExchangesApdusOverAnExclusiveConnection) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  auto card = StockCard(3);
  VpcdCard vcard(card);
  PcscReaders readers;
  auto connected = readers.WaitAndConnect(kVirtualReader0, 10s);
  ASSERT_TRUE(connected.ok()) << connected.status();
  ASSERT_TRUE(connected->has_value());
  std::unique_ptr<PcscChannel>& channel = **connected;
  EXPECT_EQ(channel->Atr(), MifareClassicAtr(CardSize::k1K));

  auto uid = TransmitChecked(*channel, Apdu::GetUid());
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_EQ(*uid, card->Uid());
  ASSERT_TRUE(TransmitChecked(*channel, Apdu::LoadKey(0, Bytes(6, 0xFF))).ok());
  ASSERT_TRUE(TransmitChecked(*channel, Apdu::Authenticate(32, KeyType::kA, 0)).ok());
  ASSERT_TRUE(TransmitChecked(*channel, Apdu::UpdateBlock(33, Bytes(16, 0xC3))).ok());
  auto back = TransmitChecked(*channel, Apdu::ReadBlock(33));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, Bytes(16, 0xC3));
  const Bytes image = card->Image();
  EXPECT_EQ(Bytes(image.begin() + 33 * 16, image.begin() + 34 * 16), Bytes(16, 0xC3));
  EXPECT_EQ(TransmitChecked(*channel, Apdu::Authenticate(4, KeyType::kA, 0)).status().code(),
            Code::kAuthFailed);

  // Exclusive: nobody else gets the card meanwhile.
  auto second = PcscChannel::Open(kVirtualReader0, ShareMode::kShared);
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kReaderError) << second.status();

  auto tx = channel->BeginTransaction();
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_TRUE(tx->active());
  EXPECT_TRUE(tx->End().ok());
  EXPECT_FALSE(tx->active());
}

TEST(PcscVpcdTest, PulledCardIsCardRemoved) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  FaultPlan faults;
  faults.pull_after_apdu = 2;
  auto card = StockCard(4, faults);
  VpcdCard vcard(card);
  PcscReaders readers;
  auto atr = readers.WaitForCard(kVirtualReader0, 10s);
  ASSERT_TRUE(atr.ok() && atr->has_value()) << atr.status();
  auto channel = readers.Connect(kVirtualReader0);
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_TRUE(TransmitChecked(**channel, Apdu::GetUid()).ok());
  EXPECT_TRUE(TransmitChecked(**channel, Apdu::LoadKey(0, Bytes(6, 0xFF))).ok());  // 2nd: pulled
  auto gone = (*channel)->Transmit(Apdu::Authenticate(28, KeyType::kA, 0));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Code::kCardRemoved) << gone.status();
}

TEST(PcscVpcdTest, SameCommandSequenceOverVpcdAndLoopback) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  auto over_vpcd = StockCard(5);
  auto over_loopback = StockCard(5);
  VpcdCard vcard(over_vpcd);
  PcscReaders readers;
  auto atr = readers.WaitForCard(kVirtualReader0, 10s);
  ASSERT_TRUE(atr.ok() && atr->has_value()) << atr.status();
  auto channel = readers.Connect(kVirtualReader0);
  ASSERT_TRUE(channel.ok()) << channel.status();
  LoopbackChannel loopback(over_loopback);

  const auto via_pcsc = testing::RunCommandSequence(**channel);
  const auto via_loopback = testing::RunCommandSequence(loopback);
  EXPECT_EQ(via_pcsc, via_loopback);
  EXPECT_EQ(over_vpcd->Image(), over_loopback->Image());
  EXPECT_EQ((*channel)->Atr(), loopback.Atr());
}

TEST(PcscVpcdTest, SurvivesPcscdRestartMidSession) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  if (!pcscd->owned()) GTEST_SKIP() << "a pcscd not started by this test runs; cannot restart it";
  auto card = StockCard(6);
  VpcdCard vcard(card);
  PcscReaders readers(Backoff{20ms, 200ms});
  auto atr = readers.WaitForCard(kVirtualReader0, 10s);
  ASSERT_TRUE(atr.ok() && atr->has_value()) << atr.status();
  auto channel = readers.Connect(kVirtualReader0);
  ASSERT_TRUE(channel.ok()) << channel.status();
  ASSERT_TRUE(TransmitChecked(**channel, Apdu::LoadKey(0, Bytes(6, 0xFF))).ok());
  ASSERT_TRUE(TransmitChecked(**channel, Apdu::Authenticate(28, KeyType::kA, 0)).ok());
  ASSERT_TRUE(TransmitChecked(**channel, Apdu::UpdateBlock(28, Bytes(16, 0x01))).ok());

  ASSERT_TRUE(pcscd->Stop().ok());
  auto during = (*channel)->Transmit(Apdu::ReadBlock(28));
  ASSERT_FALSE(during.ok());
  EXPECT_EQ(during.status().code(), Code::kReaderUnavailable) << during.status();
  auto waiting = readers.WaitForCard(kVirtualReader0, 300ms);
  EXPECT_EQ(waiting.status().code(), Code::kReaderUnavailable) << waiting.status();

  ASSERT_TRUE(pcscd->StartAgain().ok());
  // The same PcscReaders re-establishes its context; vpcd gets the card back.
  auto again = readers.WaitForCard(kVirtualReader0, 15s);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->has_value());
  channel = readers.Connect(kVirtualReader0);
  ASSERT_TRUE(channel.ok()) << channel.status();
  ASSERT_TRUE(TransmitChecked(**channel, Apdu::LoadKey(0, Bytes(6, 0xFF))).ok());
  ASSERT_TRUE(TransmitChecked(**channel, Apdu::Authenticate(28, KeyType::kA, 0)).ok());
  auto block = TransmitChecked(**channel, Apdu::ReadBlock(28));
  ASSERT_TRUE(block.ok()) << block.status();
  EXPECT_EQ(*block, Bytes(16, 0x01));
  EXPECT_GE(vcard.connections(), 2);
}

TEST(PcscVpcdTest, WatchReportsServiceLossAndReturn) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  if (!pcscd->owned()) GTEST_SKIP() << "a pcscd not started by this test runs; cannot restart it";
  PcscReaders readers(Backoff{20ms, 200ms});
  ASSERT_TRUE(readers.WaitForEvent(0ms).ok());
  ASSERT_TRUE(pcscd->Stop().ok());
  EXPECT_TRUE(NextEvent(readers, ReaderEventKind::kServiceLost, "", 5s));
  ASSERT_TRUE(pcscd->StartAgain().ok());
  EXPECT_TRUE(NextEvent(readers, ReaderEventKind::kServiceRestored, "", 10s));
}

TEST(PcscVpcdTest, CancelWakesAWait) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  PcscReaders readers;
  ASSERT_TRUE(readers.WaitForEvent(0ms).ok());
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    readers.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  auto e = readers.WaitForCard(kVirtualReader0, 10s);
  canceller.join();
  EXPECT_EQ(e.status().code(), Code::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

using cardbureau::testing::RunCommand;

TEST(PcscVpcdTest, VcardAndReadersCommands) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  const auto dir =
      std::filesystem::temp_directory_path() / ("cb-vcard-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string image = (dir / "card.mfd").string();

  // A refused fault spec is exit 1 and creates nothing.
  EXPECT_EQ(RunCommand(Commands(), "vcard", {"--image", image, "--faults", "pull-after=0"}), 1);
  EXPECT_FALSE(std::filesystem::exists(image));
  EXPECT_EQ(RunCommand(Commands(), "vcard", {"--port", "35964"}), 2);  // --image missing

  int rc = -1;
  std::thread vcard([&] {
    rc = RunCommand(Commands(), "vcard",
                    {"--image", image, "--stock", "bjt-4k", "--seed", "7", "--uid", "04AABBCC",
                     "--port", "35964"});
  });
  PcscReaders readers;
  auto atr = readers.WaitForCard(kVirtualReader1, 10s);
  ASSERT_TRUE(atr.ok() && atr->has_value()) << atr.status();
  EXPECT_EQ(**atr, MifareClassicAtr(CardSize::k4K));

  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunCommand(Commands(), "readers", {}), 0);
  const std::string listed = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(listed.find("Virtual PCD 00 01: ATR 3B8F8001804F0CA0000003060300020000000069 "
                        "(MIFARE Classic 4K) UID 04AABBCC"),
            std::string::npos)
      << listed;
  EXPECT_NE(listed.find("Virtual PCD 00 00: no card"), std::string::npos) << listed;

  {
    auto channel = readers.Connect(kVirtualReader1);
    ASSERT_TRUE(channel.ok()) << channel.status();
    ASSERT_TRUE(TransmitChecked(**channel, Apdu::LoadKey(0, Bytes(6, 0xFF))).ok());
    ASSERT_TRUE(TransmitChecked(**channel, Apdu::Authenticate(28, KeyType::kA, 0)).ok());
    ASSERT_TRUE(TransmitChecked(**channel, Apdu::UpdateBlock(29, Bytes(16, 0x5A))).ok());
  }
  auto saved = LoadCardImage(image);  // saved after every write
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->size(), 4096u);
  EXPECT_EQ(Bytes(saved->begin() + 29 * 16, saved->begin() + 30 * 16), Bytes(16, 0x5A));
  EXPECT_EQ(ToHex(ByteView(*saved).first(4)), "04AABBCC");

  ::kill(::getpid(), SIGTERM);  // the command's handler turns this into a clean stop
  vcard.join();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(*LoadCardImage(image), *saved);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::devices
