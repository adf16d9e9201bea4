// Encode and read back through the real stack: pcscd + the vpcd driver +
// our emulated card connected to vpcd. Starts pcscd itself (root only; the
// tests skip with a message otherwise).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cardbureau/devices/pcsc.h"
#include "cardbureau/devices/vpcd_card.h"
#include "cardbureau/encoder/card_reader.h"
#include "cardbureau/encoder/commands.h"
#include "cardbureau/testing/commands.h"
#include "cardbureau/testing/pcscd_guard.h"
#include "encoder_test_support.h"

namespace cardbureau::encoder {
namespace {

using namespace std::chrono_literals;
using cardbureau::testing::kVirtualReader0;
using devices::CardSize;
using devices::StockKind;
using namespace cardbureau::encoder::testing;

// Waits for the card to be in the reader and connects (retrying while a
// re-inserted card is still settling in pcscd).
std::unique_ptr<devices::PcscChannel> Connect() {
  devices::PcscReaders readers;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  Status last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto atr = readers.WaitForCard(kVirtualReader0, 2s);
    if (atr.ok() && atr->has_value()) {
      auto ch = readers.Connect(kVirtualReader0);
      if (ch.ok()) return std::move(*ch);
      last = ch.status();
    } else if (!atr.ok()) {
      last = atr.status();
    }
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "no card in " << kVirtualReader0 << ": " << last;
  return nullptr;
}

// Waits until pcscd has seen the previous card leave the reader, so that
// the next Connect() cannot reach a stale slot.
void WaitForEmptyReader() {
  devices::PcscReaders readers;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto list = readers.List();
    ASSERT_TRUE(list.ok()) << list.status();
    bool present = false;
    for (const auto& r : *list) {
      if (r.name == kVirtualReader0) present = r.card_present;
    }
    if (!present) return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL() << kVirtualReader0 << " still shows a card";
}

// A card pulled in the middle of an APDU: pcscd reports it as the card
// gone (CARD_REMOVED) or, when the removal races the transmit, as a failed
// transaction (READER_ERROR) or an empty response (PROTOCOL_ERROR, seen when
// vpcd answers the APDU that raced the pull with no bytes). Either way the
// encode failed, nothing claims success, and the retry finishes the card.
bool IsPulledCardError(const Status& s) {
  return s.code() == Code::kCardRemoved || s.code() == Code::kReaderError ||
         s.code() == Code::kProtocolError;
}

class EncodePcscTest : public ::testing::Test {
 protected:
  Personalizer personalizer_{TestKeys()};
  KeySet keys_ = TestKeys();

  void EncodeAndReadBack(StockKind kind, const Job& job, uint64_t seed) {
    WaitForEmptyReader();
    auto card = NewCard(kind, seed);
    const Bytes before = card->Image();
    devices::VpcdCard vcard(card);
    ASSERT_TRUE(vcard.WaitUntilConnected(10s)) << vcard.last_error();
    auto ch = Connect();
    ASSERT_NE(ch, nullptr);
    auto out = personalizer_.Encode(*ch, job, Params());
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->kind, EncodeKind::kWritten);
    EXPECT_EQ(ToHex(out->uid), ToHex(card->Uid()));
    EXPECT_EQ(out->apdus, MinimumApdusForBlankCard(out->size, 5, 3));

    auto report = ReadCard(*ch, &keys_);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_TRUE(report->record.has_value()) << report->record_status;
    EXPECT_EQ(report->record->record.job_id, job.job_id);
    ASSERT_TRUE(report->mac_status.has_value());
    EXPECT_TRUE(report->mac_status->ok());
    EXPECT_EQ(NonStudentBytes(card->Image(), kDefaultStudentSectors),
              NonStudentBytes(before, kDefaultStudentSectors));
    ExpectNoBrickedSector(card->Image());
  }
};

TEST_F(EncodePcscTest, Encode1KThroughPcscd) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  EncodeAndReadBack(StockKind::kBjt1k, LoadJob("valid-junior-reissue.json"), 21);
}

TEST_F(EncodePcscTest, Encode4KThroughPcscd) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  EncodeAndReadBack(StockKind::kBjt4k, LoadJob("valid-senior-4k.json"), 22);
}

// A sample of the tear points (the exhaustive loop runs over loopback).
TEST_F(EncodePcscTest, PulledThenReinsertedCardIsFinished) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  const Job job = LoadJob("valid-junior-reissue.json");
  const int plan_length = MinimumApdusForBlankCard(CardSize::k1K, 5, 3);
  for (int k : {3, 30, plan_length - 6, plan_length - 1}) {
    SCOPED_TRACE("pulled after APDU " + std::to_string(k));
    WaitForEmptyReader();
    auto card = NewCard(StockKind::kBjt1k, 23);
    const Bytes before = card->Image();
    devices::FaultPlan pull;
    pull.pull_after_apdu = k;
    card->SetFaults(pull);
    devices::VpcdCard vcard(card);
    ASSERT_TRUE(vcard.WaitUntilConnected(10s));
    {
      auto ch = Connect();
      ASSERT_NE(ch, nullptr);
      auto torn = personalizer_.Encode(*ch, job, Params());
      ASSERT_FALSE(torn.ok());
      EXPECT_TRUE(IsPulledCardError(torn.status())) << torn.status();
    }
    card->SetFaults({});
    WaitForEmptyReader();
    card->Insert();
    ASSERT_TRUE(vcard.WaitUntilConnected(10s));
    auto ch = Connect();
    ASSERT_NE(ch, nullptr);
    auto done = personalizer_.Encode(*ch, job, Params());
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->record.job_id, job.job_id);
    EXPECT_EQ(NonStudentBytes(card->Image(), kDefaultStudentSectors),
              NonStudentBytes(before, kDefaultStudentSectors));
    ExpectNoBrickedSector(card->Image());
  }
}

TEST_F(EncodePcscTest, RefusalsAndFaultsThroughPcscd) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  const Job job = LoadJob("valid-junior-reissue.json");
  const Job other = LoadJob("valid-primary-new.json");
  {
    Bytes image = devices::MakeBlankStock(StockKind::kBjt1k, 24);
    image[16] ^= 0x01;  // MAD1 CRC
    auto card = std::make_shared<devices::MifareClassicEmulator>(
        image, devices::UidFromImage(image).value());
    WaitForEmptyReader();
    devices::VpcdCard vcard(card);
    ASSERT_TRUE(vcard.WaitUntilConnected(10s));
    auto ch = Connect();
    ASSERT_NE(ch, nullptr);
    EXPECT_EQ(personalizer_.Encode(*ch, job, Params()).status().code(), Code::kCardStockInvalid);
    EXPECT_EQ(card->Image(), image);
  }
  {
    auto card = NewCard(StockKind::kBjt1k, 25);
    devices::FaultPlan drop;
    drop.drop_write = 19;  // the magic block
    card->SetFaults(drop);
    WaitForEmptyReader();
    devices::VpcdCard vcard(card);
    ASSERT_TRUE(vcard.WaitUntilConnected(10s));
    auto ch = Connect();
    ASSERT_NE(ch, nullptr);
    {
      auto r = personalizer_.Encode(*ch, job, Params());
      EXPECT_EQ(r.status().code(), Code::kVerifyMismatch) << r.status();
    }
    card->SetFaults({});
    ASSERT_TRUE(personalizer_.Encode(*ch, job, Params()).ok());
    EXPECT_EQ(personalizer_.Encode(*ch, other, Params()).status().code(),
              Code::kCardAlreadyPersonalized);
  }
  {
    auto card = NewCard(StockKind::kBjt1k, 26);
    devices::FaultPlan fail;
    fail.fail_auth = 3;  // the transport key A of sector 11
    card->SetFaults(fail);
    WaitForEmptyReader();
    devices::VpcdCard vcard(card);
    ASSERT_TRUE(vcard.WaitUntilConnected(10s));
    auto ch = Connect();
    ASSERT_NE(ch, nullptr);
    EXPECT_EQ(personalizer_.Encode(*ch, job, Params()).status().code(), Code::kAuthFailed);
  }
}

using cardbureau::testing::RunCommand;

// The operator's path: `cardbureau encode` then `cardbureau read --json`.
TEST_F(EncodePcscTest, CliEncodeThenQaRead) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cb-enc-pcsc-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path keys = dir / "keystore.json";
  fs::copy_file(kRepo / "fixtures/keys/keystore-test.json", keys,
                fs::copy_options::overwrite_existing);
  fs::permissions(keys, fs::perms::owner_read | fs::perms::owner_write);
  const std::string job = (kRepo / "fixtures/jobs/valid-junior-reissue.json").string();

  WaitForEmptyReader();
  auto card = NewCard(StockKind::kBjt1k, 27);
  const Bytes before = card->Image();
  devices::VpcdCard vcard(card);
  ASSERT_TRUE(vcard.WaitUntilConnected(10s));

  ::testing::internal::CaptureStdout();
  const int enc = RunCommand(Commands(), "encode",
                             {"--reader", kVirtualReader0, "--job", job, "--keys", keys.string(),
                              "--issued-on", "2026-11-25", "--timeout", "10", "--json"});
  const std::string enc_out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(enc, 0) << enc_out;
  const auto e = nlohmann::json::parse(enc_out);
  EXPECT_EQ(e["uid"], ToHex(card->Uid()));
  EXPECT_EQ(e["result"], "written");
  EXPECT_EQ(e["job_id"], "RJ20261123-000002");

  ::testing::internal::CaptureStdout();
  const int rd = RunCommand(
      Commands(), "read",
      {"--reader", kVirtualReader0, "--keys", keys.string(), "--timeout", "10", "--json"});
  const std::string rd_out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(rd, 0) << rd_out;
  const auto r = nlohmann::json::parse(rd_out);
  EXPECT_EQ(r["uid"], ToHex(card->Uid()));
  EXPECT_EQ(r["mac"], "OK");
  EXPECT_EQ(r["record"]["job_id"], "RJ20261123-000002");
  EXPECT_EQ(r["record"]["issued_on"], "2026-11-25");
  EXPECT_EQ(r["sectors"][3]["state"], "not ours, not touched");
  EXPECT_EQ(NonStudentBytes(card->Image(), kDefaultStudentSectors),
            NonStudentBytes(before, kDefaultStudentSectors));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::encoder
