#include "cardbureau/encoder/sector_plan.h"

#include <gtest/gtest.h>

namespace cardbureau::encoder {
namespace {

using devices::CardSize;

// The default stock's directory: transit 1-6, student 7-11, free after.
MadDirectory DefaultMad(CardSize size) {
  MadDirectory mad;
  mad.size = size;
  mad.mad1_info = 0x01;
  mad.aid.assign(static_cast<size_t>(devices::SectorCount(size)), 0);
  for (size_t s = 1; s <= 6; ++s) mad.aid[s] = 0x2101;
  for (size_t s = 7; s <= 11; ++s) mad.aid[s] = 0x5801;
  return mad;
}

TEST(MadTest, NfcForumVectorCrc) {
  // card-format.md: the NFC Forum MAD block 14 01 03 E1 03 E1 ... has CRC 14.
  Bytes mad1{0x14, 0x01};
  for (int i = 0; i < 15; ++i) {
    mad1.push_back(0x03);
    mad1.push_back(0xE1);
  }
  auto mad = ParseMad(CardSize::k1K, mad1, {});
  ASSERT_TRUE(mad.ok()) << mad.status();
  // Stored application-code first: 03 E1 is AID 0xE103 (NDEF).
  EXPECT_EQ(mad->aid[1], 0xE103);
  EXPECT_EQ(mad->aid[15], 0xE103);
  EXPECT_EQ(mad->mad1_info, 0x01);
}

TEST(MadTest, AidsAreStoredApplicationCodeFirst) {
  const Bytes mad1 = EncodeMad1(DefaultMad(CardSize::k1K));
  // Sector 1 (transit 0x2101) at bytes 2-3, sector 7 (0x5801) at 14-15.
  EXPECT_EQ(mad1[2], 0x01);
  EXPECT_EQ(mad1[3], 0x21);
  EXPECT_EQ(mad1[14], 0x01);
  EXPECT_EQ(mad1[15], 0x58);
  EXPECT_EQ(mad1[0], devices::MadCrc8(ByteView(mad1).subspan(1)));
}

TEST(MadTest, RoundTrip4K) {
  MadDirectory in = DefaultMad(CardSize::k4K);
  in.aid[20] = 0x5801;
  in.aid[39] = 0x0001;
  in.mad2_info = 0x00;
  auto out = ParseMad(CardSize::k4K, EncodeMad1(in), EncodeMad2(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->aid, in.aid);
}

TEST(MadTest, BadCrcIsStockInvalid) {
  Bytes mad1 = EncodeMad1(DefaultMad(CardSize::k1K));
  mad1[0] ^= 0x01;
  EXPECT_EQ(ParseMad(CardSize::k1K, mad1, {}).status().code(), Code::kCardStockInvalid);
  mad1[0] ^= 0x01;
  mad1[20] ^= 0x40;  // a flipped AID bit
  EXPECT_EQ(ParseMad(CardSize::k1K, mad1, {}).status().code(), Code::kCardStockInvalid);

  const MadDirectory m4 = DefaultMad(CardSize::k4K);
  Bytes mad2 = EncodeMad2(m4);
  mad2[47] ^= 0xFF;
  EXPECT_EQ(ParseMad(CardSize::k4K, EncodeMad1(m4), mad2).status().code(), Code::kCardStockInvalid);
  EXPECT_EQ(ParseMad(CardSize::k4K, EncodeMad1(m4), {}).status().code(), Code::kCardStockInvalid);
  EXPECT_EQ(ParseMad(CardSize::k1K, Bytes(31), {}).status().code(), Code::kCardStockInvalid);
}

TEST(SectorPlanTest, DefaultStock) {
  auto plan = SectorPlan::FromMad(DefaultMad(CardSize::k1K), AidConfig{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->student_sectors(), (std::vector<int>{7, 8, 9, 10, 11}));
  EXPECT_EQ(plan->SectorsWithRole(SectorRole::kTransit), (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(plan->RoleOf(0), SectorRole::kMad);
  EXPECT_EQ(plan->RoleOf(12), SectorRole::kFree);
  EXPECT_EQ(plan->capacity(), 240u);
  EXPECT_EQ(plan->magic_block(), 28);
  EXPECT_EQ(plan->record_blocks().size(), 15u);
  EXPECT_EQ(plan->record_blocks().back(), 46);
  EXPECT_EQ(plan->DataBlocksOf(8), (std::vector<int>{32, 33, 34}));
}

TEST(SectorPlanTest, TheOneGateRefusesEverythingNotOurs) {
  auto plan = SectorPlan::FromMad(DefaultMad(CardSize::k1K), AidConfig{});
  ASSERT_TRUE(plan.ok());
  for (int block = -1; block < 70; ++block) {
    const int sector = block >= 0 && block < 64 ? block / 4 : -1;
    const bool ours = sector >= 7 && sector <= 11;
    const bool trailer = block % 4 == 3;
    const Status data = plan->CheckWritable(block, false);
    const Status trl = plan->CheckWritable(block, true);
    EXPECT_EQ(data.ok(), ours && !trailer) << "block " << block;
    EXPECT_EQ(trl.ok(), ours && trailer) << "block " << block;
    if (!data.ok()) {
      EXPECT_EQ(data.code(), Code::kForbidden);
    }
  }
  EXPECT_FALSE(plan->CheckWritable(0, false).ok());
  for (int s = 0; s < 16; ++s) {
    const bool may = s == 0 || (s >= 7 && s <= 11);
    EXPECT_EQ(plan->CheckAuthenticate(s).ok(), may) << "sector " << s;
  }
}

TEST(SectorPlanTest, ConfigurableAids) {
  MadDirectory mad = DefaultMad(CardSize::k1K);
  mad.aid[13] = 0x5802;
  AidConfig aids;
  aids.student_aid = 0x5802;
  auto plan = SectorPlan::FromMad(mad, aids);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->student_sectors(), (std::vector<int>{13}));
  EXPECT_EQ(plan->RoleOf(7), SectorRole::kOther);
  EXPECT_EQ(plan->capacity(), 48u);
}

TEST(SectorPlanTest, NoStudentSectorIsStockInvalid) {
  MadDirectory mad = DefaultMad(CardSize::k1K);
  for (size_t s = 7; s <= 11; ++s) mad.aid[s] = 0;
  EXPECT_EQ(SectorPlan::FromMad(mad, AidConfig{}).status().code(), Code::kCardStockInvalid);
}

TEST(SectorPlanTest, LargeSectorsOn4K) {
  MadDirectory mad = DefaultMad(CardSize::k4K);
  mad.aid[33] = 0x5801;
  mad.aid[16] = 0x5801;  // the MAD2 sector is never a student sector
  auto plan = SectorPlan::FromMad(mad, AidConfig{});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->student_sectors(), (std::vector<int>{7, 8, 9, 10, 11, 33}));
  EXPECT_EQ(plan->capacity(), 240u + 15 * 16);
  EXPECT_EQ(plan->RoleOf(16), SectorRole::kMad);
  EXPECT_TRUE(plan->CheckWritable(144, false).ok());
  EXPECT_TRUE(plan->CheckWritable(159, true).ok());
  EXPECT_FALSE(plan->CheckWritable(64, false).ok());
}

}  // namespace
}  // namespace cardbureau::encoder
