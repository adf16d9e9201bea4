// LoopbackChannel: a CardChannel straight into an in-process emulated card
// (the embedded default when no pcscd runs). The APDU stream is the same as
// over PC/SC; only the transport differs.
#pragma once

#include <memory>

#include "cardbureau/devices/card_channel.h"
#include "cardbureau/devices/mifare_emulator.h"

namespace cardbureau::devices {

// Shares ownership of the emulator (a simulated printer may insert/remove the
// same card). Not thread-safe itself (CardChannel contract); the emulator is.
class LoopbackChannel : public CardChannel {
 public:
  // Precondition: card != nullptr (throws std::invalid_argument).
  explicit LoopbackChannel(std::shared_ptr<MifareClassicEmulator> card);

  // CARD_REMOVED when the card is not in the field; the emulator's answer
  // otherwise.
  Result<Bytes> Transmit(ByteView apdu) override;
  Bytes Atr() const override;

  MifareClassicEmulator& card() { return *card_; }

 private:
  std::shared_ptr<MifareClassicEmulator> card_;
};

}  // namespace cardbureau::devices
