#include "cardbureau/devices/blank_stock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"

namespace cardbureau::devices {
namespace {

Bytes BlockOf(const Bytes& image, int block) {
  return Bytes(image.begin() + block * 16, image.begin() + block * 16 + 16);
}

uint16_t AidOf(const Bytes& mad_bytes, int index) {
  // mad_bytes starts with CRC, info; AIDs application-code first.
  return static_cast<uint16_t>(mad_bytes[2 + 2 * index] | (mad_bytes[3 + 2 * index] << 8));
}

TEST(BlankStockTest, KindNames) {
  EXPECT_EQ(*ParseStockKind("bjt-1k"), StockKind::kBjt1k);
  EXPECT_EQ(*ParseStockKind("bjt-4k"), StockKind::kBjt4k);
  EXPECT_EQ(ParseStockKind("bjt-2k").status().code(), Code::kInvalidConfig);
  EXPECT_EQ(StockKindName(StockKind::kBjt4k), "bjt-4k");
}

TEST(BlankStockTest, OneKLayout) {
  const Bytes image = MakeBlankStock(StockKind::kBjt1k, 42);
  ASSERT_EQ(image.size(), 1024u);
  // Block 0: UID, BCC, SAK 08, ATQA 04 00.
  const Bytes uid = StockUid(42);
  EXPECT_EQ(Bytes(image.begin(), image.begin() + 4), uid);
  EXPECT_EQ(image[4], uid[0] ^ uid[1] ^ uid[2] ^ uid[3]);
  EXPECT_EQ(image[5], 0x08);
  EXPECT_EQ(*UidFromImage(image), uid);

  // MAD1: CRC over info + AIDs, sectors 1-6 transit, 7-11 student, rest free.
  Bytes mad(image.begin() + 16, image.begin() + 48);
  EXPECT_EQ(mad[0], MadCrc8(ByteView(mad).subspan(1)));
  EXPECT_EQ(mad[2], 0x01);  // application code first
  EXPECT_EQ(mad[3], 0x21);
  for (int s = 1; s <= 15; ++s) {
    const uint16_t want = s <= 6 ? 0x2101 : (s <= 11 ? 0x5801 : 0x0000);
    EXPECT_EQ(AidOf(mad, s - 1), want) << "sector " << s;
  }
  const Bytes mad_trailer = BlockOf(image, 3);
  EXPECT_EQ(ToHex(ByteView(mad_trailer).first(10)), "A0A1A2A3A4A5787788C1");

  // Student and free sectors: transport configuration, zero data.
  for (int s = 7; s <= 15; ++s) {
    EXPECT_EQ(ToHex(BlockOf(image, s * 4 + 3)), "FFFFFFFFFFFFFF078069FFFFFFFFFFFF");
    for (int b = 0; b < 3; ++b) EXPECT_EQ(BlockOf(image, s * 4 + b), Bytes(16, 0));
  }
  // Transit sectors: random keys, consistent access bits, a value block.
  for (int s = 1; s <= 6; ++s) {
    const Bytes t = BlockOf(image, s * 4 + 3);
    EXPECT_NE(Bytes(t.begin(), t.begin() + 6), Bytes(6, 0xFF));
    EXPECT_TRUE(DecodeAccessBits(ByteView(t).subspan(6, 3)).ok());
    const Bytes v = BlockOf(image, s * 4);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(v[static_cast<size_t>(i)], static_cast<uint8_t>(~v[static_cast<size_t>(4 + i)]));
      EXPECT_EQ(v[static_cast<size_t>(i)], v[static_cast<size_t>(8 + i)]);
    }
    EXPECT_EQ(v[12], s * 4);
    EXPECT_EQ(v[13], static_cast<uint8_t>(~(s * 4)));
  }
}

TEST(BlankStockTest, FourKLayoutHasMad2AndLargeSectors) {
  const Bytes image = MakeBlankStock(StockKind::kBjt4k, 7);
  ASSERT_EQ(image.size(), 4096u);
  EXPECT_EQ(image[5], 0x18);
  EXPECT_EQ(BlockOf(image, 3)[9], 0xC2);
  Bytes mad2(image.begin() + 64 * 16, image.begin() + 67 * 16);
  EXPECT_EQ(mad2[0], MadCrc8(ByteView(mad2).subspan(1)));
  for (int i = 0; i < 23; ++i) EXPECT_EQ(AidOf(mad2, i), 0x0000);
  EXPECT_EQ(ToHex(ByteView(BlockOf(image, 67)).first(10)), "A0A1A2A3A4A5787788C2");
  EXPECT_EQ(ToHex(BlockOf(image, 143)), "FFFFFFFFFFFFFF078069FFFFFFFFFFFF");
  EXPECT_EQ(ToHex(BlockOf(image, 255)), "FFFFFFFFFFFFFF078069FFFFFFFFFFFF");
  Bytes mad1(image.begin() + 16, image.begin() + 48);
  EXPECT_EQ(AidOf(mad1, 6), 0x5801);  // sector 7 is a student sector on 4K too
}

TEST(BlankStockTest, DeterministicPerSeed) {
  EXPECT_EQ(MakeBlankStock(StockKind::kBjt1k, 5), MakeBlankStock(StockKind::kBjt1k, 5));
  EXPECT_NE(MakeBlankStock(StockKind::kBjt1k, 5), MakeBlankStock(StockKind::kBjt1k, 6));
  const Bytes uid7 = {0x04, 1, 2, 3, 4, 5, 6};
  const Bytes image = MakeBlankStock(StockKind::kBjt1k, 5, uid7);
  EXPECT_EQ(*UidFromImage(image), uid7);
  EXPECT_EQ(image[7], 0x08);
  EXPECT_THROW(MakeBlankStock(StockKind::kBjt1k, 5, Bytes(5)), std::invalid_argument);
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Bytes uid = StockUid(seed);
    ASSERT_EQ(uid.size(), 4u);
    EXPECT_NE(uid[0], 0x08);
  }
}

// The stock behaves like the real thing behind the emulator: MAD readable
// with the public key, student sectors open with the transport key, transit
// sectors closed to the bureau.
TEST(BlankStockTest, WorksBehindTheEmulator) {
  const Bytes image = MakeBlankStock(StockKind::kBjt1k, 99);
  auto emu = std::make_shared<MifareClassicEmulator>(image, *UidFromImage(image));
  LoopbackChannel ch(emu);
  const Bytes mad_key(kMadKeyA.begin(), kMadKeyA.end());
  const Bytes transport(6, 0xFF);
  ASSERT_TRUE(TransmitChecked(ch, Apdu::LoadKey(0, mad_key)).ok());
  ASSERT_TRUE(TransmitChecked(ch, Apdu::LoadKey(1, transport)).ok());
  ASSERT_TRUE(TransmitChecked(ch, Apdu::Authenticate(1, KeyType::kA, 0)).ok());
  auto mad = TransmitChecked(ch, Apdu::ReadBlock(1));
  ASSERT_TRUE(mad.ok());
  EXPECT_EQ(*mad, BlockOf(image, 1));
  EXPECT_EQ(TransmitChecked(ch, Apdu::UpdateBlock(1, Bytes(16, 0))).status().code(),
            Code::kAuthFailed)
      << "MAD is writable with key B only";
  EXPECT_EQ(TransmitChecked(ch, Apdu::Authenticate(4, KeyType::kA, 1)).status().code(),
            Code::kAuthFailed);
  EXPECT_EQ(TransmitChecked(ch, Apdu::Authenticate(24, KeyType::kA, 0)).status().code(),
            Code::kAuthFailed);
  ASSERT_TRUE(TransmitChecked(ch, Apdu::Authenticate(28, KeyType::kA, 1)).ok());
  EXPECT_TRUE(TransmitChecked(ch, Apdu::UpdateBlock(28, Bytes(16, 0x5A))).ok());
  EXPECT_EQ(BlockOf(emu->Image(), 28), Bytes(16, 0x5A));
}

}  // namespace

TEST(SerialStockUid, DistinctSerialsGiveDistinctValidUids) {
  std::set<Bytes> seen;
  int skipped = 0;
  for (uint32_t serial = 1; serial <= 200000; ++serial) {
    auto uid = SerialStockUid("bj-bureau-01", serial);
    if (!uid) {
      ++skipped;
      continue;
    }
    ASSERT_EQ(uid->size(), 4u);
    EXPECT_NE((*uid)[0], 0x08);
    EXPECT_NE((*uid)[0], 0x88);
    ASSERT_TRUE(seen.insert(*uid).second) << "serial " << serial;
  }
  EXPECT_LT(skipped, 200000 / 50);
  // Another bureau: another sequence.
  EXPECT_NE(SerialStockUid("bj-bureau-02", 7), SerialStockUid("bj-bureau-01", 7));
}

TEST(SerialStockUid, TheCounterFileNeverRepeatsAcrossOpens) {
  const auto file =
      std::filesystem::temp_directory_path() / ("cb-stock-serial-" + std::to_string(::getpid()));
  std::filesystem::remove(file);
  std::set<Bytes> seen;
  for (int i = 0; i < 300; ++i) {
    auto uid = NextStockUid(file, "bj-bureau-01");
    ASSERT_TRUE(uid.ok()) << uid.status();
    ASSERT_TRUE(seen.insert(*uid).second) << "card " << i;
    // The image carries the UID it was made with.
    auto image = MakeBlankStock(StockKind::kBjt1k, 1, *uid);
    EXPECT_EQ(UidFromImage(image).value(), *uid);
  }
  std::filesystem::remove(file);
  EXPECT_EQ(NextStockUid("/nonexistent-dir/serial", "b").status().code(), Code::kIoError);
}

}  // namespace cardbureau::devices
