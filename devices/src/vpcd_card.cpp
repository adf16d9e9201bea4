#include "cardbureau/devices/vpcd_card.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "cardbureau/core/unique_fd.h"
#include "cardbureau/devices/vpcd_protocol.h"

namespace cardbureau::devices {
namespace {

Status Errno(const std::string& what) {
  return Status(Code::kIoError, what + ": " + std::strerror(errno));
}

Result<UniqueFd> ConnectTcp(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return Status(Code::kIoError, "resolve " + host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(res, &freeaddrinfo);
  Status last(Code::kIoError, "no address for " + host);
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd.valid()) {
      last = Errno("socket");
      continue;
    }
    if (::connect(fd.handle(), ai->ai_addr, ai->ai_addrlen) == 0) {
      const int one = 1;
      ::setsockopt(fd.handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    last = Errno("connect " + host + ":" + service);
  }
  return last;
}

Status SendAll(int fd, ByteView data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("send to vpcd");
    }
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

VpcdCard::VpcdCard(std::shared_ptr<MifareClassicEmulator> card, VpcdOptions options)
    : card_(std::move(card)), options_(std::move(options)) {
  if (!card_) throw std::invalid_argument("VpcdCard needs a card");
  thread_ = std::thread([this] { Run(); });
}

VpcdCard::~VpcdCard() { Stop(); }

void VpcdCard::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool VpcdCard::WaitUntilConnected(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return connected_.load() || stop_.load(); }) &&
         connected_.load();
}

Status VpcdCard::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void VpcdCard::SetError(Status s) {
  std::lock_guard lock(mu_);
  last_error_ = std::move(s);
}

bool VpcdCard::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

void VpcdCard::Run() {
  constexpr auto kPoll = std::chrono::milliseconds(20);
  auto backoff = options_.min_backoff;
  UniqueFd fd;
  Bytes buffer;
  auto disconnect = [&] {
    (void)fd.Close();
    buffer.clear();
    {
      std::lock_guard lock(mu_);
      connected_ = false;
    }
    cv_.notify_all();
  };

  while (!stop_) {
    if (!card_->present()) {
      if (fd.valid()) disconnect();  // the card left the field
      SleepFor(kPoll);
      continue;
    }
    if (!fd.valid()) {
      auto conn = ConnectTcp(options_.host, options_.port);
      if (!conn.ok()) {
        SetError(conn.status());
        if (!SleepFor(backoff)) break;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      backoff = options_.min_backoff;
      fd = std::move(*conn);
      card_->Reset();  // a new insertion powers the card up afresh
      {
        std::lock_guard lock(mu_);
        connected_ = true;
      }
      ++connections_;
      cv_.notify_all();
    }

    pollfd p{fd.handle(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(kPoll.count()));
    if (ready < 0 && errno != EINTR) {
      SetError(Errno("poll"));
      disconnect();
      continue;
    }
    if (ready <= 0) continue;
    uint8_t chunk[4096];
    const ssize_t n = ::recv(fd.handle(), chunk, sizeof chunk, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      SetError(n == 0 ? Status(Code::kIoError, "vpcd closed the connection") : Errno("recv"));
      disconnect();  // vpcd went away (pcscd stopped): reconnect with backoff
      continue;
    }
    buffer.insert(buffer.end(), chunk, chunk + n);
    // vpcd writes the length and the APDU with separate send()s; acknowledge
    // at once so its Nagle algorithm does not hold the APDU for our delayed
    // ACK (40 ms per exchange otherwise). Linux resets QUICKACK, so re-arm.
    const int one = 1;
    ::setsockopt(fd.handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);

    while (fd.valid()) {
      auto frame = ParseVpcdFrame(buffer);
      if (!frame.ok()) {
        SetError(frame.status());
        disconnect();
        break;
      }
      if (!frame->has_value()) break;
      const VpcdFrame& f = **frame;
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<long>(f.consumed));

      Bytes reply;
      if (const auto* control = std::get_if<VpcdControl>(&f.message.body)) {
        if (*control != VpcdControl::kAtr) {
          card_->Reset();  // power off / on / reset: no answer
          continue;
        }
        reply = card_->Atr();
      } else {
        auto response = card_->Process(std::get<Bytes>(f.message.body));
        if (!response.ok()) {  // pulled in the middle: the reader sees it vanish
          disconnect();
          break;
        }
        reply = std::move(*response);
      }
      if (Status s = SendAll(fd.handle(), EncodeVpcdFrame(reply)); !s.ok()) {
        SetError(s);
        disconnect();
      }
    }
  }
  if (fd.valid()) disconnect();
}

}  // namespace cardbureau::devices
