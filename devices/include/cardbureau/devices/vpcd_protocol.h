// The vpcd wire protocol (vsmartcard's virtual PC/SC reader driver), pure.
//
// Every message in both directions is a 2-byte big-endian length followed by
// that many bytes. From vpcd to the card, a 1-byte message is a control
// command (00 power off, 01 power on, 02 reset, 04 ATR request); anything
// longer is a command APDU. The card answers the ATR request with its ATR and
// every APDU with its response (at least SW1 SW2); power/reset get no answer.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <variant>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::devices {

enum class VpcdControl : uint8_t { kPowerOff = 0x00, kPowerOn = 0x01, kReset = 0x02, kAtr = 0x04 };

// One message from vpcd: a control command or a command APDU.
struct VpcdMessage {
  std::variant<VpcdControl, Bytes> body;
  bool is_control() const { return std::holds_alternative<VpcdControl>(body); }
};

// A complete frame parsed from the front of a buffer.
struct VpcdFrame {
  VpcdMessage message;
  size_t consumed = 0;  // bytes of the buffer this frame used (2 + length)
};

// Parses the first frame in `buffer`. nullopt when the buffer does not hold a
// whole frame yet (read more). PROTOCOL_ERROR for a zero-length frame or an
// unknown 1-byte control code (the connection should then be dropped).
Result<std::optional<VpcdFrame>> ParseVpcdFrame(ByteView buffer);

// Length-prefixes `payload`. Precondition: payload.size() <= 65535 (throws
// std::length_error).
Bytes EncodeVpcdFrame(ByteView payload);

}  // namespace cardbureau::devices
