// VpcdCard: puts an emulated MIFARE Classic card on a vpcd virtual reader
// (the vsmartcard driver loaded by pcscd), so code above PC/SC sees a real
// reader with a card in it.
//
// Connecting to vpcd = card inserted, closing = card removed. A background
// thread keeps the card connected while the emulator is present(): after
// emulator->Remove() (or a pull fault) it closes the connection, after
// Insert() it connects again, and when vpcd goes away (pcscd restart) it
// reconnects with exponential backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cardbureau/core/status.h"
#include "cardbureau/devices/mifare_emulator.h"

namespace cardbureau::devices {

struct VpcdOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 35963;  // "Virtual PCD 00 00"; 35964 is "Virtual PCD 00 01"
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{500};
};

// Thread-safe. Owns its thread and socket; shares the emulator.
class VpcdCard {
 public:
  // Starts the connection thread at once. Precondition: card != nullptr
  // (throws std::invalid_argument).
  VpcdCard(std::shared_ptr<MifareClassicEmulator> card, VpcdOptions options = {});
  ~VpcdCard();  // Stop()
  VpcdCard(const VpcdCard&) = delete;
  VpcdCard& operator=(const VpcdCard&) = delete;

  // Closes the connection (the card leaves the reader) and joins the thread.
  // Idempotent.
  void Stop();

  // True while a TCP connection to vpcd is open.
  bool connected() const { return connected_.load(); }
  // Waits until connected() or the time-out; returns connected().
  bool WaitUntilConnected(std::chrono::milliseconds timeout) const;
  // How many times a connection was established (for tests of reconnects).
  int connections() const { return connections_.load(); }
  // The last transport problem (OK if none): IO_ERROR for socket failures,
  // PROTOCOL_ERROR for a bad frame from vpcd.
  Status last_error() const;

 private:
  void Run();
  bool SleepFor(std::chrono::milliseconds d);  // false when stopping
  void SetError(Status s);

  std::shared_ptr<MifareClassicEmulator> card_;
  VpcdOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Status last_error_;
  std::thread thread_;
};

}  // namespace cardbureau::devices
