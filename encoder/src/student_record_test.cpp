#include "cardbureau/encoder/student_record.h"

#include <gtest/gtest.h>

#include "cardbureau/encoder/diversify.h"

namespace cardbureau::encoder {
namespace {

const Bytes kUid = {0x04, 0xA1, 0xB2, 0xC3};

AesKey MacKey() { return AesKey::FromHex("202122232425262728292A2B2C2D2E2F").value(); }

StudentRecord Sample() {
  StudentRecord r;
  r.issue_sequence = 2;
  r.education_id = "12345678";
  r.student_no = "G110101201001011237";
  r.name = "张三";
  r.gender = 'M';
  r.school_code = "11010810";
  r.card_no = "1000751234567890";
  r.valid_until = {2028, 9, 30};
  r.issued_on = {2026, 11, 25};
  r.level = 'J';
  r.job_id = "RJ20261123-000001";
  return r;
}

TEST(StudentRecordTest, LayoutToTheByte) {
  auto bytes = EncodeRecord(Sample(), kUid, MacKey(), 240);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_EQ(bytes->size(), 240u);
  const Bytes& b = *bytes;
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "BJSC");
  EXPECT_EQ(b[4], 0x01);
  EXPECT_EQ(b[5], 0x02);
  const size_t l = b[6];
  // First TLV: 01 08 "12345678".
  EXPECT_EQ(b[7], 0x01);
  EXPECT_EQ(b[8], 0x08);
  EXPECT_EQ(std::string(b.begin() + 9, b.begin() + 17), "12345678");
  // valid_until as BCD 20 28 09 30 after tag 07.
  const std::string hex = ToHex(ByteView(b).subspan(7, l));
  EXPECT_NE(hex.find("070420280930"), std::string::npos);
  EXPECT_NE(hex.find("080420261125"), std::string::npos);
  EXPECT_NE(hex.find("09014A"), std::string::npos);  // level J
  // MAC = first 8 bytes of AES-CMAC(MAC key, UID ‖ bytes[0..7+L)).
  Bytes input = kUid;
  input.insert(input.end(), b.begin(), b.begin() + static_cast<long>(7 + l));
  const Bytes cmac = AesCmac(MacKey(), input).value();
  EXPECT_EQ(ToHex(ByteView(b).subspan(7 + l, 8)), ToHex(ByteView(cmac).first(8)));
  // Zero fill.
  for (size_t i = 7 + l + 8; i < b.size(); ++i) ASSERT_EQ(b[i], 0x00) << i;
}

TEST(StudentRecordTest, RoundTrip) {
  auto bytes = EncodeRecord(Sample(), kUid, MacKey(), 240);
  ASSERT_TRUE(bytes.ok());
  auto back = DecodeRecord(*bytes, kUid, MacKey());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Sample());
}

TEST(StudentRecordTest, MacBindsUidKeyAndBytes) {
  Bytes bytes = EncodeRecord(Sample(), kUid, MacKey(), 240).value();
  EXPECT_EQ(DecodeRecord(bytes, Bytes{0x04, 0xA1, 0xB2, 0xC4}, MacKey()).status().code(),
            Code::kVerifyMismatch);
  EXPECT_EQ(DecodeRecord(bytes, kUid, AesKey::FromHex("00000000000000000000000000000000").value())
                .status()
                .code(),
            Code::kVerifyMismatch);
  bytes[20] ^= 0x01;  // inside the name/student_no: still parses, MAC fails
  auto parsed = ParseRecord(bytes);
  if (parsed.ok()) {
    EXPECT_EQ(VerifyRecordMac(bytes, *parsed, kUid, MacKey()).code(), Code::kVerifyMismatch);
  }
}

TEST(StudentRecordTest, UnknownTagsAreSkipped) {
  Bytes b = EncodeRecord(Sample(), kUid, MacKey()).value();
  const size_t l = b[6];
  // Insert tag 0x42 (3 bytes) at the end of the TLV area and re-MAC.
  Bytes tlv(b.begin() + 7, b.begin() + 7 + static_cast<long>(l));
  tlv.insert(tlv.end(), {0x42, 0x03, 'x', 'y', 'z', 0xFF, 0x00});
  Bytes area = {'B', 'J', 'S', 'C', 0x01, 0x02, static_cast<uint8_t>(tlv.size())};
  area.insert(area.end(), tlv.begin(), tlv.end());
  Bytes input = kUid;
  input.insert(input.end(), area.begin(), area.end());
  const Bytes mac = AesCmac(MacKey(), input).value();
  area.insert(area.end(), mac.begin(), mac.begin() + 8);
  auto parsed = ParseRecord(area);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->unknown_tags, (std::vector<uint8_t>{0x42, 0xFF}));
  EXPECT_EQ(parsed->record, Sample());
  EXPECT_TRUE(VerifyRecordMac(area, *parsed, kUid, MacKey()).ok());
}

TEST(StudentRecordTest, TooLargeIsRefusedNeverTruncated) {
  StudentRecord r = Sample();
  r.name = "";
  for (int i = 0; i < 32; ++i) r.name += "𠀀";  // 32 Ext-B characters, 4 bytes each
  r.job_id = std::string(64, 'J');
  auto bytes = EncodeRecord(r, kUid, MacKey(), 240);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), Code::kRecordTooLarge);
  EXPECT_EQ(EncodedRecordSize(r).status().code(), Code::kRecordTooLarge);

  r = Sample();
  r.student_no = std::string(256, 'G');
  EXPECT_EQ(EncodedRecordSize(r, 10000).status().code(), Code::kRecordTooLarge);

  // Exactly at the limit fits; one byte more does not.
  r = Sample();
  const size_t base = EncodedRecordSize(r).value();
  r.job_id += std::string(240 - base, 'x');
  EXPECT_EQ(EncodedRecordSize(r).value(), 240u);
  EXPECT_TRUE(EncodeRecord(r, kUid, MacKey(), 240).ok());
  r.job_id += "y";
  EXPECT_EQ(EncodeRecord(r, kUid, MacKey(), 240).status().code(), Code::kRecordTooLarge);
  // A card area smaller than the record is refused too.
  EXPECT_EQ(EncodeRecord(Sample(), kUid, MacKey(), 48).status().code(), Code::kRecordTooLarge);
}

TEST(StudentRecordTest, ParserRefusals) {
  EXPECT_EQ(ParseRecord(Bytes(240, 0)).status().code(), Code::kNotFound);
  EXPECT_EQ(ParseRecord(Bytes{'B', 'J'}).status().code(), Code::kNotFound);
  Bytes good = EncodeRecord(Sample(), kUid, MacKey(), 240).value();

  Bytes v2 = good;
  v2[4] = 0x02;
  EXPECT_EQ(ParseRecord(v2).status().code(), Code::kUnsupportedVersion);

  Bytes long_l = good;
  long_l[6] = 0xFF;  // L beyond the area with the MAC
  EXPECT_EQ(ParseRecord(ByteView(long_l).first(200)).status().code(), Code::kInvalidField);

  Bytes bad_len = good;
  bad_len[8] = 0xF0;  // education_id TLV claims 240 bytes
  EXPECT_EQ(ParseRecord(bad_len).status().code(), Code::kInvalidField);

  Bytes bad_digit = good;
  bad_digit[9] = 'A';
  auto r = ParseRecord(bad_digit);
  EXPECT_EQ(r.status().code(), Code::kInvalidField);
  EXPECT_EQ(r.status().field(), "record.01");
}

TEST(StudentRecordTest, BcdDates) {
  EXPECT_EQ(ToHex(EncodeBcdDate({2028, 9, 30})), "20280930");
  EXPECT_EQ(DecodeBcdDate(FromHex("20280930").value()).value(), (CivilDate{2028, 9, 30}));
  EXPECT_EQ(DecodeBcdDate(FromHex("2028093A").value()).status().code(), Code::kInvalidField);
  EXPECT_EQ(DecodeBcdDate(FromHex("20280231").value()).status().code(), Code::kInvalidField);
  EXPECT_EQ(DecodeBcdDate(FromHex("202809").value()).status().code(), Code::kInvalidField);
}

}  // namespace
}  // namespace cardbureau::encoder
