#include "cardbureau/encoder/sector_trailer.h"

#include <gtest/gtest.h>

#include <sstream>
#include <type_traits>

namespace cardbureau::encoder {
namespace {

MifareKey K(std::string_view hex) { return MifareKey::FromHex(hex).value(); }

// The type itself forbids hand-made trailers: no public default or
// byte-array constructor.
static_assert(!std::is_default_constructible_v<SectorTrailer>);
static_assert(!std::is_constructible_v<SectorTrailer, ByteView>);
static_assert(!std::is_constructible_v<SectorTrailer, std::array<uint8_t, 16>>);

TEST(SectorTrailerTest, StudentTrailerBytes) {
  auto t =
      SectorTrailer::Build(K("A1A2A3A4A5A6"), StudentAccessConditions(), 0x00, K("B1B2B3B4B5B6"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(ToHex(t->bytes()),
            "A1A2A3A4A5A6787788"
            "00"
            "B1B2B3B4B5B6");
}

TEST(SectorTrailerTest, TransportAndMadTrailerBytes) {
  // The transport configuration FF 07 80 is the stock's, never the
  // bureau's: its trailer condition 001 lets key A read key B.
  EXPECT_EQ(devices::EncodeAccessBits(TransportAccessConditions()),
            (std::array<uint8_t, 3>{0xFF, 0x07, 0x80}));
  auto transport =
      SectorTrailer::Build(TransportKey(), TransportAccessConditions(), 0x69, TransportKey());
  EXPECT_EQ(transport.status().code(), Code::kInvalidField);
  // MAD trailer A0A1A2A3A4A5 78 77 88 C1 <key B>.
  const std::array<uint8_t, 3> mad_access{0x78, 0x77, 0x88};
  auto mad = SectorTrailer::Build(MadKeyA(), mad_access, 0xC1, K("000000000000"));
  ASSERT_TRUE(mad.ok());
  EXPECT_EQ(ToHex(mad->bytes()).substr(0, 20), "A0A1A2A3A4A5787788C1");
}

// Exhaustive over every 3-byte access field: the builder accepts exactly the
// consistent triples its policy allows, and whatever leaves it decodes.
TEST(SectorTrailerTest, NoInconsistentTrailerEverLeavesTheBuilder) {
  const MifareKey a = K("A1A2A3A4A5A6"), b = K("B1B2B3B4B5B6");
  int accepted = 0;
  for (uint32_t v = 0; v < (1u << 24); ++v) {
    const std::array<uint8_t, 3> access{static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                                        static_cast<uint8_t>(v)};
    // Fast pre-filter equal to the inverted-copy rule, so the loop stays
    // quick; the builder is called for every consistent triple and for a
    // stride of inconsistent ones.
    const bool consistent = ((access[1] >> 4) ^ (access[0] & 0xF)) == 0xF &&
                            ((access[2] & 0xF) ^ (access[0] >> 4)) == 0xF &&
                            ((access[2] >> 4) ^ (access[1] & 0xF)) == 0xF;
    if (!consistent && v % 97 != 0) continue;
    auto t = SectorTrailer::Build(a, access, 0x00, b);
    if (!consistent) {
      ASSERT_FALSE(t.ok()) << ToSpacedHex(access);
      EXPECT_EQ(t.status().code(), Code::kInvalidField);
      continue;
    }
    if (!t.ok()) continue;  // refused by policy (frozen or readable key B)
    ++accepted;
    ASSERT_TRUE(devices::DecodeAccessBits(ByteView(t->bytes()).subspan(6, 3)).ok());
    EXPECT_EQ(t->access_bytes(), access);
  }
  // 8^4 consistent triples; trailer conditions 011 and 101 only survive the
  // policy (001 makes key B readable; 000/010 too; 100, 110, 111 freeze
  // the access bits) -> 2 * 8^3.
  EXPECT_EQ(accepted, 2 * 512);
}

TEST(SectorTrailerTest, EveryConditionSetEitherRefusedOrConsistent) {
  const MifareKey a = K("A1A2A3A4A5A6"), b = K("B1B2B3B4B5B6");
  for (int v = 0; v < 8 * 8 * 8 * 8; ++v) {
    devices::AccessConditions ac{{static_cast<uint8_t>(v & 7), static_cast<uint8_t>((v >> 3) & 7),
                                  static_cast<uint8_t>((v >> 6) & 7),
                                  static_cast<uint8_t>((v >> 9) & 7)}};
    auto t = SectorTrailer::Build(a, ac, 0x00, b);
    if (!t.ok()) continue;
    auto decoded = devices::DecodeAccessBits(ByteView(t->bytes()).subspan(6, 3));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, ac);
  }
  devices::AccessConditions bad{{8, 0, 0, 3}};
  EXPECT_EQ(SectorTrailer::Build(a, bad, 0, b).status().code(), Code::kInvalidField);
}

TEST(SectorTrailerTest, PrintingRedactsKeys) {
  auto t =
      SectorTrailer::Build(K("A1A2A3A4A5A6"), StudentAccessConditions(), 0x00, K("B1B2B3B4B5B6"));
  ASSERT_TRUE(t.ok());
  std::ostringstream os;
  os << *t;
  EXPECT_EQ(os.str().find("A1A2"), std::string::npos);
  EXPECT_EQ(os.str().find("B1B2"), std::string::npos);
  EXPECT_NE(os.str().find("78 77 88"), std::string::npos);
}

}  // namespace
}  // namespace cardbureau::encoder
