#include "card_session.h"

#include <gtest/gtest.h>

#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/loopback_channel.h"

namespace cardbureau::encoder {
namespace {

using devices::CardSize;
using devices::KeyType;

std::shared_ptr<devices::MifareClassicEmulator> Card() {
  Bytes image = devices::MakeBlankStock(devices::StockKind::kBjt1k, 42);
  Bytes uid = devices::UidFromImage(image).value();
  return std::make_shared<devices::MifareClassicEmulator>(std::move(image), std::move(uid));
}

TEST(CardSizeFromAtrTest, ClassifiesByRidAndCardName) {
  EXPECT_EQ(CardSizeFromAtr(devices::MifareClassicAtr(CardSize::k1K)).value(), CardSize::k1K);
  EXPECT_EQ(CardSizeFromAtr(devices::MifareClassicAtr(CardSize::k4K)).value(), CardSize::k4K);
  EXPECT_EQ(CardSizeFromAtr(FromHex("3B8F8001804F0CA000000306030001000000006A").value()).value(),
            CardSize::k1K);
  // Another card name (MIFARE Ultralight 00 03) or another RID: not our stock.
  EXPECT_EQ(
      CardSizeFromAtr(FromHex("3B8F8001804F0CA0000003060300030000000068").value()).status().code(),
      Code::kCardStockInvalid);
  EXPECT_EQ(
      CardSizeFromAtr(FromHex("3B8F8001804F0CA0000003070300010000000068").value()).status().code(),
      Code::kCardStockInvalid);
  EXPECT_EQ(CardSizeFromAtr({}).status().code(), Code::kCardStockInvalid);
}

TEST(CardSessionTest, NothingButTheMadBeforeAPlanExists) {
  auto card = Card();
  devices::LoopbackChannel ch(card);
  CardSession s(ch);
  EXPECT_EQ(s.Authenticate(7, KeyType::kA, kSlotTransport).code(), Code::kForbidden);
  EXPECT_EQ(s.ReadBlock(28).status().code(), Code::kForbidden);
  EXPECT_EQ(s.WriteDataBlock(28, Bytes(16)).code(), Code::kForbidden);
  EXPECT_EQ(card->counts().apdus, 0);
  EXPECT_EQ(s.apdu_count(), 0);
  auto mad = ReadMad(s, CardSize::k1K);
  ASSERT_TRUE(mad.ok()) << mad.status();
  EXPECT_EQ(s.apdu_count(), 4);
  EXPECT_EQ(card->counts().apdus, 4);
}

TEST(CardSessionTest, TheGateRefusesBeforeAnyApduIsBuilt) {
  auto card = Card();
  devices::LoopbackChannel ch(card);
  CardSession s(ch);
  auto mad = ReadMad(s, CardSize::k1K);
  ASSERT_TRUE(mad.ok());
  auto plan = SectorPlan::FromMad(*mad, AidConfig{});
  ASSERT_TRUE(plan.ok());
  s.SetPlan(&*plan);
  const int before = card->counts().apdus;
  const Bytes image = card->Image();
  auto trailer = SectorTrailer::Build(TransportKey(), StudentAccessConditions(), 0, TransportKey());
  ASSERT_TRUE(trailer.ok());

  EXPECT_EQ(s.WriteDataBlock(0, Bytes(16)).code(), Code::kForbidden);   // manufacturer block
  EXPECT_EQ(s.WriteDataBlock(1, Bytes(16)).code(), Code::kForbidden);   // MAD
  EXPECT_EQ(s.WriteDataBlock(4, Bytes(16)).code(), Code::kForbidden);   // transit sector 1
  EXPECT_EQ(s.WriteDataBlock(48, Bytes(16)).code(), Code::kForbidden);  // free sector 12
  EXPECT_EQ(s.WriteDataBlock(31, Bytes(16)).code(), Code::kForbidden);  // a trailer as data
  EXPECT_EQ(s.WriteTrailer(0, *trailer).code(), Code::kForbidden);
  EXPECT_EQ(s.WriteTrailer(3, *trailer).code(), Code::kForbidden);
  for (int sector : {1, 2, 3, 4, 5, 6, 12, 15}) {
    EXPECT_EQ(s.Authenticate(sector, KeyType::kA, kSlotTransport).code(), Code::kForbidden);
  }
  EXPECT_EQ(s.ReadBlock(4).status().code(), Code::kForbidden);
  EXPECT_EQ(card->counts().apdus, before);
  EXPECT_EQ(card->Image(), image);

  // Student sectors pass the gate.
  ASSERT_TRUE(s.LoadKey(kSlotTransport, TransportKey()).ok());
  ASSERT_TRUE(s.Authenticate(7, KeyType::kA, kSlotTransport).ok());
  Bytes data(16, 0xA5);
  ASSERT_TRUE(s.WriteDataBlock(29, data).ok());
  EXPECT_EQ(s.ReadBlock(29).value(), data);
}

}  // namespace
}  // namespace cardbureau::encoder
