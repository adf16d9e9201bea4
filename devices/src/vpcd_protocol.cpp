#include "cardbureau/devices/vpcd_protocol.h"

#include <algorithm>
#include <stdexcept>

namespace cardbureau::devices {

Result<std::optional<VpcdFrame>> ParseVpcdFrame(ByteView buffer) {
  if (buffer.size() < 2) return std::optional<VpcdFrame>();
  const size_t length = static_cast<size_t>(buffer[0] << 8 | buffer[1]);
  if (length == 0) return Status(Code::kProtocolError, "empty vpcd frame");
  if (buffer.size() < 2 + length) return std::optional<VpcdFrame>();
  VpcdFrame frame;
  frame.consumed = 2 + length;
  if (length == 1) {
    const uint8_t code = buffer[2];
    switch (code) {
      case 0x00:
      case 0x01:
      case 0x02:
      case 0x04:
        frame.message.body = static_cast<VpcdControl>(code);
        break;
      default:
        return Status(Code::kProtocolError,
                      "unknown vpcd control code " + ToHex(buffer.subspan(2, 1)));
    }
  } else {
    frame.message.body = Bytes(buffer.begin() + 2, buffer.begin() + 2 + static_cast<long>(length));
  }
  return std::optional<VpcdFrame>(std::move(frame));
}

Bytes EncodeVpcdFrame(ByteView payload) {
  if (payload.size() > 0xFFFF) throw std::length_error("vpcd frame over 65535 bytes");
  Bytes out(payload.size() + 2);
  out[0] = static_cast<uint8_t>(payload.size() >> 8);
  out[1] = static_cast<uint8_t>(payload.size() & 0xFF);
  std::copy(payload.begin(), payload.end(), out.begin() + 2);
  return out;
}

}  // namespace cardbureau::devices
