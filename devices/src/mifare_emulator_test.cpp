#include "cardbureau/devices/mifare_emulator.h"

#include <gtest/gtest.h>

#include <chrono>

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/loopback_channel.h"

namespace cardbureau::devices {
namespace {

const Bytes kKeyA = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5};
const Bytes kKeyB = {0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5};
const Bytes kFF = Bytes(6, 0xFF);
const Bytes kUid = {0x04, 0xA1, 0xB2, 0xC3};

template <typename F>
FaultPlan Plan(F set) {
  FaultPlan plan;
  set(plan);
  return plan;
}

Bytes Trailer(ByteView key_a, const AccessConditions& ac, ByteView key_b, uint8_t gpb = 0x69) {
  Bytes t(key_a.begin(), key_a.end());
  const auto bits = EncodeAccessBits(ac);
  t.insert(t.end(), bits.begin(), bits.end());
  t.push_back(gpb);
  t.insert(t.end(), key_b.begin(), key_b.end());
  return t;
}

// Every sector in transport configuration with key A = kKeyA, key B = kKeyB
// and block i of the card holding the byte i everywhere.
Bytes TestImage(CardSize size) {
  Bytes image(ImageSize(size));
  for (int b = 0; b < BlockCount(size); ++b) {
    std::fill(image.begin() + b * 16, image.begin() + b * 16 + 16, static_cast<uint8_t>(b));
  }
  for (int s = 0; s < SectorCount(size); ++s) {
    const Bytes t = Trailer(kKeyA, {{0, 0, 0, 1}}, kKeyB);
    std::copy(t.begin(), t.end(), image.begin() + TrailerBlockOfSector(s) * 16);
  }
  std::copy(kUid.begin(), kUid.end(), image.begin());
  return image;
}

void SetTrailer(Bytes& image, int sector, const Bytes& trailer) {
  std::copy(trailer.begin(), trailer.end(), image.begin() + TrailerBlockOfSector(sector) * 16);
}

Bytes BlockOf(const Bytes& image, int block) {
  return Bytes(image.begin() + block * 16, image.begin() + block * 16 + 16);
}

class Card {
 public:
  explicit Card(Bytes image, Bytes uid = kUid, FaultPlan faults = {})
      : emu_(std::make_shared<MifareClassicEmulator>(std::move(image), std::move(uid), faults)) {}

  uint16_t Send(const Bytes& apdu, Bytes* data = nullptr) {
    auto raw = emu_->Process(apdu);
    EXPECT_TRUE(raw.ok()) << raw.status();
    if (!raw.ok()) return 0;
    auto r = ParseResponse(*raw);
    EXPECT_TRUE(r.ok());
    if (data) *data = r->data;
    return r->sw;
  }
  uint16_t Auth(int block, KeyType kt, const Bytes& key) {
    EXPECT_EQ(Send(Apdu::LoadKey(0, key)), 0x9000);
    return Send(Apdu::Authenticate(static_cast<uint8_t>(block), kt, 0));
  }
  uint16_t Read(int block, Bytes* data = nullptr) {
    return Send(Apdu::ReadBlock(static_cast<uint8_t>(block)), data);
  }
  uint16_t Write(int block, const Bytes& data) {
    return Send(Apdu::UpdateBlock(static_cast<uint8_t>(block), data));
  }
  MifareClassicEmulator& emu() { return *emu_; }
  std::shared_ptr<MifareClassicEmulator> shared() { return emu_; }

 private:
  std::shared_ptr<MifareClassicEmulator> emu_;
};

TEST(EmulatorTest, GetUidAndAtr) {
  Card one(TestImage(CardSize::k1K));
  Bytes uid;
  EXPECT_EQ(one.Send(Apdu::GetUid(), &uid), 0x9000);
  EXPECT_EQ(uid, kUid);
  EXPECT_EQ(one.emu().Atr(), MifareClassicAtr(CardSize::k1K));
  EXPECT_EQ(one.emu().size(), CardSize::k1K);

  const Bytes uid7 = {0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
  Card four(TestImage(CardSize::k4K), uid7);
  EXPECT_EQ(four.Send(Apdu::GetUid(), &uid), 0x9000);
  EXPECT_EQ(uid, uid7);
  EXPECT_EQ(four.emu().Atr(), MifareClassicAtr(CardSize::k4K));
  EXPECT_EQ(four.Send({0xFF, 0xCA, 0x00, 0x00, 0x04}), 0x6C07);  // Le too short
  EXPECT_EQ(four.Send({0xFF, 0xCA, 0x00, 0x00, 0x07}, &uid), 0x9000);
  EXPECT_EQ(four.Send({0xFF, 0xCA, 0x01, 0x00, 0x00}), 0x6A81);  // ATS not supported
}

TEST(EmulatorTest, ConstructionChecksShapes) {
  EXPECT_THROW(MifareClassicEmulator(Bytes(1000), kUid), std::invalid_argument);
  EXPECT_THROW(MifareClassicEmulator(Bytes(1024), Bytes(5)), std::invalid_argument);
  EXPECT_EQ(MifareClassicEmulator::Create(Bytes(2048), kUid).status().code(), Code::kInvalidField);
  EXPECT_EQ(MifareClassicEmulator::Create(Bytes(4096), Bytes(10)).status().code(),
            Code::kInvalidField);
  EXPECT_TRUE(MifareClassicEmulator::Create(Bytes(4096), Bytes(7)).ok());
}

TEST(EmulatorTest, ReadNeedsAuthenticationOfThatSector) {
  Card card(TestImage(CardSize::k1K));
  EXPECT_EQ(card.Read(4), 0x6982);
  EXPECT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x9000);
  Bytes data;
  EXPECT_EQ(card.Read(5, &data), 0x9000);
  EXPECT_EQ(data, Bytes(16, 5));
  EXPECT_EQ(card.Read(8), 0x6982);  // sector 2 not authenticated
  EXPECT_EQ(card.Write(8, Bytes(16, 0)), 0x6982);
  EXPECT_EQ(card.Auth(8, KeyType::kA, kFF), 0x6300);  // wrong key
  EXPECT_EQ(card.Read(5), 0x6982);                    // a failed authentication ends the session
  card.emu().Reset();
  EXPECT_EQ(card.Auth(8, KeyType::kA, kKeyA), 0x9000);
  card.emu().Reset();
  EXPECT_EQ(card.Read(8), 0x6982);  // power cycle clears authentication
}

TEST(EmulatorTest, KeySlots) {
  Card card(TestImage(CardSize::k1K));
  EXPECT_EQ(card.Send(Apdu::Authenticate(4, KeyType::kA, 5)), 0x6986);  // empty slot
  EXPECT_EQ(card.Send(Apdu::LoadKey(0x1F, kKeyA)), 0x9000);
  EXPECT_EQ(card.Send(Apdu::LoadKey(0x20, kKeyA)), 0x6A81);
  EXPECT_EQ(card.Send(Apdu::Authenticate(4, KeyType::kA, 0x1F)), 0x9000);
  EXPECT_EQ(card.Send(Apdu::Authenticate(4, KeyType::kA, 0x20)), 0x6A81);
  // Key slots belong to the reader and survive a card change.
  card.emu().Remove();
  card.emu().Insert();
  EXPECT_EQ(card.Send(Apdu::Authenticate(4, KeyType::kA, 0x1F)), 0x9000);
}

// Datasheet data-block table, every row, with key A and key B.
TEST(EmulatorTest, DataBlockAccessEveryRow) {
  struct Row {
    uint8_t cond;
    bool read_a, read_b, write_a, write_b;
  };
  const Row rows[] = {
      {0b000, true, true, true, true},    {0b010, true, true, false, false},
      {0b100, true, true, false, true},   {0b110, true, true, false, true},
      {0b001, true, true, false, false},  {0b011, false, true, false, true},
      {0b101, false, true, false, false}, {0b111, false, false, false, false},
  };
  for (const Row& r : rows) {
    for (KeyType kt : {KeyType::kA, KeyType::kB}) {
      SCOPED_TRACE("cond " + std::to_string(r.cond) + (kt == KeyType::kA ? " key A" : " key B"));
      Bytes image = TestImage(CardSize::k1K);
      // Trailer 011: key B is not readable, so both keys authenticate.
      SetTrailer(image, 1, Trailer(kKeyA, {{r.cond, r.cond, r.cond, 0b011}}, kKeyB));
      Card card(image);
      ASSERT_EQ(card.Auth(4, kt, kt == KeyType::kA ? kKeyA : kKeyB), 0x9000);
      const bool may_read = kt == KeyType::kA ? r.read_a : r.read_b;
      const bool may_write = kt == KeyType::kA ? r.write_a : r.write_b;
      Bytes data;
      EXPECT_EQ(card.Read(5, &data), may_read ? 0x9000 : 0x6982);
      if (may_read) {
        EXPECT_EQ(data, Bytes(16, 5));
      }
      EXPECT_EQ(card.Write(6, Bytes(16, 0xEE)), may_write ? 0x9000 : 0x6982);
      EXPECT_EQ(BlockOf(card.emu().Image(), 6), Bytes(16, may_write ? 0xEE : 6));
    }
  }
}

// Datasheet sector-trailer table, every row: what reads back and which parts
// a trailer write changes.
TEST(EmulatorTest, TrailerAccessEveryRow) {
  struct Row {
    uint8_t cond;
    bool bits_read_a, bits_read_b, keyb_read_a;
    bool a_write_a, a_write_b, bits_write_a, bits_write_b, b_write_a, b_write_b;
  };
  const Row rows[] = {
      {0b000, true, false, true, true, false, false, false, true, false},
      {0b010, true, false, true, false, false, false, false, false, false},
      {0b100, true, true, false, false, true, false, false, false, true},
      {0b110, true, true, false, false, false, false, false, false, false},
      {0b001, true, false, true, true, false, true, false, true, false},
      {0b011, true, true, false, false, true, false, true, false, true},
      {0b101, true, true, false, false, false, false, true, false, false},
      {0b111, true, true, false, false, false, false, false, false, false},
  };
  const Bytes new_a = {1, 2, 3, 4, 5, 6}, new_b = {7, 8, 9, 10, 11, 12};
  for (const Row& r : rows) {
    for (KeyType kt : {KeyType::kA, KeyType::kB}) {
      SCOPED_TRACE("cond " + std::to_string(r.cond) + (kt == KeyType::kA ? " key A" : " key B"));
      const AccessConditions ac{{0, 0, 0, r.cond}};
      Bytes image = TestImage(CardSize::k1K);
      const Bytes old_trailer = Trailer(kKeyA, ac, kKeyB, 0x69);
      SetTrailer(image, 1, old_trailer);
      Card card(image);
      const uint16_t auth = card.Auth(7, kt, kt == KeyType::kA ? kKeyA : kKeyB);
      if (kt == KeyType::kB && KeyBReadable(r.cond)) {
        EXPECT_EQ(auth, 0x6300) << "a readable key B must not authenticate";
        continue;
      }
      ASSERT_EQ(auth, 0x9000);
      Bytes t;
      ASSERT_EQ(card.Read(7, &t), 0x9000);
      EXPECT_EQ(Bytes(t.begin(), t.begin() + 6), Bytes(6, 0)) << "key A reads as zeros";
      const bool bits_read = kt == KeyType::kA ? r.bits_read_a : r.bits_read_b;
      EXPECT_EQ(Bytes(t.begin() + 6, t.begin() + 10),
                bits_read ? Bytes(old_trailer.begin() + 6, old_trailer.begin() + 10) : Bytes(4, 0));
      const bool keyb_read = kt == KeyType::kA && r.keyb_read_a;
      EXPECT_EQ(Bytes(t.begin() + 10, t.end()), keyb_read ? kKeyB : Bytes(6, 0));

      // Write new keys with the same (valid) access bits and a new GPB.
      const Bytes new_trailer = Trailer(new_a, ac, new_b, 0x42);
      const bool wa = kt == KeyType::kA ? r.a_write_a : r.a_write_b;
      const bool wbits = kt == KeyType::kA ? r.bits_write_a : r.bits_write_b;
      const bool wb = kt == KeyType::kA ? r.b_write_a : r.b_write_b;
      EXPECT_EQ(card.Write(7, new_trailer), (wa || wbits || wb) ? 0x9000 : 0x6982);
      const Bytes stored = BlockOf(card.emu().Image(), 7);
      EXPECT_EQ(Bytes(stored.begin(), stored.begin() + 6), wa ? new_a : kKeyA);
      EXPECT_EQ(stored[9], wbits ? 0x42 : 0x69);
      EXPECT_EQ(Bytes(stored.begin() + 10, stored.end()), wb ? new_b : kKeyB);
    }
  }
}

TEST(EmulatorTest, TransportKeyBCannotAuthenticate) {
  Bytes image = MakeBlankStock(StockKind::kBjt1k, 1);
  Card card(image, *UidFromImage(image));
  EXPECT_EQ(card.Auth(28, KeyType::kB, kFF), 0x6300);
  EXPECT_EQ(card.Auth(28, KeyType::kA, kFF), 0x9000);
}

TEST(EmulatorTest, BlockZeroIsReadOnly) {
  Card card(TestImage(CardSize::k1K));
  ASSERT_EQ(card.Auth(0, KeyType::kA, kKeyA), 0x9000);
  Bytes b0;
  EXPECT_EQ(card.Read(0, &b0), 0x9000);
  EXPECT_EQ(card.Write(0, Bytes(16, 0x11)), 0x6982);
  EXPECT_EQ(BlockOf(card.emu().Image(), 0), b0);
  EXPECT_EQ(card.Write(1, Bytes(16, 0x11)), 0x9000);  // block 1 is ordinary
}

TEST(EmulatorTest, InconsistentTrailerDestroysSectorForEver) {
  Card card(TestImage(CardSize::k1K));
  ASSERT_EQ(card.Auth(8, KeyType::kA, kKeyA), 0x9000);
  Bytes bad = Trailer(kKeyA, {{0, 0, 0, 1}}, kKeyB);
  bad[8] ^= 0x01;  // one flipped bit in the access bytes
  EXPECT_EQ(card.Write(11, bad), 0x9000);
  EXPECT_EQ(BlockOf(card.emu().Image(), 11), bad);
  EXPECT_EQ(card.Read(8), 0x6982);
  for (KeyType kt : {KeyType::kA, KeyType::kB}) {
    EXPECT_EQ(card.Auth(8, kt, kt == KeyType::kA ? kKeyA : kKeyB), 0x6300);
  }
  card.emu().Remove();
  card.emu().Insert();
  EXPECT_EQ(card.Auth(10, KeyType::kA, kKeyA), 0x6300);
  // A fresh emulator from the saved image: still dead. Neighbours are fine.
  Card reloaded(card.emu().Image());
  EXPECT_EQ(reloaded.Auth(8, KeyType::kA, kKeyA), 0x6300);
  EXPECT_EQ(reloaded.Auth(12, KeyType::kA, kKeyA), 0x9000);
  EXPECT_EQ(reloaded.Auth(4, KeyType::kA, kKeyA), 0x9000);
}

TEST(EmulatorTest, FourKLargeSectors) {
  Card card(TestImage(CardSize::k4K));
  ASSERT_EQ(card.Auth(130, KeyType::kA, kKeyA), 0x9000);  // sector 32
  Bytes data;
  EXPECT_EQ(card.Read(128, &data), 0x9000);
  EXPECT_EQ(data, Bytes(16, 128));
  EXPECT_EQ(card.Read(142, &data), 0x9000);
  EXPECT_EQ(data, Bytes(16, 142));
  EXPECT_EQ(card.Read(143, &data), 0x9000);  // its trailer
  EXPECT_EQ(Bytes(data.begin() + 6, data.begin() + 9), (Bytes{0xFF, 0x07, 0x80}));
  EXPECT_EQ(card.Read(144), 0x6982);  // sector 33
  EXPECT_EQ(card.Write(140, Bytes(16, 0x77)), 0x9000);
  EXPECT_EQ(BlockOf(card.emu().Image(), 140), Bytes(16, 0x77));
  ASSERT_EQ(card.Auth(255, KeyType::kA, kKeyA), 0x9000);  // sector 39
  EXPECT_EQ(card.Read(240, &data), 0x9000);
  EXPECT_EQ(data, Bytes(16, 240));
  EXPECT_EQ(card.Read(239), 0x6982);  // sector 38
}

TEST(EmulatorTest, FourKGroupAccessInLargeSector) {
  Bytes image = TestImage(CardSize::k4K);
  // Group 1 (blocks 5-9 of sector 32) read-only, others transport.
  SetTrailer(image, 32, Trailer(kKeyA, {{0, 0b010, 0, 1}}, kKeyB));
  Card card(image);
  ASSERT_EQ(card.Auth(128, KeyType::kA, kKeyA), 0x9000);
  EXPECT_EQ(card.Write(132, Bytes(16, 1)), 0x9000);  // group 0
  EXPECT_EQ(card.Write(133, Bytes(16, 1)), 0x6982);  // group 1
  EXPECT_EQ(card.Write(137, Bytes(16, 1)), 0x6982);
  EXPECT_EQ(card.Write(138, Bytes(16, 1)), 0x9000);  // group 2
}

TEST(EmulatorTest, AddressesOutsideTheCard) {
  Card card(TestImage(CardSize::k1K));
  EXPECT_EQ(card.Send(Apdu::LoadKey(0, kKeyA)), 0x9000);
  EXPECT_EQ(card.Send(Apdu::Authenticate(64, KeyType::kA, 0)), 0x6A82);
  EXPECT_EQ(card.Read(64), 0x6A82);
  EXPECT_EQ(card.Write(200, Bytes(16, 0)), 0x6A82);
  EXPECT_EQ(card.Send({0xFF, 0xB0, 0x01, 0x00, 0x10}), 0x6A82);  // P1 = address MSB
  EXPECT_EQ(card.Send({0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x01, 0x04, 0x60, 0x00}), 0x6A82);
}

TEST(EmulatorTest, MalformedCommands) {
  Card card(TestImage(CardSize::k1K));
  EXPECT_EQ(card.Send({}), 0x6700);
  EXPECT_EQ(card.Send({0xFF, 0xCA, 0x00}), 0x6700);
  EXPECT_EQ(card.Send({0x00, 0xA4, 0x04, 0x00}), 0x6E00);
  EXPECT_EQ(card.Send({0xFF, 0x88, 0x00, 0x04, 0x60, 0x00}), 0x6D00);  // obsolete auth
  EXPECT_EQ(card.Send({0xFF, 0x00, 0x00, 0x00}), 0x6D00);
  EXPECT_EQ(card.Send({0xFF, 0xB0, 0x00, 0x04, 0x20}), 0x6700);  // Le 32
  EXPECT_EQ(card.Send({0xFF, 0xB0, 0x00, 0x04}), 0x6700);        // no Le
  EXPECT_EQ(card.Send({0xFF, 0x82, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5}), 0x6700);
  EXPECT_EQ(card.Send({0xFF, 0x82, 0x20, 0x00, 0x06, 1, 2, 3, 4, 5, 6}), 0x6A81);
  EXPECT_EQ(card.Send({0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, 0x04, 0x60}), 0x6700);
  EXPECT_EQ(card.Send({0xFF, 0x86, 0x01, 0x00, 0x05, 0x01, 0x00, 0x04, 0x60, 0x00}), 0x6A81);
  EXPECT_EQ(card.Send({0xFF, 0x86, 0x00, 0x00, 0x05, 0x02, 0x00, 0x04, 0x60, 0x00}), 0x6A81);
  EXPECT_EQ(card.Send({0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, 0x04, 0x62, 0x00}), 0x6A81);
  Bytes update = Apdu::UpdateBlock(4, Bytes(16, 0));
  update.pop_back();
  EXPECT_EQ(card.Send(update), 0x6700);
  update.push_back(0);
  update.push_back(0);
  EXPECT_EQ(card.Send(update), 0x6700);
}

TEST(EmulatorTest, PullAfterNthApdu) {
  Card card(TestImage(CardSize::k1K), kUid, Plan([](FaultPlan& f) { f.pull_after_apdu = 3; }));
  LoopbackChannel channel(card.shared());
  EXPECT_TRUE(TransmitChecked(channel, Apdu::GetUid()).ok());
  EXPECT_TRUE(TransmitChecked(channel, Apdu::LoadKey(0, kKeyA)).ok());
  EXPECT_TRUE(TransmitChecked(channel, Apdu::Authenticate(4, KeyType::kA, 0)).ok());  // 3rd
  EXPECT_FALSE(card.emu().present());
  EXPECT_EQ(channel.Transmit(Apdu::ReadBlock(4)).status().code(), Code::kCardRemoved);
  EXPECT_EQ(TransmitChecked(channel, Apdu::GetUid()).status().code(), Code::kCardRemoved);
  card.emu().Insert();
  EXPECT_EQ(card.Read(4), 0x6982) << "re-inserted card must be authenticated again";
  EXPECT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x9000);
  EXPECT_TRUE(card.emu().present()) << "the pull is one-shot";
}

TEST(EmulatorTest, FailNthAuthentication) {
  Card card(TestImage(CardSize::k1K), kUid, Plan([](FaultPlan& f) { f.fail_auth = 2; }));
  EXPECT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x9000);
  EXPECT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x6300);
  EXPECT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x9000);
  EXPECT_EQ(card.emu().counts().authentications, 3);
}

TEST(EmulatorTest, DropNthWriteSilently) {
  Card card(TestImage(CardSize::k1K), kUid, Plan([](FaultPlan& f) { f.drop_write = 2; }));
  ASSERT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x9000);
  EXPECT_EQ(card.Write(4, Bytes(16, 0xA1)), 0x9000);
  EXPECT_EQ(card.Write(5, Bytes(16, 0xA2)), 0x9000);  // acknowledged, lost
  EXPECT_EQ(card.Write(6, Bytes(16, 0xA3)), 0x9000);
  const Bytes image = card.emu().Image();
  EXPECT_EQ(BlockOf(image, 4), Bytes(16, 0xA1));
  EXPECT_EQ(BlockOf(image, 5), Bytes(16, 5));
  EXPECT_EQ(BlockOf(image, 6), Bytes(16, 0xA3));
  EXPECT_EQ(card.emu().counts().writes, 3);
}

TEST(EmulatorTest, DeadSector) {
  Card card(TestImage(CardSize::k1K), kUid, Plan([](FaultPlan& f) { f.dead_sector = 9; }));
  EXPECT_EQ(card.Auth(36, KeyType::kA, kKeyA), 0x6300);
  EXPECT_EQ(card.Auth(39, KeyType::kA, kKeyA), 0x6300);
  EXPECT_EQ(card.Auth(40, KeyType::kA, kKeyA), 0x9000);
  card.emu().SetFaults({});
  EXPECT_EQ(card.Auth(36, KeyType::kA, kKeyA), 0x9000);
}

TEST(EmulatorTest, DatasheetDelays) {
  Card card(TestImage(CardSize::k1K), kUid, Plan([](FaultPlan& f) { f.delay = true; }));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x9000);          // 2 ms
  for (int i = 0; i < 4; ++i) ASSERT_EQ(card.Read(4), 0x9000);  // 4 x 2.5 ms
  ASSERT_EQ(card.Write(4, Bytes(16, 0)), 0x9000);               // 5.5 ms
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::microseconds(17500));
}

TEST(EmulatorTest, WriteObserverSeesEveryStoredWrite) {
  Card card(TestImage(CardSize::k1K), kUid, Plan([](FaultPlan& f) { f.drop_write = 1; }));
  int calls = 0;
  Bytes last;
  card.emu().SetWriteObserver([&](const Bytes& image) {
    ++calls;
    last = image;
  });
  ASSERT_EQ(card.Auth(4, KeyType::kA, kKeyA), 0x9000);
  EXPECT_EQ(card.Write(4, Bytes(16, 1)), 0x9000);  // dropped: not stored, not observed
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(card.Write(4, Bytes(16, 2)), 0x9000);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(BlockOf(last, 4), Bytes(16, 2));
  EXPECT_EQ(card.Write(0, Bytes(16, 2)), 0x6982);  // refused: not observed
  EXPECT_EQ(calls, 1);
}

TEST(LoopbackChannelTest, RemovedCardAnswersCardRemoved) {
  auto emu = std::make_shared<MifareClassicEmulator>(TestImage(CardSize::k1K), kUid);
  LoopbackChannel channel(emu);
  EXPECT_EQ(channel.Atr(), MifareClassicAtr(CardSize::k1K));
  auto uid = TransmitChecked(channel, Apdu::GetUid());
  ASSERT_TRUE(uid.ok());
  EXPECT_EQ(*uid, kUid);
  emu->Remove();
  EXPECT_EQ(channel.Transmit(Apdu::GetUid()).status().code(), Code::kCardRemoved);
  emu->Insert();
  EXPECT_TRUE(channel.Transmit(Apdu::GetUid()).ok());
  EXPECT_THROW(LoopbackChannel(nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace cardbureau::devices
