// Unit tests of the PC/SC layer that need no pcscd: the return-code table
// and the RAII owners' empty states. (Against a real pcscd: tests/devices.)
#include "cardbureau/devices/pcsc.h"

#include <gtest/gtest.h>
#include <pcsclite.h>

namespace cardbureau::devices {
namespace {

TEST(PcscStatusTest, OneTableForReturnCodes) {
  EXPECT_TRUE(PcscStatus(SCARD_S_SUCCESS, "x").ok());
  struct Row {
    LONG rv;
    Code code;
  };
  const Row rows[] = {
      {SCARD_W_REMOVED_CARD, Code::kCardRemoved},
      {SCARD_E_NO_SMARTCARD, Code::kCardRemoved},
      {SCARD_W_RESET_CARD, Code::kCardRemoved},
      {SCARD_E_NO_SERVICE, Code::kReaderUnavailable},
      {SCARD_F_COMM_ERROR, Code::kReaderUnavailable},
      {SCARD_E_SERVICE_STOPPED, Code::kReaderUnavailable},
      {SCARD_E_INVALID_HANDLE, Code::kReaderUnavailable},
      {SCARD_E_NO_READERS_AVAILABLE, Code::kReaderUnavailable},
      {SCARD_E_READER_UNAVAILABLE, Code::kReaderUnavailable},
      {SCARD_E_UNKNOWN_READER, Code::kReaderUnavailable},
      {SCARD_W_UNRESPONSIVE_CARD, Code::kCardError},
      {SCARD_W_UNPOWERED_CARD, Code::kCardError},
      {SCARD_E_TIMEOUT, Code::kCardTimeout},
      {SCARD_E_CANCELLED, Code::kCancelled},
      {SCARD_E_SHARING_VIOLATION, Code::kReaderError},
      {SCARD_E_NOT_TRANSACTED, Code::kReaderError},
      {SCARD_E_PROTO_MISMATCH, Code::kReaderError},
      {SCARD_F_INTERNAL_ERROR, Code::kReaderError},
  };
  for (const Row& r : rows) {
    const Status s = PcscStatus(r.rv, "SCardTransmit");
    EXPECT_EQ(s.code(), r.code) << s;
    EXPECT_EQ(s.message().rfind("SCardTransmit: ", 0), 0u) << s;
  }
  EXPECT_TRUE(PcscServiceLost(SCARD_E_NO_SERVICE));
  EXPECT_TRUE(PcscServiceLost(SCARD_F_COMM_ERROR));
  EXPECT_TRUE(PcscServiceLost(SCARD_E_SERVICE_STOPPED));
  EXPECT_TRUE(PcscServiceLost(SCARD_E_INVALID_HANDLE));
  EXPECT_FALSE(PcscServiceLost(SCARD_W_REMOVED_CARD));
  EXPECT_FALSE(PcscServiceLost(SCARD_E_TIMEOUT));
}

TEST(PcscOwnersTest, EmptyOwnersAreInertAndMovable) {
  PcscContext ctx;
  EXPECT_FALSE(ctx.valid());
  ctx.close();
  ctx.close();  // idempotent
  EXPECT_EQ(ctx.ListReaders().status().code(), Code::kReaderUnavailable);
  EXPECT_TRUE(ctx.Cancel().ok());
  PcscContext moved(std::move(ctx));
  EXPECT_FALSE(moved.valid());

  PcscCardHandle card;
  EXPECT_FALSE(card.valid());
  EXPECT_EQ(card.Transmit(Bytes{0xFF, 0xCA, 0, 0, 0}).status().code(), Code::kReaderUnavailable);
  EXPECT_EQ(card.Atr().status().code(), Code::kReaderUnavailable);
  EXPECT_EQ(PcscCardHandle::Connect(moved, "any", ShareMode::kExclusive).status().code(),
            Code::kReaderUnavailable);
  EXPECT_EQ(PcscTransaction::Begin(card).status().code(), Code::kReaderUnavailable);
  PcscTransaction tx;
  EXPECT_FALSE(tx.active());
  EXPECT_TRUE(tx.End().ok());
  static_assert(!std::is_copy_constructible_v<PcscContext>);
  static_assert(!std::is_copy_constructible_v<PcscCardHandle>);
  static_assert(!std::is_copy_constructible_v<PcscTransaction>);
  static_assert(std::is_nothrow_move_constructible_v<PcscContext>);
  static_assert(std::is_nothrow_move_constructible_v<PcscCardHandle>);
}

TEST(PcscEventNamesTest, Names) {
  EXPECT_EQ(ReaderEventKindName(ReaderEventKind::kCardInserted), "card-inserted");
  EXPECT_EQ(ReaderEventKindName(ReaderEventKind::kServiceLost), "pcscd-lost");
}

}  // namespace
}  // namespace cardbureau::devices
