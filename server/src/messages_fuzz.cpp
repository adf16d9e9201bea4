// libFuzzer target: the protocol v1 message decoder, both directions.
// Input: frames separated by the byte 0x00 0xFF (so multi-frame messages,
// e.g. a job with its photo, are reachable).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cardbureau/server/messages.h"

using cardbureau::server::Frames;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Frames frames;
  size_t start = 0;
  for (;;) {
    size_t sep = in.find(std::string_view("\x00\xff", 2), start);
    if (sep == std::string_view::npos) {
      frames.emplace_back(in.substr(start));
      break;
    }
    frames.emplace_back(in.substr(start, sep - start));
    start = sep + 2;
  }
  for (auto from : {cardbureau::server::Sender::kBureau, cardbureau::server::Sender::kCentre}) {
    auto m = cardbureau::server::Decode(frames, from);
    if (m.ok()) {
      // Round trip: what we encode must decode to the same type.
      auto again = cardbureau::server::Decode(cardbureau::server::Encode(*m), from);
      if (!again.ok() || again->index() != m->index()) __builtin_trap();
    } else {
      (void)cardbureau::server::MakeError(m.status(), frames);
    }
  }
  return 0;
}
