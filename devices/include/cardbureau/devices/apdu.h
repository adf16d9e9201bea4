// The one builder for PC/SC Part 3 storage-card pseudo-APDUs and the one
// table that maps ISO 7816 status words to catalogue codes.
//
// Everything here is pure (bytes in, bytes or Status out) and thread-safe.
// Business code never writes an APDU byte array or compares a status word
// itself: it uses Apdu::*, ParseResponse, StatusWordToStatus or
// TransmitChecked (card_channel.h).
#pragma once

#include <cstdint>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::devices {

// MIFARE Classic key type, encoded as the PC/SC Part 3 "key type" byte.
enum class KeyType : uint8_t { kA = 0x60, kB = 0x61 };

// Status words the emulator produces and the table below knows about.
namespace sw {
inline constexpr uint16_t kOk = 0x9000;
inline constexpr uint16_t kAuthFailed = 0x6300;            // authentication failed / op failed
inline constexpr uint16_t kMemoryFailure = 0x6581;         // write to EEPROM failed
inline constexpr uint16_t kExecutionError = 0x6400;        // no precise diagnosis
inline constexpr uint16_t kWrongLength = 0x6700;           // Lc/Le or APDU length wrong
inline constexpr uint16_t kSecurityNotSatisfied = 0x6982;  // access denied / not authenticated
inline constexpr uint16_t kCommandNotAllowed = 0x6986;     // e.g. no key in that slot
inline constexpr uint16_t kFunctionNotSupported = 0x6A81;  // bad P1/P2 or data field
inline constexpr uint16_t kAddressNotFound = 0x6A82;       // block outside the card
inline constexpr uint16_t kWrongP1P2 = 0x6B00;
inline constexpr uint16_t kInsNotSupported = 0x6D00;
inline constexpr uint16_t kClaNotSupported = 0x6E00;
}  // namespace sw

// PC/SC Part 3 storage-card commands (as ACR122U / OMNIKEY readers present
// MIFARE Classic). Block numbers are absolute (0..63 on 1K, 0..255 on 4K).
struct Apdu {
  // FF CA 00 00 00 -> UID (4 or 7 bytes) 90 00.
  static Bytes GetUid();
  // FF 82 00 <slot> 06 <key 6>: load a key into a volatile reader slot
  // (00..1F). Precondition: key6.size() == 6 (throws std::invalid_argument).
  static Bytes LoadKey(uint8_t slot, ByteView key6);
  // FF 86 00 00 05 01 00 <block> <60|61> <slot>: general authenticate.
  static Bytes Authenticate(uint8_t block, KeyType kt, uint8_t slot);
  // FF B0 00 <block> 10 -> 16 bytes 90 00.
  static Bytes ReadBlock(uint8_t block);
  // FF D6 00 <block> 10 <16 bytes>. Precondition: data16.size() == 16
  // (throws std::invalid_argument).
  static Bytes UpdateBlock(uint8_t block, ByteView data16);
};

// A card response split into data and status word.
struct Response {
  Bytes data;
  uint16_t sw = 0;
  bool ok() const { return sw == sw::kOk; }
};

// Splits `raw` (data ‖ SW1 SW2). PROTOCOL_ERROR if shorter than 2 bytes.
Result<Response> ParseResponse(ByteView raw);

// The one status-word table:
//   9000            -> OK
//   6300, 6982      -> AUTH_FAILED  (authentication failed / access not allowed)
//   6A82, 6B00      -> CARD_ERROR   (block address outside the card)
//   6581, 6400      -> CARD_ERROR   (the card failed to execute, e.g. EEPROM
//                      write failure). Deliberately NOT VERIFY_MISMATCH: that
//                      code means "read-back differs from what was written",
//                      which only the caller's read-back can establish.
//   6700, 6986, 6A81, 6D00, 6E00, anything else
//                   -> CARD_ERROR with the status word in the message.
Status StatusWordToStatus(uint16_t sw);

}  // namespace cardbureau::devices
