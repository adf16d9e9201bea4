#include "cardbureau/devices/mifare_layout.h"

#include <gtest/gtest.h>

namespace cardbureau::devices {
namespace {

TEST(GeometryTest, OneK) {
  EXPECT_EQ(SectorCount(CardSize::k1K), 16);
  EXPECT_EQ(BlockCount(CardSize::k1K), 64);
  EXPECT_EQ(ImageSize(CardSize::k1K), 1024u);
  EXPECT_EQ(FirstBlockOfSector(15), 60);
  EXPECT_EQ(TrailerBlockOfSector(0), 3);
  EXPECT_EQ(TrailerBlockOfSector(15), 63);
  EXPECT_EQ(SectorOfBlock(63), 15);
  EXPECT_TRUE(IsTrailerBlock(7));
  EXPECT_FALSE(IsTrailerBlock(8));
}

TEST(GeometryTest, FourK) {
  EXPECT_EQ(SectorCount(CardSize::k4K), 40);
  EXPECT_EQ(BlockCount(CardSize::k4K), 256);
  EXPECT_EQ(ImageSize(CardSize::k4K), 4096u);
  EXPECT_EQ(BlocksInSector(31), 4);
  EXPECT_EQ(BlocksInSector(32), 16);
  EXPECT_EQ(FirstBlockOfSector(31), 124);
  EXPECT_EQ(FirstBlockOfSector(32), 128);
  EXPECT_EQ(FirstBlockOfSector(39), 240);
  EXPECT_EQ(TrailerBlockOfSector(32), 143);
  EXPECT_EQ(TrailerBlockOfSector(39), 255);
  EXPECT_EQ(SectorOfBlock(127), 31);
  EXPECT_EQ(SectorOfBlock(128), 32);
  EXPECT_EQ(SectorOfBlock(143), 32);
  EXPECT_EQ(SectorOfBlock(144), 33);
  EXPECT_TRUE(IsTrailerBlock(143));
  EXPECT_FALSE(IsTrailerBlock(131));
  // Every block belongs to exactly the sector whose range contains it.
  int block = 0;
  for (int s = 0; s < 40; ++s) {
    for (int i = 0; i < BlocksInSector(s); ++i, ++block) {
      EXPECT_EQ(SectorOfBlock(block), s);
      EXPECT_EQ(IsTrailerBlock(block), i == BlocksInSector(s) - 1);
    }
  }
  EXPECT_EQ(block, 256);
}

TEST(GeometryTest, AccessGroups) {
  EXPECT_EQ(AccessGroupOfBlock(4), 0);
  EXPECT_EQ(AccessGroupOfBlock(6), 2);
  EXPECT_EQ(AccessGroupOfBlock(7), 3);
  EXPECT_EQ(AccessGroupOfBlock(128), 0);
  EXPECT_EQ(AccessGroupOfBlock(132), 0);
  EXPECT_EQ(AccessGroupOfBlock(133), 1);
  EXPECT_EQ(AccessGroupOfBlock(142), 2);
  EXPECT_EQ(AccessGroupOfBlock(143), 3);
}

TEST(AccessBitsTest, KnownEncodings) {
  EXPECT_EQ(EncodeAccessBits({{0, 0, 0, 1}}), (std::array<uint8_t, 3>{0xFF, 0x07, 0x80}));
  EXPECT_EQ(EncodeAccessBits({{4, 4, 4, 3}}), (std::array<uint8_t, 3>{0x78, 0x77, 0x88}));
  auto transport = DecodeAccessBits(Bytes{0xFF, 0x07, 0x80});
  ASSERT_TRUE(transport.ok());
  EXPECT_EQ(*transport, (AccessConditions{{0, 0, 0, 1}}));
  auto personalized = DecodeAccessBits(Bytes{0x78, 0x77, 0x88});
  ASSERT_TRUE(personalized.ok());
  EXPECT_EQ(*personalized, (AccessConditions{{4, 4, 4, 3}}));
}

TEST(AccessBitsTest, RoundTripsEveryCombination) {
  for (int v = 0; v < 4096; ++v) {
    AccessConditions ac{{static_cast<uint8_t>(v & 7), static_cast<uint8_t>((v >> 3) & 7),
                         static_cast<uint8_t>((v >> 6) & 7), static_cast<uint8_t>((v >> 9) & 7)}};
    const auto bits = EncodeAccessBits(ac);
    auto back = DecodeAccessBits(bits);
    ASSERT_TRUE(back.ok()) << v;
    EXPECT_EQ(*back, ac);
  }
}

TEST(AccessBitsTest, EverySingleBitFlipIsInconsistent) {
  const auto bits = EncodeAccessBits({{0, 0, 0, 1}});
  for (size_t byte = 0; byte < 3; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes flipped(bits.begin(), bits.end());
      flipped[byte] = static_cast<uint8_t>(flipped[byte] ^ (1 << bit));
      EXPECT_EQ(DecodeAccessBits(flipped).status().code(), Code::kCardError);
    }
  }
  EXPECT_FALSE(DecodeAccessBits(Bytes{0xFF, 0x07}).ok());
}

using M = KeyMask;

// Datasheet table "access conditions for data blocks", every row.
TEST(AccessTableTest, DataBlocks) {
  struct Row {
    uint8_t cond;
    M read, write, inc, dec;
  };
  const Row rows[] = {
      {0b000, M::kAB, M::kAB, M::kAB, M::kAB},
      {0b010, M::kAB, M::kNever, M::kNever, M::kNever},
      {0b100, M::kAB, M::kB, M::kNever, M::kNever},
      {0b110, M::kAB, M::kB, M::kB, M::kAB},
      {0b001, M::kAB, M::kNever, M::kNever, M::kAB},
      {0b011, M::kB, M::kB, M::kNever, M::kNever},
      {0b101, M::kB, M::kNever, M::kNever, M::kNever},
      {0b111, M::kNever, M::kNever, M::kNever, M::kNever},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(static_cast<int>(r.cond));
    EXPECT_EQ(DataBlockAccess(r.cond, DataOp::kRead), r.read);
    EXPECT_EQ(DataBlockAccess(r.cond, DataOp::kWrite), r.write);
    EXPECT_EQ(DataBlockAccess(r.cond, DataOp::kIncrement), r.inc);
    EXPECT_EQ(DataBlockAccess(r.cond, DataOp::kDecrementTransferRestore), r.dec);
  }
}

// Datasheet table "access conditions for the sector trailer", every row.
TEST(AccessTableTest, Trailer) {
  struct Row {
    uint8_t cond;
    M a_read, a_write, bits_read, bits_write, b_read, b_write;
    bool b_readable;
  };
  const Row rows[] = {
      {0b000, M::kNever, M::kA, M::kA, M::kNever, M::kA, M::kA, true},
      {0b010, M::kNever, M::kNever, M::kA, M::kNever, M::kA, M::kNever, true},
      {0b100, M::kNever, M::kB, M::kAB, M::kNever, M::kNever, M::kB, false},
      {0b110, M::kNever, M::kNever, M::kAB, M::kNever, M::kNever, M::kNever, false},
      {0b001, M::kNever, M::kA, M::kA, M::kA, M::kA, M::kA, true},
      {0b011, M::kNever, M::kB, M::kAB, M::kB, M::kNever, M::kB, false},
      {0b101, M::kNever, M::kNever, M::kAB, M::kB, M::kNever, M::kNever, false},
      {0b111, M::kNever, M::kNever, M::kAB, M::kNever, M::kNever, M::kNever, false},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(static_cast<int>(r.cond));
    EXPECT_EQ(TrailerAccess(r.cond, TrailerField::kKeyA, TrailerOp::kRead), r.a_read);
    EXPECT_EQ(TrailerAccess(r.cond, TrailerField::kKeyA, TrailerOp::kWrite), r.a_write);
    EXPECT_EQ(TrailerAccess(r.cond, TrailerField::kAccessBits, TrailerOp::kRead), r.bits_read);
    EXPECT_EQ(TrailerAccess(r.cond, TrailerField::kAccessBits, TrailerOp::kWrite), r.bits_write);
    EXPECT_EQ(TrailerAccess(r.cond, TrailerField::kKeyB, TrailerOp::kRead), r.b_read);
    EXPECT_EQ(TrailerAccess(r.cond, TrailerField::kKeyB, TrailerOp::kWrite), r.b_write);
    EXPECT_EQ(KeyBReadable(r.cond), r.b_readable);
  }
}

TEST(AccessTableTest, MaskAllows) {
  EXPECT_TRUE(MaskAllows(M::kA, KeyType::kA));
  EXPECT_FALSE(MaskAllows(M::kA, KeyType::kB));
  EXPECT_TRUE(MaskAllows(M::kB, KeyType::kB));
  EXPECT_FALSE(MaskAllows(M::kB, KeyType::kA));
  EXPECT_TRUE(MaskAllows(M::kAB, KeyType::kA));
  EXPECT_TRUE(MaskAllows(M::kAB, KeyType::kB));
  EXPECT_FALSE(MaskAllows(M::kNever, KeyType::kA));
  EXPECT_FALSE(MaskAllows(M::kNever, KeyType::kB));
}

TEST(MadCrcTest, NfcForumExampleIs0x14) {
  // NFC Forum MAD1 with every sector 03E1 (NDEF): info byte 01, 15 AIDs.
  Bytes mad = {0x01};
  for (int i = 0; i < 15; ++i) {
    mad.push_back(0x03);
    mad.push_back(0xE1);
  }
  EXPECT_EQ(MadCrc8(mad), 0x14);
}

TEST(MadCrcTest, EmptyInputIsInitValueAndChangesDetected) {
  EXPECT_EQ(MadCrc8({}), 0xC7);
  Bytes a = {0x00, 0x01, 0x21}, b = {0x00, 0x01, 0x58};
  EXPECT_NE(MadCrc8(a), MadCrc8(b));
}

TEST(AtrTest, SynthesizedAtrsMatchCardFormat) {
  EXPECT_EQ(ToSpacedHex(MifareClassicAtr(CardSize::k1K)),
            "3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A");
  EXPECT_EQ(ToSpacedHex(MifareClassicAtr(CardSize::k4K)),
            "3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 02 00 00 00 00 69");
}

TEST(AtrTest, ClassifiesByRidAndCardName) {
  EXPECT_EQ(MifareClassicSizeFromAtr(MifareClassicAtr(CardSize::k1K)), CardSize::k1K);
  EXPECT_EQ(MifareClassicSizeFromAtr(MifareClassicAtr(CardSize::k4K)), CardSize::k4K);
  // Other RFU / TCK bytes are tolerated.
  Bytes odd = MifareClassicAtr(CardSize::k1K);
  odd[15] = 0x12;
  odd.back() = 0x00;
  EXPECT_EQ(MifareClassicSizeFromAtr(odd), CardSize::k1K);
  // Ultralight (card name 0003) is a Part 3 card but not MIFARE Classic.
  Bytes ultralight = MifareClassicAtr(CardSize::k1K);
  ultralight[14] = 0x03;
  auto p = ParsePart3Atr(ultralight);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->standard, 0x03);
  EXPECT_EQ(p->card_name, 0x0003);
  EXPECT_FALSE(MifareClassicSizeFromAtr(ultralight).has_value());
  // A contact card ATR has no Part 3 RID.
  EXPECT_FALSE(ParsePart3Atr(Bytes{0x3B, 0x9F, 0x95, 0x81, 0x31, 0xFE, 0x9F}).has_value());
  EXPECT_FALSE(ParsePart3Atr(Bytes{}).has_value());
  EXPECT_FALSE(ParsePart3Atr(Bytes{0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03}).has_value());
}

}  // namespace
}  // namespace cardbureau::devices
