// A MIFARE Classic 1K/4K card behind a PC/SC Part 3 contactless reader,
// emulated in memory. Answers the storage-card pseudo-APDUs (get UID, load
// key, general authenticate, read binary, update binary) and enforces the
// real card's rules:
//   - authentication per sector before read/write (one sector at a time; a
//     failed authentication drops it), keys from volatile slots 00..1F;
//   - the data-block and sector-trailer access tables (mifare_layout.h);
//   - key A always reads as zeros, key B reads as zeros unless readable;
//   - a key B that is readable cannot authenticate (63 00);
//   - block 0 (manufacturer block) is read-only (69 82);
//   - a trailer written with inconsistent access bits is stored as written
//     and the sector is lost for ever: every later authentication fails;
//   - 4K sectors 32-39 have 16 blocks.
// Status words: 90 00 ok; 63 00 authentication failed; 69 82 access denied
// or not authenticated; 69 86 no key in the slot; 6A 82 block outside the
// card; 6A 81 bad P1/P2 or data field; 67 00 wrong Lc/Le/length; 6D 00
// unknown INS; 6E 00 CLA other than FF.
//
// Thread-safe: every public method locks one internal mutex (a station and a
// simulated printer may share one card). The write observer runs under that
// lock and must not call back into the emulator.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/fault_plan.h"
#include "cardbureau/devices/mifare_layout.h"

namespace cardbureau::devices {

// Operation counters since construction (for tests and diagnostics).
struct EmulatorCounts {
  int apdus = 0;
  int authentications = 0;  // attempts
  int reads = 0;            // successful
  int writes = 0;           // acknowledged with 90 00 (including dropped ones)
};

class MifareClassicEmulator {
 public:
  static constexpr int kKeySlots = 32;

  // `image` must be 1024 (1K) or 4096 (4K) bytes, `uid` 4 or 7 bytes; throws
  // std::invalid_argument otherwise (use Create for untrusted input). The card
  // starts present (in the field).
  MifareClassicEmulator(Bytes image, Bytes uid, FaultPlan faults = {});
  // Same, with INVALID_FIELD instead of an exception.
  static Result<std::shared_ptr<MifareClassicEmulator>> Create(Bytes image, Bytes uid,
                                                               FaultPlan faults = {});

  MifareClassicEmulator(const MifareClassicEmulator&) = delete;
  MifareClassicEmulator& operator=(const MifareClassicEmulator&) = delete;

  // Answers one APDU with data ‖ SW1 SW2 (never empty). CARD_REMOVED when the
  // card is not in the field (removed, or pulled by the fault plan). Any byte
  // string is accepted (malformed ones get an error status word).
  Result<Bytes> Process(ByteView apdu);

  // Puts the card into the field (power-up: authentication state cleared).
  void Insert();
  // Takes the card out of the field.
  void Remove();
  bool present() const;
  // Power cycle without leaving the field: clears authentication, keeps key
  // slots (they belong to the reader).
  void Reset();

  Bytes Atr() const;
  Bytes Uid() const;
  CardSize size() const;
  // A copy of the whole memory image (.mfd layout).
  Bytes Image() const;

  void SetFaults(FaultPlan faults);  // also restarts the fault counters
  FaultPlan faults() const;
  EmulatorCounts counts() const;

  // Called after every stored write with the new image (e.g. to save it).
  void SetWriteObserver(std::function<void(const Bytes& image)> observer);

 private:
  Bytes ProcessLocked(ByteView apdu);
  Bytes GetUidLocked(ByteView apdu);
  Bytes LoadKeyLocked(ByteView apdu);
  Bytes AuthenticateLocked(ByteView apdu);
  Bytes ReadLocked(ByteView apdu);
  Bytes UpdateLocked(ByteView apdu);
  void DelayLocked(int micros) const;

  mutable std::mutex mu_;
  Bytes image_;
  Bytes uid_;
  CardSize size_;
  FaultPlan faults_;
  bool present_ = true;
  // Authentication state: sector and key type, or none.
  int auth_sector_ = -1;
  KeyType auth_key_ = KeyType::kA;
  std::array<std::optional<std::array<uint8_t, 6>>, kKeySlots> slots_{};
  EmulatorCounts counts_;
  int fault_apdus_ = 0, fault_auths_ = 0, fault_writes_ = 0;
  std::function<void(const Bytes&)> observer_;
};

}  // namespace cardbureau::devices
