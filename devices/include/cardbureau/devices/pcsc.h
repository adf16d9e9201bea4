// PC/SC access through pcsc-lite: RAII owners for the context and the card
// handle, a transaction guard, a CardChannel over a connected card, and
// PcscReaders (list, watch, wait for a card, connect) that survives pcscd
// going away and coming back.
//
// pcsc-lite rule kept here: one SCARDCONTEXT is used by one thread at a time
// (SCardCancel excepted). Every PcscChannel owns its own context, so a
// channel and the PcscReaders that made it may live on different threads.
#pragma once

#include <winscard.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"

namespace cardbureau::devices {

// The one table mapping PC/SC return codes to catalogue codes:
//   SCARD_S_SUCCESS                                   -> OK
//   SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD,
//   SCARD_W_RESET_CARD                                -> CARD_REMOVED
//   SCARD_E_NO_SERVICE, SCARD_F_COMM_ERROR, SCARD_E_SERVICE_STOPPED,
//   SCARD_E_INVALID_HANDLE, SCARD_E_NO_READERS_AVAILABLE,
//   SCARD_E_READER_UNAVAILABLE, SCARD_E_UNKNOWN_READER -> READER_UNAVAILABLE
//   SCARD_W_UNRESPONSIVE_CARD, SCARD_W_UNPOWERED_CARD,
//   SCARD_W_UNSUPPORTED_CARD, SCARD_E_CARD_UNSUPPORTED -> CARD_ERROR
//   SCARD_E_TIMEOUT                                   -> CARD_TIMEOUT
//   SCARD_E_CANCELLED                                 -> CANCELLED
//   anything else (SHARING_VIOLATION, PROTO_MISMATCH, ...) -> READER_ERROR
// The message names `operation` and pcsc-lite's text for the code.
Status PcscStatus(LONG rv, std::string_view operation);
// True for the codes that mean "pcscd is gone or restarted; re-establish the
// context" (NO_SERVICE, COMM_ERROR, SERVICE_STOPPED, INVALID_HANDLE).
bool PcscServiceLost(LONG rv);

// Move-only owner of an SCARDCONTEXT. Not thread-safe except Cancel().
class PcscContext {
 public:
  PcscContext() = default;  // holds nothing
  // SCardEstablishContext(SCARD_SCOPE_SYSTEM). READER_UNAVAILABLE when pcscd
  // is not running.
  static Result<PcscContext> Establish();
  ~PcscContext() { close(); }
  PcscContext(PcscContext&& other) noexcept;
  PcscContext& operator=(PcscContext&& other) noexcept;
  PcscContext(const PcscContext&) = delete;
  PcscContext& operator=(const PcscContext&) = delete;

  bool valid() const { return valid_; }
  SCARDCONTEXT handle() const { return ctx_; }
  // SCardReleaseContext; idempotent.
  void close();

  // Reader names; empty when pcscd runs but has no reader.
  // READER_UNAVAILABLE when pcscd went away, READER_ERROR otherwise.
  Result<std::vector<std::string>> ListReaders() const;
  // Wakes a blocked SCardGetStatusChange on this context (any thread).
  Status Cancel() const;

 private:
  SCARDCONTEXT ctx_ = 0;
  bool valid_ = false;
};

enum class ShareMode { kExclusive, kShared };

// Move-only owner of an SCARDHANDLE (a connected card). Must not outlive the
// context it was connected with. Not thread-safe.
class PcscCardHandle {
 public:
  PcscCardHandle() = default;
  // SCardConnect with T=0|T=1. CARD_REMOVED when no card is in the reader,
  // READER_UNAVAILABLE for an unknown reader or a lost pcscd, READER_ERROR
  // for a sharing violation (another application holds the card).
  static Result<PcscCardHandle> Connect(const PcscContext& context, const std::string& reader,
                                        ShareMode mode);
  ~PcscCardHandle() { close(); }
  PcscCardHandle(PcscCardHandle&& other) noexcept;
  PcscCardHandle& operator=(PcscCardHandle&& other) noexcept;
  PcscCardHandle(const PcscCardHandle&) = delete;
  PcscCardHandle& operator=(const PcscCardHandle&) = delete;

  bool valid() const { return valid_; }
  SCARDHANDLE handle() const { return handle_; }
  DWORD protocol() const { return protocol_; }
  // SCardDisconnect(SCARD_LEAVE_CARD); idempotent.
  void close();

  // SCardTransmit; the raw response including SW1 SW2. Errors per PcscStatus.
  Result<Bytes> Transmit(ByteView apdu) const;
  // SCardStatus: the card's ATR.
  Result<Bytes> Atr() const;

 private:
  SCARDHANDLE handle_ = 0;
  DWORD protocol_ = 0;
  bool valid_ = false;
};

// Scoped SCardBeginTransaction / SCardEndTransaction(SCARD_LEAVE_CARD).
// Move-only; must not outlive the card handle.
class PcscTransaction {
 public:
  static Result<PcscTransaction> Begin(const PcscCardHandle& card);
  PcscTransaction() = default;
  ~PcscTransaction() { (void)End(); }
  PcscTransaction(PcscTransaction&& other) noexcept;
  PcscTransaction& operator=(PcscTransaction&& other) noexcept;
  PcscTransaction(const PcscTransaction&) = delete;
  PcscTransaction& operator=(const PcscTransaction&) = delete;
  bool active() const { return active_; }
  // Ends the transaction now; idempotent (OK when not active).
  Status End();

 private:
  SCARDHANDLE handle_ = 0;
  bool active_ = false;
};

// A card connected through pcscd. Owns its own context and card handle.
// Not thread-safe (CardChannel contract). After pcscd restarts, Transmit
// returns READER_UNAVAILABLE for good: connect again through PcscReaders.
// A failed exchange, or an answer without status word, after which the
// reader turns empty (checked for up to 1.5 s) is reported as CARD_REMOVED:
// that is how a pulled contactless card looks (vpcd turns the card's
// disconnect into an empty answer).
class PcscChannel : public CardChannel {
 public:
  // Connects to the card in `reader` with a fresh context. Errors as
  // PcscContext::Establish and PcscCardHandle::Connect.
  static Result<std::unique_ptr<PcscChannel>> Open(const std::string& reader,
                                                   ShareMode mode = ShareMode::kExclusive);

  Result<Bytes> Transmit(ByteView apdu) override;
  Bytes Atr() const override { return atr_; }
  const std::string& reader() const { return reader_; }
  Result<PcscTransaction> BeginTransaction() { return PcscTransaction::Begin(card_); }

 private:
  PcscChannel(PcscContext context, PcscCardHandle card, std::string reader, Bytes atr);
  // After a failed exchange: true when the reader reports no card within
  // `within` (the card was pulled).
  bool CardLeftField(std::chrono::milliseconds within);

  PcscContext context_;  // declared first: destroyed after the card handle
  PcscCardHandle card_;
  std::string reader_;
  Bytes atr_;
};

struct ReaderInfo {
  std::string name;
  bool card_present = false;
  bool in_use = false;  // another connection holds the card (shared or exclusive)
  Bytes atr;            // empty when no card
};

enum class ReaderEventKind {
  kReaderAdded,
  kReaderRemoved,
  kCardInserted,  // atr set
  kCardRemoved,
  kServiceLost,      // pcscd went away (reader empty)
  kServiceRestored,  // pcscd is back; reader/card events follow
};
std::string_view ReaderEventKindName(ReaderEventKind kind);  // "card-inserted", ...

struct ReaderEvent {
  ReaderEventKind kind;
  std::string reader;
  Bytes atr;
};

struct Backoff {
  std::chrono::milliseconds initial{50};
  std::chrono::milliseconds max{1000};
};

// Watches the readers of the local pcscd and connects to cards. Re-establishes
// its context (with exponential backoff) whenever pcscd goes away and comes
// back. Not thread-safe, except Cancel().
class PcscReaders {
 public:
  explicit PcscReaders(Backoff backoff = {});
  PcscReaders(const PcscReaders&) = delete;
  PcscReaders& operator=(const PcscReaders&) = delete;

  // Current readers and their cards. READER_UNAVAILABLE when pcscd is not
  // running (one re-establish is attempted first).
  Result<std::vector<ReaderInfo>> List();

  // The next change since the previous call (the first call takes a baseline
  // and reports only later changes): readers added/removed (via
  // \\?PnP?\Notification), cards inserted/removed, pcscd lost/restored.
  // nullopt when nothing happened within `timeout`. READER_UNAVAILABLE when
  // pcscd is still unreachable at the deadline; CANCELLED after Cancel().
  Result<std::optional<ReaderEvent>> WaitForEvent(std::chrono::milliseconds timeout);

  // Waits until a card is in `reader` and returns its ATR; returns at once if
  // one is there already. nullopt ("no card yet") on time-out. Errors as
  // WaitForEvent.
  Result<std::optional<Bytes>> WaitForCard(const std::string& reader,
                                           std::chrono::milliseconds timeout);

  // Connects to the card in `reader` (exclusive by default: nobody else may
  // talk to the card while it is being encoded).
  Result<std::unique_ptr<PcscChannel>> Connect(const std::string& reader,
                                               ShareMode mode = ShareMode::kExclusive);

  // WaitForCard + Connect: nullopt ("no card yet") on time-out; a card that
  // leaves between the two is waited for again. Errors as WaitForCard and
  // Connect (READER_ERROR when another application holds the card).
  Result<std::optional<std::unique_ptr<PcscChannel>>> WaitAndConnect(
      const std::string& reader, std::chrono::milliseconds timeout,
      ShareMode mode = ShareMode::kExclusive);

  // Makes a blocked WaitForEvent/WaitForCard return CANCELLED. Any thread.
  void Cancel();

 private:
  struct Known {
    DWORD event_state = 0;
    bool present = false;
    Bytes atr;
  };
  Status EnsureContext();
  // Snapshot of all readers; queues the differences to the previous one.
  Status Refresh(bool emit_events);
  void LoseService();

  Backoff backoff_;
  PcscContext ctx_;
  std::atomic<SCARDCONTEXT> live_ctx_{0};
  std::atomic<bool> live_valid_{false};
  std::atomic<bool> cancelled_{false};
  std::map<std::string, Known> known_;
  bool have_baseline_ = false;
  bool service_lost_ = false;
  std::deque<ReaderEvent> pending_;
};

}  // namespace cardbureau::devices
