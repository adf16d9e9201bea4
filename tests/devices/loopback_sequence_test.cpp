// The command sequence over the in-process loopback transport, with the
// expected status words spelled out (the vpcd test compares against this).
#include <gtest/gtest.h>

#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/loopback_channel.h"
#include "command_sequence.h"

namespace cardbureau::devices {
namespace {

std::string Sw(const std::string& line) { return line.substr(line.size() - 5); }

TEST(LoopbackSequenceTest, StatusWordsFollowTheCardRules) {
  const Bytes image = MakeBlankStock(StockKind::kBjt1k, 2024);
  auto card = std::make_shared<MifareClassicEmulator>(image, *UidFromImage(image));
  LoopbackChannel channel(card);
  const auto t = testing::RunCommandSequence(channel);
  ASSERT_EQ(t.size(), 28u);
  const std::vector<std::string> want = {
      "90 00", "90 00", "90 00", "90 00", "90 00", "90 00", "69 82", "90 00", "63 00", "90 00",
      "90 00", "90 00", "90 00", "90 00", "90 00", "90 00", "90 00", "90 00", "90 00", "90 00",
      "90 00", "90 00", "90 00", "63 00", "69 82", "90 00", "69 82", "6D 00"};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(Sw(t[i]), want[i]) << t[i];
  EXPECT_EQ(t[0], "FF CA 00 00 00 -> " + ToSpacedHex(*UidFromImage(image)) + " 90 00");
  // Key A reads as zeros, access bits and GPB of the transport trailer show.
  EXPECT_EQ(t[16], "FF B0 00 1F 10 -> 00 00 00 00 00 00 FF 07 80 69 FF FF FF FF FF FF 90 00");
  const Bytes after = card->Image();
  EXPECT_EQ(Bytes(after.begin() + 28 * 16, after.begin() + 29 * 16), Bytes(16, 28));
  EXPECT_EQ(Bytes(after.begin() + 29 * 16, after.begin() + 30 * 16), Bytes(16, 0x42));
  EXPECT_EQ(ToHex(ByteView(after).subspan(31 * 16, 16)), "11223344556678778800998877665544");
  EXPECT_EQ(Bytes(after.begin(), after.begin() + 16), Bytes(image.begin(), image.begin() + 16));
}

}  // namespace
}  // namespace cardbureau::devices
