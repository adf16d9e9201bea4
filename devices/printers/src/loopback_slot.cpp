#include "cardbureau/printers/loopback_slot.h"

#include "cardbureau/devices/loopback_channel.h"

namespace cardbureau::printers {

Status LoopbackSlot::Insert(std::shared_ptr<devices::MifareClassicEmulator> card) {
  if (!card) return Status(Code::kInternal, "no card to insert");
  {
    std::lock_guard lock(mu_);
    if (card_) return Status(Code::kPrinterJam, "a card is already at the encoder position");
    card_ = std::move(card);
    card_->Insert();
  }
  cv_.notify_all();
  return Status::Ok();
}

void LoopbackSlot::Remove() {
  std::lock_guard lock(mu_);
  if (card_) card_->Remove();
  card_.reset();
}

std::optional<std::unique_ptr<devices::CardChannel>> LoopbackSlot::WaitForCard(
    std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return card_ != nullptr; })) return std::nullopt;
  return std::make_unique<devices::LoopbackChannel>(card_);
}

std::shared_ptr<devices::MifareClassicEmulator> LoopbackSlot::current() const {
  std::lock_guard lock(mu_);
  return card_;
}

}  // namespace cardbureau::printers
