#include "cardbureau/encoder/diversify.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cardbureau::encoder {
namespace {

AesKey Key(std::string_view hex) { return AesKey::FromHex(hex).value(); }

TEST(DiversifyTest, An10922TestVector) {
  const AesKey master = Key("00112233445566778899AABBCCDDEEFF");
  const Bytes m = FromHex("04782E21801D803042F54E585020416275").value();
  auto div = Diversify(master, m);
  ASSERT_TRUE(div.ok()) << div.status();
  EXPECT_EQ(ToHex(div->view()), "A8DD63A3B89D54B37CA802473FDA9175");
}

TEST(DiversifyTest, EqualsPlainCmacWhenDIsLongerThanOneBlock) {
  // For 16 < |D| the AN10922 padding coincides with CMAC's, so DIV must equal
  // AES-CMAC(01 ‖ M) computed by OpenSSL.
  const AesKey master = Key("2B7E151628AED2A6ABF7158809CF4F3C");
  for (size_t len = 16; len <= 31; ++len) {
    Bytes m(len);
    for (size_t i = 0; i < len; ++i) m[i] = static_cast<uint8_t>(i * 7 + 3);
    Bytes d{0x01};
    d.insert(d.end(), m.begin(), m.end());
    auto cmac = AesCmac(master, d);
    auto div = Diversify(master, m);
    ASSERT_TRUE(cmac.ok() && div.ok());
    EXPECT_EQ(ToHex(*cmac), ToHex(div->view())) << "len " << len;
  }
}

TEST(DiversifyTest, DiffersFromPlainCmacWhenDFitsOneBlock) {
  // Our inputs (UID ‖ AID ‖ sector ‖ "BJSC") are 11 or 14 bytes: D <= 16,
  // where AN10922 pads to 32 bytes and plain CMAC would pad to 16.
  const AesKey master = Key("00112233445566778899AABBCCDDEEFF");
  const Bytes m = FromHex("04A1B2C3580107424A5343").value();
  Bytes d{0x01};
  d.insert(d.end(), m.begin(), m.end());
  auto cmac = AesCmac(master, d);
  auto div = Diversify(master, m);
  ASSERT_TRUE(cmac.ok() && div.ok());
  EXPECT_NE(ToHex(*cmac), ToHex(div->view()));
}

TEST(DiversifyTest, Rfc4493CmacVectors) {
  const AesKey k = Key("2B7E151628AED2A6ABF7158809CF4F3C");
  EXPECT_EQ(ToHex(AesCmac(k, {}).value()), "BB1D6929E95937287FA37D129B756746");
  EXPECT_EQ(ToHex(AesCmac(k, FromHex("6BC1BEE22E409F96E93D7E117393172A").value()).value()),
            "070A16B46B4D4144F79BDD9DD04A287C");
}

TEST(DiversifyTest, RejectsBadInputLengths) {
  const AesKey master = Key("00112233445566778899AABBCCDDEEFF");
  EXPECT_EQ(Diversify(master, {}).status().code(), Code::kInvalidField);
  EXPECT_EQ(Diversify(master, Bytes(32, 1)).status().code(), Code::kInvalidField);
  EXPECT_TRUE(Diversify(master, Bytes(31, 1)).ok());
}

TEST(DiversifyTest, InputLayout) {
  auto m = DiversificationInput(FromHex("04A1B2C3").value(), 0x5801, 7);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ToHex(*m),
            "04A1B2C35801074"
            "24A5343");
  EXPECT_EQ(DiversificationInput(Bytes(5), 0x5801, 7).status().code(), Code::kInvalidField);
  EXPECT_TRUE(DiversificationInput(Bytes(7), 0x5801, 7).ok());
}

TEST(DiversifyTest, PerCardKeysFollowTheSpec) {
  KeySet keys;
  keys.master_read = Key("000102030405060708090A0B0C0D0E0F");
  keys.master_write = Key("101112131415161718191A1B1C1D1E1F");
  keys.master_mac = Key("202122232425262728292A2B2C2D2E2F");
  const Bytes uid = FromHex("04A1B2C3").value();
  for (uint8_t sector : {7, 11}) {
    const Bytes m = DiversificationInput(uid, 0x5801, sector).value();
    auto a = DeriveKeyA(keys, uid, 0x5801, sector);
    auto b = DeriveKeyB(keys, uid, 0x5801, sector);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(ToHex(a->view()), ToHex(Diversify(keys.master_read, m)->view()).substr(0, 12));
    EXPECT_EQ(ToHex(b->view()), ToHex(Diversify(keys.master_write, m)->view()).substr(0, 12));
    EXPECT_FALSE(*a == *b);
  }
  EXPECT_FALSE(*DeriveKeyB(keys, uid, 0x5801, 7) == *DeriveKeyB(keys, uid, 0x5801, 8));
  auto mac = DeriveMacKey(keys, uid, 0x5801);
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(
      ToHex(mac->view()),
      ToHex(Diversify(keys.master_mac, DiversificationInput(uid, 0x5801, 0).value())->view()));
}

TEST(KeysTest, NeverPrintsKeyBytes) {
  const AesKey k = Key("00112233445566778899AABBCCDDEEFF");
  std::ostringstream os;
  os << k << " " << TransportKey();
  EXPECT_EQ(os.str().find("0011"), std::string::npos);
  EXPECT_EQ(os.str().find("FF"), std::string::npos);
  EXPECT_NE(os.str().find("redacted"), std::string::npos);
}

TEST(KeysTest, MovedFromKeyIsZeroized) {
  AesKey k = Key("00112233445566778899AABBCCDDEEFF");
  AesKey moved = std::move(k);
  EXPECT_EQ(ToHex(moved.view()), "00112233445566778899AABBCCDDEEFF");
  EXPECT_EQ(ToHex(k.view()), std::string(32, '0'));  // NOLINT: inspecting moved-from on purpose
}

TEST(KeysTest, FromHexChecksLength) {
  EXPECT_EQ(AesKey::FromHex("0011").status().code(), Code::kInvalidKey);
  EXPECT_EQ(AesKey::FromHex(std::string(32, 'G')).status().code(), Code::kInvalidKey);
  EXPECT_EQ(ToHex(MadKeyA().view()), "A0A1A2A3A4A5");
  EXPECT_EQ(ToHex(TransportKey().view()), "FFFFFFFFFFFF");
}

}  // namespace
}  // namespace cardbureau::encoder
