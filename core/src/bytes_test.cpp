#include "cardbureau/core/bytes.h"

#include <gtest/gtest.h>

namespace cardbureau {
namespace {

TEST(BytesTest, HexRoundTrip) {
  Bytes b = {0x04, 0xA1, 0xB2, 0xC3};
  EXPECT_EQ(ToHex(b), "04A1B2C3");
  EXPECT_EQ(ToSpacedHex(b), "04 A1 B2 C3");
  EXPECT_EQ(*FromHex("04a1 b2:C3"), b);
  EXPECT_FALSE(FromHex("ABC").ok());
  EXPECT_FALSE(FromHex("0G").ok());
}

TEST(BytesTest, Base64UrlRfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(AsBytes("")), "");
  EXPECT_EQ(Base64UrlEncode(AsBytes("f")), "Zg");
  EXPECT_EQ(Base64UrlEncode(AsBytes("fo")), "Zm8");
  EXPECT_EQ(Base64UrlEncode(AsBytes("foo")), "Zm9v");
  EXPECT_EQ(Base64UrlEncode(AsBytes("foob")), "Zm9vYg");
  Bytes special = {0xFB, 0xFF, 0xBF};
  EXPECT_EQ(Base64UrlEncode(special), "-_-_");
  EXPECT_EQ(*Base64UrlDecode("-_-_"), special);
  EXPECT_EQ(*Base64UrlDecode("Zm9vYg"), ToBytes("foob"));
  EXPECT_FALSE(Base64UrlDecode("Zm9vYg==").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm9+").ok());
  EXPECT_FALSE(Base64UrlDecode("Z").ok());
  EXPECT_FALSE(Base64UrlDecode("Zh").ok());  // non-canonical tail bits
}

TEST(BytesTest, Sha256KnownVector) {
  EXPECT_EQ(Sha256Hex(AsBytes("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace cardbureau
