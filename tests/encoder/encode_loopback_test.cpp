// Encode then read back over the in-process loopback emulator: the whole
// write order, tearing at every APDU, silent write loss, failed
// authentication and the refusals.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/encoder/card_reader.h"
#include "cardbureau/encoder/diversify.h"
#include "cardbureau/encoder/sector_plan.h"
#include "encoder_test_support.h"

namespace cardbureau::encoder {
namespace {

using devices::CardSize;
using devices::FaultPlan;
using devices::LoopbackChannel;
using devices::MifareClassicEmulator;
using devices::StockKind;
using namespace cardbureau::encoder::testing;

// Records every APDU on its way to the card, to prove which blocks the
// encoder authenticated and wrote.
class RecordingChannel : public devices::CardChannel {
 public:
  explicit RecordingChannel(devices::CardChannel& inner) : inner_(inner) {}
  Result<Bytes> Transmit(ByteView apdu) override {
    sent.emplace_back(apdu.begin(), apdu.end());
    return inner_.Transmit(apdu);
  }
  Bytes Atr() const override { return inner_.Atr(); }

  // Blocks named by authenticate (FF 86 00 00 05 01 00 block ..) and update (FF D6 00 block).
  std::set<int> AuthenticatedBlocks() const {
    std::set<int> out;
    for (const Bytes& a : sent) {
      if (a.size() >= 10 && a[1] == 0x86) out.insert(a[7]);
    }
    return out;
  }
  std::set<int> WrittenBlocks() const {
    std::set<int> out;
    for (const Bytes& a : sent) {
      if (a.size() >= 4 && a[1] == 0xD6) out.insert(a[3]);
    }
    return out;
  }
  std::vector<Bytes> sent;

 private:
  devices::CardChannel& inner_;
};

class EncodeLoopbackTest : public ::testing::Test {
 protected:
  Personalizer personalizer_{TestKeys()};
  KeySet keys_ = TestKeys();
  Job junior_ = LoadJob("valid-junior-reissue.json");
  Job senior4k_ = LoadJob("valid-senior-4k.json");
  Job primary_ = LoadJob("valid-primary-new.json");

  Result<EncodeOutcome> Encode(std::shared_ptr<MifareClassicEmulator> card, const Job& job,
                               EncodeParams params = Params()) {
    LoopbackChannel ch(std::move(card));
    return personalizer_.Encode(ch, job, params);
  }
  CardReport Read(std::shared_ptr<MifareClassicEmulator> card, bool with_keys = true) {
    LoopbackChannel ch(std::move(card));
    auto r = ReadCard(ch, with_keys ? &keys_ : nullptr);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(CardReport{});
  }
  // The card holds `job`'s complete record, verified, all student sectors
  // personalized, nothing else changed.
  void ExpectPersonalized(const std::shared_ptr<MifareClassicEmulator>& card, const Job& job,
                          ByteView original) {
    const CardReport report = Read(card);
    ASSERT_TRUE(report.mad_status.ok()) << report.mad_status;
    ASSERT_TRUE(report.record_status.ok()) << report.record_status;
    ASSERT_TRUE(report.record.has_value());
    EXPECT_EQ(report.record->record.job_id, job.job_id);
    ASSERT_TRUE(report.mac_status.has_value());
    EXPECT_TRUE(report.mac_status->ok()) << *report.mac_status;
    for (const SectorReport& s : report.sectors) {
      if (s.role == SectorRole::kStudent) {
        EXPECT_EQ(s.state, StudentSectorState::kPersonalized) << "sector " << s.sector;
      } else {
        EXPECT_FALSE(s.state.has_value());
      }
    }
    const Bytes image = card->Image();
    EXPECT_EQ(NonStudentBytes(image, kDefaultStudentSectors),
              NonStudentBytes(original, kDefaultStudentSectors));
    ExpectNoBrickedSector(image);
  }
};

TEST_F(EncodeLoopbackTest, Encode1KThenReadBack) {
  auto card = NewCard(StockKind::kBjt1k, 1);
  const Bytes before = card->Image();
  LoopbackChannel inner(card);
  RecordingChannel ch(inner);
  auto out = personalizer_.Encode(ch, junior_, Params(2));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, EncodeKind::kWritten);
  EXPECT_EQ(ToHex(out->uid), ToHex(card->Uid()));
  EXPECT_EQ(out->student_sectors, kDefaultStudentSectors);
  EXPECT_EQ(out->record.job_id, junior_.job_id);
  EXPECT_EQ(out->record.issue_sequence, 2);
  EXPECT_EQ(out->apdus, static_cast<int>(ch.sent.size()));
  EXPECT_EQ(out->apdus, MinimumApdusForBlankCard(CardSize::k1K, 5, 3));
  // Only the MAD sector and the student sectors were authenticated; only
  // student data blocks and trailers were written; never block 0.
  for (int block : ch.AuthenticatedBlocks()) {
    const int sector = devices::SectorOfBlock(block);
    EXPECT_TRUE(sector == 0 || (sector >= 7 && sector <= 11)) << "block " << block;
  }
  for (int block : ch.WrittenBlocks()) {
    const int sector = devices::SectorOfBlock(block);
    EXPECT_TRUE(sector >= 7 && sector <= 11) << "block " << block;
  }
  EXPECT_EQ(ch.WrittenBlocks().size(), 20u);
  ExpectPersonalized(card, junior_, before);
  // The record decodes to the job's fields.
  const CardReport r = Read(card);
  EXPECT_EQ(r.record->record.education_id, junior_.student.education_id);
  EXPECT_EQ(r.record->record.name, junior_.student.name);
  EXPECT_EQ(r.record->record.level, 'J');
  EXPECT_EQ(r.record->record.valid_until, junior_.ValidUntil());
  EXPECT_EQ(r.record->record.issued_on, (CivilDate{2026, 11, 25}));
}

TEST_F(EncodeLoopbackTest, Encode4KThenReadBack) {
  auto card = NewCard(StockKind::kBjt4k, 2);
  const Bytes before = card->Image();
  auto out = Encode(card, senior4k_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size, CardSize::k4K);
  EXPECT_EQ(out->apdus, MinimumApdusForBlankCard(CardSize::k4K, 5, 3));
  ExpectPersonalized(card, senior4k_, before);
}

TEST_F(EncodeLoopbackTest, TrailerIsTheSpecifiedOne) {
  auto card = NewCard(StockKind::kBjt1k, 3);
  ASSERT_TRUE(Encode(card, junior_).ok());
  const Bytes image = card->Image();
  for (int sector : kDefaultStudentSectors) {
    const size_t off =
        static_cast<size_t>(devices::TrailerBlockOfSector(sector)) * devices::kBlockSize;
    EXPECT_EQ(
        ToHex(ByteView(image).subspan(off, 16)),
        ToHex(DeriveKeyA(keys_, card->Uid(), 0x5801, static_cast<uint8_t>(sector))->view()) +
            "78778800" +
            ToHex(DeriveKeyB(keys_, card->Uid(), 0x5801, static_cast<uint8_t>(sector))->view()));
  }
}

TEST_F(EncodeLoopbackTest, EncodingTwiceIsIdempotent) {
  auto card = NewCard(StockKind::kBjt1k, 4);
  const Bytes before = card->Image();
  ASSERT_TRUE(Encode(card, junior_).ok());
  const Bytes after_first = card->Image();
  const int writes = card->counts().writes;
  // A retry, even on another day, finds this job's complete record.
  EncodeParams later = Params();
  later.issued_on = {2026, 11, 27};
  auto again = Encode(card, junior_, later);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->kind, EncodeKind::kAlreadyDone);
  EXPECT_EQ(again->record.issued_on, (CivilDate{2026, 11, 25}));
  EXPECT_EQ(card->counts().writes, writes);
  EXPECT_EQ(card->Image(), after_first);
  ExpectPersonalized(card, junior_, before);
}

// Pull the card after APDU k, for every k of the plan; re-insert; encode
// again: always the complete verified record, never a bricked sector.
TEST_F(EncodeLoopbackTest, TearingAtEveryApduThenResume1K) {
  const int plan_length = MinimumApdusForBlankCard(CardSize::k1K, 5, 3);
  std::set<EncodeKind> kinds;
  for (int k = 1; k <= plan_length; ++k) {
    SCOPED_TRACE("pulled after APDU " + std::to_string(k));
    auto card = NewCard(StockKind::kBjt1k, 100);
    const Bytes before = card->Image();
    FaultPlan pull;
    pull.pull_after_apdu = k;
    card->SetFaults(pull);
    auto torn = Encode(card, junior_);
    if (k < plan_length) {
      ASSERT_FALSE(torn.ok());
      EXPECT_EQ(torn.status().code(), Code::kCardRemoved) << torn.status();
    } else {
      ASSERT_TRUE(torn.ok()) << torn.status();  // the last APDU completed
    }
    ExpectNoBrickedSector(card->Image());
    EXPECT_EQ(NonStudentBytes(card->Image(), kDefaultStudentSectors),
              NonStudentBytes(before, kDefaultStudentSectors));
    card->SetFaults({});
    card->Insert();
    // A torn card holds no record (NOT_FOUND) or the complete, verified
    // one: never a record that parses but does not verify.
    const CardReport mid = Read(card);
    if (mid.record_status.ok()) {
      ASSERT_TRUE(mid.mac_status.has_value());
      EXPECT_TRUE(mid.mac_status->ok()) << *mid.mac_status;
      EXPECT_EQ(mid.record->record.job_id, junior_.job_id);
    } else {
      EXPECT_EQ(mid.record_status.code(), Code::kNotFound) << mid.record_status;
    }
    auto resumed = Encode(card, junior_);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    kinds.insert(resumed->kind);
    ExpectPersonalized(card, junior_, before);
  }
  // Early tears leave a blank card, late ones a partial or complete record.
  EXPECT_TRUE(kinds.count(EncodeKind::kWritten));
  EXPECT_TRUE(kinds.count(EncodeKind::kResumed));
  EXPECT_TRUE(kinds.count(EncodeKind::kAlreadyDone));
}

TEST_F(EncodeLoopbackTest, TearingSampled4KAndDoubleTear) {
  const int plan_length = MinimumApdusForBlankCard(CardSize::k4K, 5, 3);
  for (int k : {1, 7, 10, 23, 40, plan_length - 5, plan_length - 1}) {
    SCOPED_TRACE("4K pulled after APDU " + std::to_string(k));
    auto card = NewCard(StockKind::kBjt4k, 200);
    const Bytes before = card->Image();
    FaultPlan pull;
    pull.pull_after_apdu = k;
    card->SetFaults(pull);
    ASSERT_FALSE(Encode(card, senior4k_).ok());
    // Tear the resume too, a few APDUs in.
    pull.pull_after_apdu = 12;
    card->SetFaults(pull);
    card->Insert();
    (void)Encode(card, senior4k_);
    card->SetFaults({});
    card->Insert();
    auto done = Encode(card, senior4k_);
    ASSERT_TRUE(done.ok()) << done.status();
    ExpectPersonalized(card, senior4k_, before);
  }
}

TEST_F(EncodeLoopbackTest, TornRecordOfAnotherJobIsOverwritten) {
  auto card = NewCard(StockKind::kBjt1k, 5);
  const Bytes before = card->Image();
  FaultPlan pull;
  pull.pull_after_apdu = 60;  // several sectors personalized, no magic yet
  card->SetFaults(pull);
  ASSERT_FALSE(Encode(card, junior_).ok());
  card->SetFaults({});
  card->Insert();
  auto other = Encode(card, primary_);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->kind, EncodeKind::kResumed);
  ExpectPersonalized(card, primary_, before);
}

// Silent write loss anywhere is caught: VERIFY_MISMATCH for a data block,
// AUTH_FAILED for a trailer (the new key B does not open the sector), never
// a success on a card that does not verify.
TEST_F(EncodeLoopbackTest, SilentWriteLossIsNeverSuccess) {
  std::set<Code> codes;
  for (int w = 1; w <= 20; ++w) {
    SCOPED_TRACE("write " + std::to_string(w) + " dropped");
    auto card = NewCard(StockKind::kBjt1k, 300);
    const Bytes before = card->Image();
    FaultPlan drop;
    drop.drop_write = w;
    card->SetFaults(drop);
    auto out = Encode(card, junior_);
    if (out.ok()) {
      // Only a write of bytes the block already held can be lost unnoticed.
      ExpectPersonalized(card, junior_, before);
    } else {
      codes.insert(out.status().code());
      EXPECT_TRUE(out.status().code() == Code::kVerifyMismatch ||
                  out.status().code() == Code::kAuthFailed)
          << out.status();
    }
    card->SetFaults({});
    auto retry = Encode(card, junior_);
    ASSERT_TRUE(retry.ok()) << retry.status();
    ExpectPersonalized(card, junior_, before);
  }
  EXPECT_TRUE(codes.count(Code::kVerifyMismatch));
  EXPECT_TRUE(codes.count(Code::kAuthFailed));
}

TEST_F(EncodeLoopbackTest, MagicBlockWriteLossIsVerifyMismatch) {
  auto card = NewCard(StockKind::kBjt1k, 6);
  FaultPlan drop;
  drop.drop_write = 19;  // sector 7: blocks 29, 30, then the magic block 28
  card->SetFaults(drop);
  auto out = Encode(card, junior_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kVerifyMismatch);
}

TEST_F(EncodeLoopbackTest, FailedAuthenticationIsNeverSuccess) {
  std::set<Code> codes;
  for (int a = 1; a <= 16; ++a) {
    SCOPED_TRACE("authentication " + std::to_string(a) + " fails");
    auto card = NewCard(StockKind::kBjt1k, 400);
    const Bytes before = card->Image();
    FaultPlan fail;
    fail.fail_auth = a;
    card->SetFaults(fail);
    auto out = Encode(card, junior_);
    if (out.ok()) {
      // The failed one was a key-B attempt that fails on blank stock anyway.
      ExpectPersonalized(card, junior_, before);
    } else {
      codes.insert(out.status().code());
      EXPECT_EQ(out.status().code(), Code::kAuthFailed) << out.status();
    }
    card->SetFaults({});
    ASSERT_TRUE(Encode(card, junior_).ok());
    ExpectPersonalized(card, junior_, before);
  }
  EXPECT_TRUE(codes.count(Code::kAuthFailed));
}

TEST_F(EncodeLoopbackTest, DeadStudentSectorIsAuthFailed) {
  auto card = NewCard(StockKind::kBjt1k, 7);
  FaultPlan dead;
  dead.dead_sector = 9;
  card->SetFaults(dead);
  auto out = Encode(card, junior_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kAuthFailed);
}

// --- refusals -----------------------------------------------------------

// Rewrites MAD1 in a blank image.
Bytes WithMad1(Bytes image, const Bytes& mad1) {
  std::copy(mad1.begin(), mad1.end(), image.begin() + 16);
  return image;
}

MadDirectory DefaultMad1K(ByteView image) {
  return ParseMad(CardSize::k1K, image.subspan(16, 32), {}).value();
}

std::shared_ptr<MifareClassicEmulator> CardFromImage(Bytes image) {
  Bytes uid = devices::UidFromImage(image).value();
  return std::make_shared<MifareClassicEmulator>(std::move(image), std::move(uid));
}

TEST_F(EncodeLoopbackTest, BadMadCrcIsStockInvalidAndNothingWritten) {
  Bytes image = devices::MakeBlankStock(StockKind::kBjt1k, 8);
  image[16] ^= 0x5A;  // the MAD1 CRC byte
  auto card = CardFromImage(image);
  auto out = Encode(card, junior_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kCardStockInvalid);
  EXPECT_EQ(card->counts().writes, 0);
  EXPECT_EQ(card->Image(), image);
  const CardReport r = Read(card);
  EXPECT_EQ(r.mad_status.code(), Code::kCardStockInvalid);
}

TEST_F(EncodeLoopbackTest, TooFewStudentSectorsIsStockInvalid) {
  Bytes image = devices::MakeBlankStock(StockKind::kBjt1k, 9);
  MadDirectory mad = DefaultMad1K(image);
  for (size_t s = 9; s <= 11; ++s) mad.aid[s] = kAidFree;  // 2 sectors = 96 bytes
  auto card = CardFromImage(WithMad1(image, EncodeMad1(mad)));
  auto out = Encode(card, junior_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kCardStockInvalid) << out.status();
  EXPECT_EQ(card->counts().writes, 0);

  for (size_t s = 7; s <= 8; ++s) mad.aid[s] = kAidFree;  // none at all
  auto none = CardFromImage(WithMad1(image, EncodeMad1(mad)));
  EXPECT_EQ(Encode(none, junior_).status().code(), Code::kCardStockInvalid);
  EXPECT_EQ(none->counts().writes, 0);
}

TEST_F(EncodeLoopbackTest, SectorsNotInTheMadAreNeverTouched) {
  // A MAD that gives sectors 12 and 13 to the student record instead of 10
  // and 11: the encoder follows the MAD, and 10/11 stay blank.
  Bytes image = devices::MakeBlankStock(StockKind::kBjt1k, 10);
  MadDirectory mad = DefaultMad1K(image);
  mad.aid[10] = kAidFree;
  mad.aid[11] = 0x2101;
  mad.aid[12] = 0x5801;
  mad.aid[13] = 0x5801;
  image = WithMad1(image, EncodeMad1(mad));
  auto card = CardFromImage(image);
  auto out = Encode(card, junior_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->student_sectors, (std::vector<int>{7, 8, 9, 12, 13}));
  const std::vector<int> ours = {7, 8, 9, 12, 13};
  EXPECT_EQ(NonStudentBytes(card->Image(), ours), NonStudentBytes(image, ours));
}

TEST_F(EncodeLoopbackTest, AnotherJobsRecordIsRefusedAndKept) {
  auto card = NewCard(StockKind::kBjt1k, 11);
  ASSERT_TRUE(Encode(card, junior_).ok());
  const Bytes personalized = card->Image();
  auto out = Encode(card, primary_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kCardAlreadyPersonalized);
  EXPECT_NE(out.status().message().find(junior_.job_id), std::string::npos);
  EXPECT_EQ(card->Image(), personalized);
}

TEST_F(EncodeLoopbackTest, RecordTooLargeBeforeAnyApdu) {
  Job big = junior_;
  big.student.name.clear();
  for (int i = 0; i < 32; ++i) big.student.name += "𠀀";
  big.job_id = std::string(64, 'J');
  auto card = NewCard(StockKind::kBjt1k, 12);
  auto out = Encode(card, big);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kRecordTooLarge);
  EXPECT_EQ(card->counts().apdus, 0);
}

TEST_F(EncodeLoopbackTest, CardOfAnotherTypeThanTheJobIsStockInvalid) {
  auto four_k = NewCard(StockKind::kBjt4k, 15);
  auto out = Encode(four_k, junior_);  // a 1K job
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kCardStockInvalid);
  EXPECT_EQ(four_k->counts().apdus, 0);
  auto one_k = NewCard(StockKind::kBjt1k, 16);
  EXPECT_EQ(Encode(one_k, senior4k_).status().code(), Code::kCardStockInvalid);
  EXPECT_EQ(one_k->counts().apdus, 0);
}

TEST_F(EncodeLoopbackTest, QaReadOfBlankCardWithoutKeys) {
  auto card = NewCard(StockKind::kBjt1k, 13);
  const Bytes before = card->Image();
  const CardReport r = Read(card, /*with_keys=*/false);
  EXPECT_TRUE(r.mad_status.ok());
  EXPECT_EQ(r.record_status.code(), Code::kNotFound);
  EXPECT_FALSE(r.mac_status.has_value());
  ASSERT_EQ(r.sectors.size(), 16u);
  EXPECT_EQ(r.sectors[1].role, SectorRole::kTransit);
  EXPECT_FALSE(r.sectors[1].state.has_value());
  EXPECT_EQ(r.sectors[7].state, StudentSectorState::kTransport);
  const nlohmann::json j = CardReportToJson(r);
  EXPECT_EQ(j["sectors"][1]["state"], "not ours, not touched");
  EXPECT_EQ(j["sectors"][1]["aid"], "2101");
  EXPECT_EQ(card->Image(), before);
  EXPECT_EQ(card->counts().writes, 0);
}

TEST_F(EncodeLoopbackTest, QaReadWithWrongKeysFlagsTheMac) {
  auto card = NewCard(StockKind::kBjt1k, 14);
  ASSERT_TRUE(Encode(card, junior_).ok());
  KeySet other = keys_;
  other.master_mac = AesKey::FromHex("000102030405060708090A0B0C0D0E0F").value();
  LoopbackChannel ch(card);
  auto r = ReadCard(ch, &other);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->mac_status.has_value());
  EXPECT_EQ(r->mac_status->code(), Code::kVerifyMismatch);
  const std::string dump = CardReportToJson(*r).dump();
  EXPECT_EQ(dump.find(ToHex(keys_.master_read.view())), std::string::npos);
}

TEST_F(EncodeLoopbackTest, OnePersonalizerSharedByStations) {
  std::vector<std::shared_ptr<MifareClassicEmulator>> cards;
  for (uint64_t i = 0; i < 4; ++i) cards.push_back(NewCard(StockKind::kBjt1k, 500 + i));
  std::vector<Status> results(cards.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cards.size(); ++i) {
    threads.emplace_back([&, i] {
      LoopbackChannel ch(cards[i]);
      results[i] = personalizer_.Encode(ch, i % 2 ? junior_ : primary_, Params()).status();
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < cards.size(); ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i];
    EXPECT_EQ(Read(cards[i]).record->record.job_id, (i % 2 ? junior_ : primary_).job_id);
  }
}

}  // namespace
}  // namespace cardbureau::encoder
