#include "cardbureau/devices/vpcd_protocol.h"

#include <gtest/gtest.h>

namespace cardbureau::devices {
namespace {

TEST(VpcdProtocolTest, ControlFrames) {
  for (auto [byte, control] :
       {std::pair{0x00, VpcdControl::kPowerOff}, std::pair{0x01, VpcdControl::kPowerOn},
        std::pair{0x02, VpcdControl::kReset}, std::pair{0x04, VpcdControl::kAtr}}) {
    auto r = ParseVpcdFrame(Bytes{0x00, 0x01, static_cast<uint8_t>(byte)});
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->has_value());
    EXPECT_TRUE((*r)->message.is_control());
    EXPECT_EQ(std::get<VpcdControl>((*r)->message.body), control);
    EXPECT_EQ((*r)->consumed, 3u);
  }
  EXPECT_EQ(ParseVpcdFrame(Bytes{0x00, 0x01, 0x03}).status().code(), Code::kProtocolError);
  EXPECT_EQ(ParseVpcdFrame(Bytes{0x00, 0x01, 0xFF}).status().code(), Code::kProtocolError);
}

TEST(VpcdProtocolTest, ApduFrameAndPartialInput) {
  const Bytes wire = {0x00, 0x05, 0xFF, 0xCA, 0x00, 0x00, 0x00, 0x00, 0x01};
  for (size_t n = 0; n < 7; ++n) {
    auto partial = ParseVpcdFrame(ByteView(wire).first(n));
    ASSERT_TRUE(partial.ok()) << n;
    EXPECT_FALSE(partial->has_value()) << n;
  }
  auto r = ParseVpcdFrame(wire);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_FALSE((*r)->message.is_control());
  EXPECT_EQ(std::get<Bytes>((*r)->message.body), (Bytes{0xFF, 0xCA, 0x00, 0x00, 0x00}));
  EXPECT_EQ((*r)->consumed, 7u);
  // The rest of the buffer is the next (here partial) frame.
  auto next = ParseVpcdFrame(ByteView(wire).subspan(7));
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

TEST(VpcdProtocolTest, EmptyFrameIsAnError) {
  EXPECT_EQ(ParseVpcdFrame(Bytes{0x00, 0x00}).status().code(), Code::kProtocolError);
}

TEST(VpcdProtocolTest, EncodeRoundTrip) {
  EXPECT_EQ(EncodeVpcdFrame(Bytes{0x90, 0x00}), (Bytes{0x00, 0x02, 0x90, 0x00}));
  Bytes big(300, 0xAB);
  const Bytes wire = EncodeVpcdFrame(big);
  EXPECT_EQ(wire[0], 0x01);
  EXPECT_EQ(wire[1], 0x2C);
  auto r = ParseVpcdFrame(wire);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(std::get<Bytes>((*r)->message.body), big);
  EXPECT_THROW(EncodeVpcdFrame(Bytes(70000)), std::length_error);
}

}  // namespace
}  // namespace cardbureau::devices
