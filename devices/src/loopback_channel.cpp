#include "cardbureau/devices/loopback_channel.h"

#include <stdexcept>

namespace cardbureau::devices {

LoopbackChannel::LoopbackChannel(std::shared_ptr<MifareClassicEmulator> card)
    : card_(std::move(card)) {
  if (!card_) throw std::invalid_argument("LoopbackChannel needs a card");
}

Result<Bytes> LoopbackChannel::Transmit(ByteView apdu) { return card_->Process(apdu); }

Bytes LoopbackChannel::Atr() const { return card_->Atr(); }

}  // namespace cardbureau::devices
