// CardChannel: one connected card, whatever the transport (a PC/SC reader,
// the in-process loopback emulator). Code above devices/ cannot tell them
// apart.
#pragma once

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::devices {

// One connected card. Not thread-safe: owned and used by one station at a
// time. Destroying the channel disconnects (a PC/SC channel releases the
// card handle; a loopback channel leaves the emulated card in the field).
class CardChannel {
 public:
  virtual ~CardChannel() = default;
  CardChannel() = default;
  CardChannel(const CardChannel&) = delete;
  CardChannel& operator=(const CardChannel&) = delete;

  // Sends one APDU and returns the raw response INCLUDING SW1 SW2.
  // Errors: CARD_REMOVED (the card left the field), READER_UNAVAILABLE
  // (the reader or pcscd went away), READER_ERROR (other transport failure).
  // A status word other than 90 00 is NOT an error here.
  virtual Result<Bytes> Transmit(ByteView apdu) = 0;

  // The card's answer-to-reset as seen at connect time.
  virtual Bytes Atr() const = 0;
};

// Transmit + ParseResponse + StatusWordToStatus: returns the response data on
// 90 00, else the mapped Status (AUTH_FAILED, CARD_ERROR, ...) or the
// transport error (CARD_REMOVED, READER_UNAVAILABLE, READER_ERROR,
// PROTOCOL_ERROR for a response shorter than 2 bytes).
Result<Bytes> TransmitChecked(CardChannel& channel, ByteView apdu);

}  // namespace cardbureau::devices
