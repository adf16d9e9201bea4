// CardSession: the only path from encoder code to a card. Every APDU is
// built by devices::Apdu, and every authentication and write is checked
// against the SectorPlan BEFORE the APDU is built (the one gate): block 0,
// transit, free and foreign sectors are refused with FORBIDDEN and never
// reach the card. Before a plan is installed only the MAD sectors may be
// authenticated and nothing may be written. Counts APDUs.
//
// Not thread-safe (one session per channel, like the channel itself).
#pragma once

#include <cstdint>

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/devices/mifare_layout.h"
#include "cardbureau/encoder/keys.h"
#include "cardbureau/encoder/sector_plan.h"
#include "cardbureau/encoder/sector_trailer.h"

namespace cardbureau::encoder {

// Reader key slots used by the encoder (volatile, 00..1F).
inline constexpr uint8_t kSlotMad = 0x00;
inline constexpr uint8_t kSlotTransport = 0x01;
inline constexpr uint8_t kSlotSectorKey = 0x02;

// 1K / 4K from a PC/SC Part 3 ATR (RID A0 00 00 03 06, standard 03, card
// name 00 01 / 00 02). CARD_STOCK_INVALID for anything else.
Result<devices::CardSize> CardSizeFromAtr(ByteView atr);

class CardSession {
 public:
  explicit CardSession(devices::CardChannel& channel) : channel_(channel) {}
  CardSession(const CardSession&) = delete;
  CardSession& operator=(const CardSession&) = delete;

  // Installs the plan that gates authentication and writes. `plan` must
  // outlive the session.
  void SetPlan(const SectorPlan* plan) { plan_ = plan; }

  Result<Bytes> GetUid();
  Status LoadKey(uint8_t slot, const MifareKey& key);
  // AUTH_FAILED when the card refuses the key; FORBIDDEN by the gate.
  Status Authenticate(int sector, devices::KeyType type, uint8_t slot);
  // Reads one data block of a sector the gate lets us authenticate.
  Result<Bytes> ReadBlock(int block);
  // Writes one data block of a student sector (FORBIDDEN otherwise).
  Status WriteDataBlock(int block, ByteView data16);
  // Writes the trailer of a student sector; only a SectorTrailer (built and
  // checked by SectorTrailer::Build) can be written to a trailer block.
  Status WriteTrailer(int sector, const SectorTrailer& trailer);

  int apdu_count() const { return apdus_; }

 private:
  Result<Bytes> Send(const Bytes& apdu);
  Status CheckSector(int sector) const;

  devices::CardChannel& channel_;
  const SectorPlan* plan_ = nullptr;
  int apdus_ = 0;
};

}  // namespace cardbureau::encoder

namespace cardbureau::encoder {

// Authenticates the MAD sector(s) with the public MAD key A and reads and
// parses MAD1 (and MAD2 on 4K). Errors: CARD_STOCK_INVALID (CRC, layout),
// AUTH_FAILED, transport errors.
Result<MadDirectory> ReadMad(CardSession& session, devices::CardSize size);

}  // namespace cardbureau::encoder
