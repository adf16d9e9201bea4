#include "cardbureau/printers/vpcd_inserter.h"

namespace cardbureau::printers {

Status VpcdInserter::Insert(std::shared_ptr<devices::MifareClassicEmulator> card) {
  if (!card) return Status(Code::kInternal, "no card to insert");
  std::lock_guard lock(mu_);
  if (vpcd_) return Status(Code::kPrinterJam, "a card is already at the encoder position");
  card->Insert();
  card_ = card;
  vpcd_ = std::make_unique<devices::VpcdCard>(card, options_);
  if (!vpcd_->WaitUntilConnected(std::chrono::seconds(5))) {
    vpcd_.reset();
    card_.reset();
    return Status(Code::kReaderUnavailable, "vpcd on port " + std::to_string(options_.port) +
                                                " did not accept the card (is pcscd running?)");
  }
  return Status::Ok();
}

void VpcdInserter::Remove() {
  std::lock_guard lock(mu_);
  if (card_) card_->Remove();
  if (vpcd_) vpcd_->Stop();
  vpcd_.reset();
  card_.reset();
}

}  // namespace cardbureau::printers
