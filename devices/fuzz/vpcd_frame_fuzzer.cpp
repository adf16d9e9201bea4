// libFuzzer target: the vpcd frame parser on arbitrary byte streams. It must
// never crash, hang or read out of bounds; every frame it returns must
// re-encode to the bytes it consumed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "cardbureau/devices/vpcd_protocol.h"

using cardbureau::Bytes;
using cardbureau::ByteView;
using namespace cardbureau::devices;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView rest(data, size);
  while (true) {
    auto frame = ParseVpcdFrame(rest);
    if (!frame.ok() || !frame->has_value()) break;
    const VpcdFrame& f = **frame;
    if (f.consumed < 3 || f.consumed > rest.size()) std::abort();
    Bytes payload;
    if (f.message.is_control()) {
      payload.push_back(static_cast<uint8_t>(std::get<VpcdControl>(f.message.body)));
    } else {
      payload = std::get<Bytes>(f.message.body);
      if (payload.size() < 2) std::abort();  // 1-byte frames are control codes
    }
    const Bytes wire = EncodeVpcdFrame(payload);
    if (wire.size() != f.consumed || !std::equal(wire.begin(), wire.end(), rest.begin())) {
      std::abort();
    }
    rest = rest.subspan(f.consumed);
  }
  return 0;
}
