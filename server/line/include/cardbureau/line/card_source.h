// Where a station's reader sees cards: a PC/SC reader, or the in-process
// loopback slot of a simulated printer (the embedded default).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/printers/loopback_slot.h"

namespace cardbureau::line {

class CardSource {
 public:
  virtual ~CardSource() = default;
  // Waits up to `timeout` for a card and connects to it (exclusively where
  // the transport allows). nullopt = no card yet (not an error). Errors:
  // READER_UNAVAILABLE, READER_ERROR.
  virtual Result<std::optional<std::unique_ptr<devices::CardChannel>>> WaitForCard(
      std::chrono::milliseconds timeout) = 0;
  virtual std::string Describe() const = 0;
};

// The loopback slot of a SimPrinter. The slot must outlive the source.
class LoopbackCardSource final : public CardSource {
 public:
  explicit LoopbackCardSource(printers::LoopbackSlot& slot) : slot_(slot) {}
  Result<std::optional<std::unique_ptr<devices::CardChannel>>> WaitForCard(
      std::chrono::milliseconds timeout) override {
    return slot_.WaitForCard(timeout);
  }
  std::string Describe() const override { return "loopback"; }

 private:
  printers::LoopbackSlot& slot_;
};

}  // namespace cardbureau::line
