#include "cardbureau/devices/apdu.h"

#include <gtest/gtest.h>

#include "cardbureau/devices/card_channel.h"

namespace cardbureau::devices {
namespace {

TEST(ApduTest, BuildsPart3Commands) {
  EXPECT_EQ(ToSpacedHex(Apdu::GetUid()), "FF CA 00 00 00");
  const Bytes key = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5};
  EXPECT_EQ(ToSpacedHex(Apdu::LoadKey(0x01, key)), "FF 82 00 01 06 A0 A1 A2 A3 A4 A5");
  EXPECT_EQ(ToSpacedHex(Apdu::Authenticate(0x2C, KeyType::kB, 0x01)),
            "FF 86 00 00 05 01 00 2C 61 01");
  EXPECT_EQ(ToSpacedHex(Apdu::Authenticate(4, KeyType::kA, 0)), "FF 86 00 00 05 01 00 04 60 00");
  EXPECT_EQ(ToSpacedHex(Apdu::ReadBlock(0xFF)), "FF B0 00 FF 10");
  Bytes data(16);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(ToSpacedHex(Apdu::UpdateBlock(7, data)),
            "FF D6 00 07 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F");
}

TEST(ApduTest, RejectsWrongSizedKeyAndData) {
  EXPECT_THROW(Apdu::LoadKey(0, Bytes(5)), std::invalid_argument);
  EXPECT_THROW(Apdu::UpdateBlock(4, Bytes(15)), std::invalid_argument);
}

TEST(ApduTest, ParseResponseSplitsDataAndStatusWord) {
  auto r = ParseResponse(Bytes{0x04, 0xA1, 0x90, 0x00});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, (Bytes{0x04, 0xA1}));
  EXPECT_EQ(r->sw, 0x9000);
  EXPECT_TRUE(r->ok());
  auto only_sw = ParseResponse(Bytes{0x63, 0x00});
  ASSERT_TRUE(only_sw.ok());
  EXPECT_TRUE(only_sw->data.empty());
  EXPECT_FALSE(only_sw->ok());
  EXPECT_EQ(ParseResponse(Bytes{0x90}).status().code(), Code::kProtocolError);
  EXPECT_EQ(ParseResponse(Bytes{}).status().code(), Code::kProtocolError);
}

TEST(ApduTest, StatusWordTable) {
  EXPECT_TRUE(StatusWordToStatus(0x9000).ok());
  EXPECT_EQ(StatusWordToStatus(0x6300).code(), Code::kAuthFailed);
  EXPECT_EQ(StatusWordToStatus(0x6982).code(), Code::kAuthFailed);
  EXPECT_EQ(StatusWordToStatus(0x6A82).code(), Code::kCardError);
  EXPECT_EQ(StatusWordToStatus(0x6B00).code(), Code::kCardError);
  EXPECT_EQ(StatusWordToStatus(0x6581).code(), Code::kCardError);
  EXPECT_EQ(StatusWordToStatus(0x6400).code(), Code::kCardError);
  EXPECT_EQ(StatusWordToStatus(0x6D00).code(), Code::kCardError);
  const Status other = StatusWordToStatus(0x6F12);
  EXPECT_EQ(other.code(), Code::kCardError);
  EXPECT_NE(other.message().find("6F 12"), std::string::npos) << other;
  EXPECT_NE(StatusWordToStatus(0x6982).message().find("69 82"), std::string::npos);
}

class ScriptedChannel : public CardChannel {
 public:
  explicit ScriptedChannel(Result<Bytes> answer) : answer_(std::move(answer)) {}
  Result<Bytes> Transmit(ByteView apdu) override {
    last_.assign(apdu.begin(), apdu.end());
    return answer_;
  }
  Bytes Atr() const override { return {}; }
  Bytes last_;

 private:
  Result<Bytes> answer_;
};

TEST(TransmitCheckedTest, ReturnsDataOn9000AndMappedErrorsOtherwise) {
  ScriptedChannel good(Bytes{0x01, 0x02, 0x90, 0x00});
  auto data = TransmitChecked(good, Apdu::ReadBlock(4));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, (Bytes{0x01, 0x02}));
  EXPECT_EQ(good.last_, Apdu::ReadBlock(4));

  ScriptedChannel denied(Bytes{0x69, 0x82});
  EXPECT_EQ(TransmitChecked(denied, Apdu::ReadBlock(4)).status().code(), Code::kAuthFailed);
  ScriptedChannel short_answer(Bytes{0x90});
  EXPECT_EQ(TransmitChecked(short_answer, Apdu::ReadBlock(4)).status().code(),
            Code::kProtocolError);
  ScriptedChannel gone(Status(Code::kCardRemoved, "pulled"));
  EXPECT_EQ(TransmitChecked(gone, Apdu::ReadBlock(4)).status().code(), Code::kCardRemoved);
}

}  // namespace
}  // namespace cardbureau::devices
