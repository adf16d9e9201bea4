// Test harness: a Bureau or Centre running on a thread, and a raw ZeroMQ peer
// the test drives message by message.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "cardbureau/server/bureau.h"
#include "cardbureau/server/centre.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/server/messages.h"
#include "job_fixtures.h"

namespace cbtest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using cardbureau::server::Frames;
using cardbureau::server::Message;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cbsrv-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::vector<std::string> ReadLines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// A tcp://127.0.0.1:PORT endpoint that was free a moment ago. The probing
// context is destroyed (which waits for the listener to close) before return.
inline std::string FreeTcpEndpoint() {
  std::string ep;
  {
    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::rep);
    s.set(zmq::sockopt::linger, 0);
    s.bind("tcp://127.0.0.1:*");
    ep = s.get(zmq::sockopt::last_endpoint);
  }
  return ep;
}

// A raw socket standing in for the other side.
class RawPeer {
 public:
  // ROUTER bound to an ephemeral port (stands in for the centre).
  static std::unique_ptr<RawPeer> Router() {
    auto p = std::unique_ptr<RawPeer>(new RawPeer(zmq::socket_type::router));
    p->sock_.set(zmq::sockopt::router_handover, 1);
    p->sock_.bind("tcp://127.0.0.1:*");
    p->endpoint_ = p->sock_.get(zmq::sockopt::last_endpoint);
    return p;
  }
  // DEALER connected to `endpoint` (stands in for a bureau).
  static std::unique_ptr<RawPeer> Dealer(const std::string& endpoint, const std::string& id) {
    auto p = std::unique_ptr<RawPeer>(new RawPeer(zmq::socket_type::dealer));
    p->sock_.set(zmq::sockopt::routing_id, id);
    p->sock_.connect(endpoint);
    p->endpoint_ = endpoint;
    return p;
  }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& last_peer() const { return last_peer_; }

  // Raw frames (without the routing frame) or nullopt on timeout.
  std::optional<Frames> RecvFrames(std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
    Frames frames;
    zmq::message_t msg;
    do {
      (void)sock_.recv(msg);
      frames.push_back(msg.to_string());
    } while (msg.more());
    if (router_) {
      last_peer_ = frames.front();
      frames.erase(frames.begin());
    }
    return frames;
  }

  // Next decoded message; skips heartbeats and progress unless asked for.
  std::optional<Message> Recv(std::chrono::milliseconds timeout = 3s, bool skip_noise = true) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto frames = RecvFrames(left);
      if (!frames) return std::nullopt;
      auto from =
          router_ ? cardbureau::server::Sender::kBureau : cardbureau::server::Sender::kCentre;
      auto m = cardbureau::server::Decode(*frames, from);
      EXPECT_TRUE(m.ok()) << m.status() << " frame0=" << (*frames)[0];
      if (!m.ok()) continue;
      if (skip_noise && (std::holds_alternative<cardbureau::server::Heartbeat>(*m) ||
                         std::holds_alternative<cardbureau::server::Progress>(*m))) {
        continue;
      }
      return *m;
    }
  }

  // Next message of type T (others are collected in `skipped`).
  template <typename T>
  std::optional<T> Expect(std::chrono::milliseconds timeout = 5s,
                          std::vector<Message>* skipped = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto m = Recv(left);
      if (!m) return std::nullopt;
      if (auto* t = std::get_if<T>(&*m)) return *t;
      if (skipped) skipped->push_back(*m);
    }
  }

  void SendFrames(const Frames& frames, const std::string& to = {}) {
    Frames all;
    if (router_) all.push_back(to.empty() ? last_peer_ : to);
    all.insert(all.end(), frames.begin(), frames.end());
    for (size_t i = 0; i < all.size(); ++i) {
      sock_.send(zmq::buffer(all[i]),
                 i + 1 < all.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  void Send(const Message& m, const std::string& to = {}) {
    SendFrames(cardbureau::server::Encode(m), to);
  }

 private:
  explicit RawPeer(zmq::socket_type t)
      : ctx_(1), sock_(ctx_, t), router_(t == zmq::socket_type::router) {
    sock_.set(zmq::sockopt::linger, 0);
  }
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  bool router_;
  std::string endpoint_;
  std::string last_peer_;
};

// Writes n valid jobs (+ photos) as a centre jobs file. Photos are named by
// "photo_file" for even jobs and by sha256 for odd ones (both documented).
inline void WriteJobsFile(const fs::path& dir, int n, size_t photo_size = 2000,
                          const std::string& prefix = "RJ") {
  fs::create_directories(dir / "photos");
  std::ofstream out(dir / "jobs.jsonl");
  for (int i = 0; i < n; ++i) {
    auto photo = FakeJpeg(photo_size, static_cast<uint32_t>(i + 1));
    char id[64];
    std::snprintf(id, sizeof id, "%s-%06d", prefix.c_str(), i);
    auto j = ValidJobJson(id, photo);
    std::string name = cardbureau::Sha256Hex(photo);
    if (i % 2 == 0) {
      name = std::string(id) + ".jpg";
      j["photo_file"] = name;
    }
    std::ofstream(dir / "photos" / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(photo.data()),
               static_cast<std::streamsize>(photo.size()));
    out << j.dump() << "\n";
  }
}

}  // namespace cbtest
