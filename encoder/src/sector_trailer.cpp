#include "cardbureau/encoder/sector_trailer.h"

#include <algorithm>

namespace cardbureau::encoder {

devices::AccessConditions StudentAccessConditions() {
  return devices::AccessConditions{{0b100, 0b100, 0b100, 0b011}};
}

devices::AccessConditions TransportAccessConditions() {
  return devices::AccessConditions{{0b000, 0b000, 0b000, 0b001}};
}

Result<SectorTrailer> SectorTrailer::Build(const MifareKey& key_a,
                                           const devices::AccessConditions& ac, uint8_t gpb,
                                           const MifareKey& key_b) {
  auto refuse = [](std::string msg) {
    return Status(Code::kInvalidField, std::move(msg), "trailer.access");
  };
  for (uint8_t c : ac.c) {
    if (c > 7) return refuse("access condition out of range");
  }
  const uint8_t trailer_cond = ac.c[3];
  if (devices::KeyBReadable(trailer_cond)) {
    return refuse("trailer condition makes key B readable (key B would not be a key)");
  }
  using devices::TrailerField;
  using devices::TrailerOp;
  if (devices::TrailerAccess(trailer_cond, TrailerField::kAccessBits, TrailerOp::kWrite) ==
      devices::KeyMask::kNever) {
    return refuse("trailer condition freezes the access bits for ever");
  }

  SectorTrailer t;
  const std::array<uint8_t, 3> access = devices::EncodeAccessBits(ac);
  std::copy(key_a.view().begin(), key_a.view().end(), t.bytes_.begin());
  std::copy(access.begin(), access.end(), t.bytes_.begin() + 6);
  t.bytes_[9] = gpb;
  std::copy(key_b.view().begin(), key_b.view().end(), t.bytes_.begin() + 10);

  // Check the bytes we are about to hand out, not the intent: the inverted
  // copies must match and must mean exactly `ac`.
  auto decoded = devices::DecodeAccessBits(ByteView(t.bytes_).subspan(6, 3));
  if (!decoded.ok()) return refuse("access bytes inconsistent: " + decoded.status().message());
  if (!(*decoded == ac)) return refuse("access bytes do not encode the requested conditions");
  return t;
}

Result<SectorTrailer> SectorTrailer::Build(const MifareKey& key_a,
                                           const std::array<uint8_t, 3>& access, uint8_t gpb,
                                           const MifareKey& key_b) {
  auto ac = devices::DecodeAccessBits(access);
  if (!ac.ok()) {
    return Status(Code::kInvalidField, "access bytes inconsistent: " + ac.status().message(),
                  "trailer.access");
  }
  return Build(key_a, *ac, gpb, key_b);
}

std::ostream& operator<<(std::ostream& os, const SectorTrailer& t) {
  const auto a = t.access_bytes();
  return os << "SectorTrailer{keyA <redacted>, access " << ToSpacedHex(a) << ", gpb "
            << ToHex(Bytes{t.gpb()}) << ", keyB <redacted>}";
}

}  // namespace cardbureau::encoder
