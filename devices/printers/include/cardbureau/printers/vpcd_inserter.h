// Puts a simulated printer's virtual cards on a vpcd virtual reader, so the
// station reads them through the real pcscd (tests and rehearsals of a
// PC/SC station without hardware).
#pragma once

#include <memory>
#include <mutex>

#include "cardbureau/devices/vpcd_card.h"
#include "cardbureau/printers/loopback_slot.h"

namespace cardbureau::printers {

// Thread-safe.
class VpcdInserter final : public CardInserter {
 public:
  explicit VpcdInserter(devices::VpcdOptions options) : options_(std::move(options)) {}
  ~VpcdInserter() override { Remove(); }
  // Connects the card to vpcd (= card inserted). Waits up to 5 s for the
  // connection; READER_UNAVAILABLE when vpcd (pcscd) does not answer.
  Status Insert(std::shared_ptr<devices::MifareClassicEmulator> card) override;
  // Disconnects (= card removed).
  void Remove() override;

 private:
  devices::VpcdOptions options_;
  std::mutex mu_;
  std::shared_ptr<devices::MifareClassicEmulator> card_;
  std::unique_ptr<devices::VpcdCard> vpcd_;
};

}  // namespace cardbureau::printers
