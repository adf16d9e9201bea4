#include "cardbureau/devices/pcsc.h"

#include <pcsclite.h>

#include <algorithm>
#include <array>
#include <thread>
#include <utility>

namespace cardbureau::devices {
namespace {

struct PcscEntry {
  LONG rv;
  Code code;
};

// The one PC/SC return-code table (see pcsc.h).
const std::array kPcscTable = {
    PcscEntry{SCARD_W_REMOVED_CARD, Code::kCardRemoved},
    PcscEntry{SCARD_E_NO_SMARTCARD, Code::kCardRemoved},
    PcscEntry{SCARD_W_RESET_CARD, Code::kCardRemoved},
    PcscEntry{SCARD_E_NO_SERVICE, Code::kReaderUnavailable},
    PcscEntry{SCARD_F_COMM_ERROR, Code::kReaderUnavailable},
    PcscEntry{SCARD_E_SERVICE_STOPPED, Code::kReaderUnavailable},
    PcscEntry{SCARD_E_INVALID_HANDLE, Code::kReaderUnavailable},
    PcscEntry{SCARD_E_NO_READERS_AVAILABLE, Code::kReaderUnavailable},
    PcscEntry{SCARD_E_READER_UNAVAILABLE, Code::kReaderUnavailable},
    PcscEntry{SCARD_E_UNKNOWN_READER, Code::kReaderUnavailable},
    PcscEntry{SCARD_W_UNRESPONSIVE_CARD, Code::kCardError},
    PcscEntry{SCARD_W_UNPOWERED_CARD, Code::kCardError},
    PcscEntry{SCARD_W_UNSUPPORTED_CARD, Code::kCardError},
    PcscEntry{SCARD_E_CARD_UNSUPPORTED, Code::kCardError},
    PcscEntry{SCARD_E_TIMEOUT, Code::kCardTimeout},
    PcscEntry{SCARD_E_CANCELLED, Code::kCancelled},
};

constexpr char kPnpReader[] = "\\\\?PnP?\\Notification";
constexpr auto kMaxWaitChunk = std::chrono::milliseconds(1000);

bool CardPresent(DWORD state) {
  return (state & SCARD_STATE_PRESENT) != 0 && (state & SCARD_STATE_MUTE) == 0;
}

}  // namespace

Status PcscStatus(LONG rv, std::string_view operation) {
  if (rv == SCARD_S_SUCCESS) return Status::Ok();
  Code code = Code::kReaderError;
  for (const auto& e : kPcscTable) {
    if (e.rv == rv) {
      code = e.code;
      break;
    }
  }
  return Status(code, std::string(operation) + ": " + pcsc_stringify_error(rv));
}

bool PcscServiceLost(LONG rv) {
  return rv == SCARD_E_NO_SERVICE || rv == SCARD_F_COMM_ERROR || rv == SCARD_E_SERVICE_STOPPED ||
         rv == SCARD_E_INVALID_HANDLE;
}

// ---- PcscContext

Result<PcscContext> PcscContext::Establish() {
  PcscContext c;
  const LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &c.ctx_);
  if (rv != SCARD_S_SUCCESS) {
    Status s = PcscStatus(rv, "SCardEstablishContext");
    if (s.code() == Code::kReaderError) s = Status(Code::kReaderUnavailable, s.message());
    return s;
  }
  c.valid_ = true;
  return c;
}

PcscContext::PcscContext(PcscContext&& other) noexcept
    : ctx_(std::exchange(other.ctx_, 0)), valid_(std::exchange(other.valid_, false)) {}

PcscContext& PcscContext::operator=(PcscContext&& other) noexcept {
  if (this != &other) {
    close();
    ctx_ = std::exchange(other.ctx_, 0);
    valid_ = std::exchange(other.valid_, false);
  }
  return *this;
}

void PcscContext::close() {
  if (valid_) {
    SCardReleaseContext(ctx_);
    valid_ = false;
    ctx_ = 0;
  }
}

Result<std::vector<std::string>> PcscContext::ListReaders() const {
  std::vector<std::string> names;
  if (!valid_) return Status(Code::kReaderUnavailable, "no PC/SC context");
  DWORD len = 0;
  LONG rv = SCardListReaders(ctx_, nullptr, nullptr, &len);
  if (rv == SCARD_E_NO_READERS_AVAILABLE) return names;
  if (rv != SCARD_S_SUCCESS) return PcscStatus(rv, "SCardListReaders");
  std::string multi(len, '\0');
  rv = SCardListReaders(ctx_, nullptr, multi.data(), &len);
  if (rv == SCARD_E_NO_READERS_AVAILABLE) return names;
  if (rv != SCARD_S_SUCCESS) return PcscStatus(rv, "SCardListReaders");
  multi.resize(std::min<size_t>(len, multi.size()));
  for (size_t pos = 0; pos < multi.size() && multi[pos] != '\0';) {
    const size_t end = multi.find('\0', pos);
    names.push_back(multi.substr(pos, end - pos));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return names;
}

Status PcscContext::Cancel() const {
  if (!valid_) return Status::Ok();
  return PcscStatus(SCardCancel(ctx_), "SCardCancel");
}

// ---- PcscCardHandle

Result<PcscCardHandle> PcscCardHandle::Connect(const PcscContext& context,
                                               const std::string& reader, ShareMode mode) {
  if (!context.valid()) return Status(Code::kReaderUnavailable, "no PC/SC context");
  PcscCardHandle h;
  const DWORD share = mode == ShareMode::kExclusive ? SCARD_SHARE_EXCLUSIVE : SCARD_SHARE_SHARED;
  const LONG rv = SCardConnect(context.handle(), reader.c_str(), share,
                               SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h.handle_, &h.protocol_);
  if (rv != SCARD_S_SUCCESS) return PcscStatus(rv, "SCardConnect " + reader);
  h.valid_ = true;
  return h;
}

PcscCardHandle::PcscCardHandle(PcscCardHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, 0)),
      protocol_(std::exchange(other.protocol_, 0)),
      valid_(std::exchange(other.valid_, false)) {}

PcscCardHandle& PcscCardHandle::operator=(PcscCardHandle&& other) noexcept {
  if (this != &other) {
    close();
    handle_ = std::exchange(other.handle_, 0);
    protocol_ = std::exchange(other.protocol_, 0);
    valid_ = std::exchange(other.valid_, false);
  }
  return *this;
}

void PcscCardHandle::close() {
  if (valid_) {
    SCardDisconnect(handle_, SCARD_LEAVE_CARD);
    valid_ = false;
    handle_ = 0;
  }
}

Result<Bytes> PcscCardHandle::Transmit(ByteView apdu) const {
  if (!valid_) return Status(Code::kReaderUnavailable, "card handle is closed");
  const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0   ? SCARD_PCI_T0
                                : protocol_ == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1
                                                                 : SCARD_PCI_RAW;
  Bytes response(MAX_BUFFER_SIZE_EXTENDED);
  DWORD len = static_cast<DWORD>(response.size());
  const LONG rv = SCardTransmit(handle_, pci, apdu.data(), static_cast<DWORD>(apdu.size()), nullptr,
                                response.data(), &len);
  if (rv != SCARD_S_SUCCESS) return PcscStatus(rv, "SCardTransmit");
  response.resize(len);
  return response;
}

Result<Bytes> PcscCardHandle::Atr() const {
  if (!valid_) return Status(Code::kReaderUnavailable, "card handle is closed");
  char name[256];
  DWORD name_len = sizeof name, state = 0, proto = 0;
  BYTE atr[MAX_ATR_SIZE];
  DWORD atr_len = sizeof atr;
  const LONG rv = SCardStatus(handle_, name, &name_len, &state, &proto, atr, &atr_len);
  if (rv != SCARD_S_SUCCESS) return PcscStatus(rv, "SCardStatus");
  return Bytes(atr, atr + atr_len);
}

// ---- PcscTransaction

Result<PcscTransaction> PcscTransaction::Begin(const PcscCardHandle& card) {
  if (!card.valid()) return Status(Code::kReaderUnavailable, "card handle is closed");
  const LONG rv = SCardBeginTransaction(card.handle());
  if (rv != SCARD_S_SUCCESS) return PcscStatus(rv, "SCardBeginTransaction");
  PcscTransaction t;
  t.handle_ = card.handle();
  t.active_ = true;
  return t;
}

PcscTransaction::PcscTransaction(PcscTransaction&& other) noexcept
    : handle_(std::exchange(other.handle_, 0)), active_(std::exchange(other.active_, false)) {}

PcscTransaction& PcscTransaction::operator=(PcscTransaction&& other) noexcept {
  if (this != &other) {
    (void)End();
    handle_ = std::exchange(other.handle_, 0);
    active_ = std::exchange(other.active_, false);
  }
  return *this;
}

Status PcscTransaction::End() {
  if (!active_) return Status::Ok();
  active_ = false;
  return PcscStatus(SCardEndTransaction(handle_, SCARD_LEAVE_CARD), "SCardEndTransaction");
}

// ---- PcscChannel

PcscChannel::PcscChannel(PcscContext context, PcscCardHandle card, std::string reader, Bytes atr)
    : context_(std::move(context)),
      card_(std::move(card)),
      reader_(std::move(reader)),
      atr_(std::move(atr)) {}

Result<std::unique_ptr<PcscChannel>> PcscChannel::Open(const std::string& reader, ShareMode mode) {
  CB_ASSIGN_OR_RETURN(PcscContext context, PcscContext::Establish());
  CB_ASSIGN_OR_RETURN(PcscCardHandle card, PcscCardHandle::Connect(context, reader, mode));
  CB_ASSIGN_OR_RETURN(Bytes atr, card.Atr());
  return std::unique_ptr<PcscChannel>(
      new PcscChannel(std::move(context), std::move(card), reader, std::move(atr)));
}

Result<Bytes> PcscChannel::Transmit(ByteView apdu) {
  auto response = card_.Transmit(apdu);
  if (response.ok() && response->size() >= 2) return response;
  if (!response.ok() && (response.status().code() == Code::kCardRemoved ||
                         response.status().code() == Code::kReaderUnavailable)) {
    return response;
  }
  // A contactless card that leaves the field mid-exchange shows up as a
  // failed transaction, or (vpcd) as an empty answer, first and as an empty
  // reader a moment later (pcscd polls presence). Tell them apart before
  // reporting.
  if (CardLeftField(std::chrono::milliseconds(1500))) {
    return Status(Code::kCardRemoved,
                  (response.ok() ? std::string("empty response") : response.status().message()) +
                      " (card left the field)");
  }
  return response;  // an answer without status word: ParseResponse says PROTOCOL_ERROR
}

bool PcscChannel::CardLeftField(std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  SCARD_READERSTATE st{};
  st.szReader = reader_.c_str();
  st.dwCurrentState = SCARD_STATE_UNAWARE;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const LONG rv = SCardGetStatusChange(
        context_.handle(), static_cast<DWORD>(std::max<long>(left.count(), 0)), &st, 1);
    if (rv == SCARD_S_SUCCESS) {
      if (!CardPresent(st.dwEventState)) return true;
      st.dwCurrentState = st.dwEventState;
    } else if (rv != SCARD_E_TIMEOUT) {
      return false;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

// ---- PcscReaders

std::string_view ReaderEventKindName(ReaderEventKind kind) {
  switch (kind) {
    case ReaderEventKind::kReaderAdded:
      return "reader-added";
    case ReaderEventKind::kReaderRemoved:
      return "reader-removed";
    case ReaderEventKind::kCardInserted:
      return "card-inserted";
    case ReaderEventKind::kCardRemoved:
      return "card-removed";
    case ReaderEventKind::kServiceLost:
      return "pcscd-lost";
    case ReaderEventKind::kServiceRestored:
      return "pcscd-restored";
  }
  return "unknown";
}

PcscReaders::PcscReaders(Backoff backoff) : backoff_(backoff) {}

void PcscReaders::Cancel() {
  cancelled_ = true;
  if (live_valid_) SCardCancel(live_ctx_.load());
}

Status PcscReaders::EnsureContext() {
  if (ctx_.valid()) return Status::Ok();
  CB_ASSIGN_OR_RETURN(ctx_, PcscContext::Establish());
  live_ctx_ = ctx_.handle();
  live_valid_ = true;
  return Status::Ok();
}

void PcscReaders::LoseService() {
  live_valid_ = false;
  ctx_.close();
  if (!service_lost_ && have_baseline_) {
    service_lost_ = true;
    pending_.push_back({ReaderEventKind::kServiceLost, "", {}});
  }
  service_lost_ = true;
}

Status PcscReaders::Refresh(bool emit_events) {
  CB_ASSIGN_OR_RETURN(std::vector<std::string> names, ctx_.ListReaders());
  std::vector<SCARD_READERSTATE> states(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    states[i] = {};
    states[i].szReader = names[i].c_str();
    states[i].dwCurrentState = SCARD_STATE_UNAWARE;
  }
  if (!states.empty()) {
    const LONG rv =
        SCardGetStatusChange(ctx_.handle(), 0, states.data(), static_cast<DWORD>(states.size()));
    if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
      return PcscStatus(rv, "SCardGetStatusChange");
    }
  }
  std::map<std::string, Known> now;
  for (size_t i = 0; i < names.size(); ++i) {
    Known k;
    k.event_state = states[i].dwEventState;
    k.present = CardPresent(states[i].dwEventState);
    if (k.present) k.atr.assign(states[i].rgbAtr, states[i].rgbAtr + states[i].cbAtr);
    now.emplace(names[i], std::move(k));
  }
  if (emit_events) {
    for (const auto& [name, old] : known_) {
      auto it = now.find(name);
      const bool card_gone =
          old.present && (it == now.end() || !it->second.present || it->second.atr != old.atr);
      if (card_gone) pending_.push_back({ReaderEventKind::kCardRemoved, name, {}});
      if (it == now.end()) pending_.push_back({ReaderEventKind::kReaderRemoved, name, {}});
    }
    for (const auto& [name, k] : now) {
      auto it = known_.find(name);
      if (it == known_.end()) pending_.push_back({ReaderEventKind::kReaderAdded, name, {}});
      const bool card_new =
          k.present && (it == known_.end() || !it->second.present || it->second.atr != k.atr);
      if (card_new) pending_.push_back({ReaderEventKind::kCardInserted, name, k.atr});
    }
  }
  known_ = std::move(now);
  return Status::Ok();
}

Result<std::vector<ReaderInfo>> PcscReaders::List() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    CB_RETURN_IF_ERROR(EnsureContext());
    Status s = Refresh(/*emit_events=*/have_baseline_);
    if (s.ok()) {
      have_baseline_ = true;
      std::vector<ReaderInfo> out;
      for (const auto& [name, k] : known_) {
        out.push_back({name, k.present,
                       (k.event_state & (SCARD_STATE_INUSE | SCARD_STATE_EXCLUSIVE)) != 0, k.atr});
      }
      return out;
    }
    if (s.code() != Code::kReaderUnavailable) return s;
    LoseService();  // stale context after a pcscd restart: try once more
  }
  return Status(Code::kReaderUnavailable, "pcscd is not reachable");
}

Result<std::optional<ReaderEvent>> PcscReaders::WaitForEvent(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  using std::chrono::milliseconds;
  const auto deadline = Clock::now() + timeout;
  auto remaining = [&deadline] {
    return std::max(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()),
                    milliseconds(0));
  };
  auto backoff = backoff_.initial;
  while (true) {
    if (!pending_.empty()) {
      ReaderEvent e = std::move(pending_.front());
      pending_.pop_front();
      return std::optional<ReaderEvent>(std::move(e));
    }
    if (cancelled_.exchange(false)) return Status(Code::kCancelled, "reader wait cancelled");

    if (!ctx_.valid()) {
      if (!EnsureContext().ok()) {
        LoseService();
        if (!pending_.empty()) continue;  // report the loss first
        if (remaining() == milliseconds(0)) {
          return Status(Code::kReaderUnavailable, "pcscd is not reachable");
        }
        std::this_thread::sleep_for(std::min(backoff, remaining()));
        backoff = std::min(backoff * 2, backoff_.max);
        continue;
      }
      backoff = backoff_.initial;
      if (service_lost_) {
        service_lost_ = false;
        if (have_baseline_) pending_.push_back({ReaderEventKind::kServiceRestored, "", {}});
      }
    }
    if (Status s = Refresh(have_baseline_); !s.ok()) {
      if (s.code() != Code::kReaderUnavailable) return s;
      LoseService();
      continue;
    }
    have_baseline_ = true;
    if (!pending_.empty()) continue;
    if (remaining() == milliseconds(0)) return std::optional<ReaderEvent>();

    // Block until something changes, one chunk at a time so that a lost
    // service and Cancel() are noticed; Refresh() then finds what changed.
    std::vector<SCARD_READERSTATE> states;
    states.reserve(known_.size() + 1);
    for (const auto& [name, k] : known_) {
      SCARD_READERSTATE st{};
      st.szReader = name.c_str();
      st.dwCurrentState = k.event_state;
      states.push_back(st);
    }
    SCARD_READERSTATE pnp{};
    pnp.szReader = kPnpReader;
    pnp.dwCurrentState = static_cast<DWORD>(known_.size() << 16);
    states.push_back(pnp);
    const auto chunk = std::min(remaining(), kMaxWaitChunk);
    const LONG rv = SCardGetStatusChange(ctx_.handle(), static_cast<DWORD>(chunk.count()),
                                         states.data(), static_cast<DWORD>(states.size()));
    if (rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT || rv == SCARD_E_CANCELLED) continue;
    if (PcscServiceLost(rv)) {
      LoseService();
      continue;
    }
    if (rv == SCARD_E_UNKNOWN_READER || rv == SCARD_E_READER_UNAVAILABLE) continue;
    return PcscStatus(rv, "SCardGetStatusChange");
  }
}

Result<std::optional<Bytes>> PcscReaders::WaitForCard(const std::string& reader,
                                                      std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  if (EnsureContext().ok() && Refresh(have_baseline_).ok()) {
    have_baseline_ = true;
    auto it = known_.find(reader);
    if (it != known_.end() && it->second.present) return std::optional<Bytes>(it->second.atr);
  }
  while (true) {
    const auto remaining =
        std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                 std::chrono::milliseconds(0));
    CB_ASSIGN_OR_RETURN(std::optional<ReaderEvent> event, WaitForEvent(remaining));
    if (!event) return std::optional<Bytes>();
    if (event->kind == ReaderEventKind::kCardInserted && event->reader == reader) {
      return std::optional<Bytes>(event->atr);
    }
  }
}

Result<std::optional<std::unique_ptr<PcscChannel>>> PcscReaders::WaitAndConnect(
    const std::string& reader, std::chrono::milliseconds timeout, ShareMode mode) {
  using Clock = std::chrono::steady_clock;
  using Out = std::optional<std::unique_ptr<PcscChannel>>;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const auto remaining =
        std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                 std::chrono::milliseconds(0));
    CB_ASSIGN_OR_RETURN(std::optional<Bytes> atr, WaitForCard(reader, remaining));
    if (!atr) return Out();
    auto channel = Connect(reader, mode);
    if (channel.ok()) return Out(std::move(*channel));
    if (channel.status().code() != Code::kCardRemoved) return channel.status();
    if (Clock::now() >= deadline) return Out();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // it came and went
  }
}

Result<std::unique_ptr<PcscChannel>> PcscReaders::Connect(const std::string& reader,
                                                          ShareMode mode) {
  return PcscChannel::Open(reader, mode);
}

}  // namespace cardbureau::devices
