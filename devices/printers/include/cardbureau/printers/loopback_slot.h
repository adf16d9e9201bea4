// The encoder position of a simulated printer on the embedded default: the
// in-process equivalent of "a card lies on the reader's antenna". The
// SimPrinter inserts and removes virtual cards; the station connects to
// whatever card is there, through a LoopbackChannel (the APDU stream is the
// same as over PC/SC).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/devices/mifare_emulator.h"

namespace cardbureau::printers {

// Interface a simulated printer uses to put a virtual card on the reader.
class CardInserter {
 public:
  virtual ~CardInserter() = default;
  virtual Status Insert(std::shared_ptr<devices::MifareClassicEmulator> card) = 0;
  virtual void Remove() = 0;
};

// Thread-safe.
class LoopbackSlot final : public CardInserter {
 public:
  Status Insert(std::shared_ptr<devices::MifareClassicEmulator> card) override;
  void Remove() override;
  // Waits up to `timeout` for a card; nullopt = no card yet (not an error).
  std::optional<std::unique_ptr<devices::CardChannel>> WaitForCard(
      std::chrono::milliseconds timeout);
  std::shared_ptr<devices::MifareClassicEmulator> current() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<devices::MifareClassicEmulator> card_;
};

}  // namespace cardbureau::printers
