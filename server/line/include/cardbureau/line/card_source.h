// Where a station's reader sees cards: a PC/SC reader, or the in-process
// loopback slot of a simulated printer (the embedded default).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/devices/pcsc.h"
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
  // After a card left: waits (up to `timeout`) until the reader reports no
  // card, so the next card is not mistaken for the old one.
  virtual void WaitUntilEmpty(std::chrono::milliseconds /*timeout*/) {}
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

// A PC/SC reader of the local pcscd; connects exclusively (nobody else may
// talk to the card while it is encoded). Survives pcscd restarts (the
// context is re-established with backoff). Not thread-safe: one station.
class PcscCardSource final : public CardSource {
 public:
  explicit PcscCardSource(std::string reader) : reader_(std::move(reader)) {}
  Result<std::optional<std::unique_ptr<devices::CardChannel>>> WaitForCard(
      std::chrono::milliseconds timeout) override {
    auto r = readers_.WaitAndConnect(reader_, timeout, devices::ShareMode::kExclusive);
    if (!r.ok()) return r.status();
    if (!r->has_value()) return std::optional<std::unique_ptr<devices::CardChannel>>();
    return std::optional<std::unique_ptr<devices::CardChannel>>(std::move(**r));
  }
  std::string Describe() const override { return "pcsc:" + reader_; }
  void WaitUntilEmpty(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto list = readers_.List();
      if (!list.ok()) return;
      bool present = false;
      for (const auto& r : *list) present = present || (r.name == reader_ && r.card_present);
      if (!present) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  std::string reader_;
  devices::PcscReaders readers_;
};

}  // namespace cardbureau::line
