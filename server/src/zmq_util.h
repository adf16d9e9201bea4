// Small helpers over cppzmq shared by the bureau and the centre (private).
#pragma once

#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

namespace cardbureau::server::detail {

// Receives one whole multipart message without blocking; nullopt when none is
// waiting. Never throws for EAGAIN/EINTR; other errors propagate as
// zmq::error_t (a broken socket is a broken invariant).
inline std::optional<std::vector<std::string>> RecvFrames(zmq::socket_t& s) {
  std::vector<std::string> frames;
  zmq::message_t msg;
  auto r = s.recv(msg, zmq::recv_flags::dontwait);
  if (!r) return std::nullopt;
  frames.emplace_back(msg.to_string());
  while (msg.more()) {
    auto rr = s.recv(msg, zmq::recv_flags::none);
    if (!rr) break;
    frames.emplace_back(msg.to_string());
  }
  return frames;
}

// Sends frames; false when the message could not be queued (EAGAIN at the
// high-water mark, or an unroutable peer with ROUTER_MANDATORY).
inline bool SendFrames(zmq::socket_t& s, const std::vector<std::string>& frames) {
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      auto r = s.send(zmq::buffer(frames[i]), flags);
      if (!r) return false;
    }
    return true;
  } catch (const zmq::error_t&) {
    return false;  // EHOSTUNREACH and friends: the caller treats it as not sent
  }
}

}  // namespace cardbureau::server::detail
