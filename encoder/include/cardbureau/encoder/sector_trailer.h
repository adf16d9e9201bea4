// The one sector-trailer builder. A trailer whose access bits are
// inconsistent (inverted copies that do not match) destroys a MIFARE sector
// for ever, so a SectorTrailer can only come out of SectorTrailer::Build,
// which checks the bytes it is about to return. There is no other
// constructor and no way to change the bytes afterwards; the card writer
// only accepts a SectorTrailer for trailer blocks.
//
// Immutable value type; thread-safe to share. Holds key bytes: never print
// bytes() (operator<< shows the access bytes and GPB only).
#pragma once

#include <array>
#include <cstdint>
#include <ostream>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/mifare_layout.h"
#include "cardbureau/encoder/keys.h"

namespace cardbureau::encoder {

// Access conditions used by the bureau (card-format.md).
// Personalized student sector: data blocks 100 (read A|B, write B), trailer
// 011 (keys and access bits changeable with B only) -> bytes 78 77 88.
devices::AccessConditions StudentAccessConditions();
// Blank-stock transport configuration: data 000, trailer 001 -> FF 07 80.
devices::AccessConditions TransportAccessConditions();

class SectorTrailer {
 public:
  // Builds keyA ‖ access bytes ‖ gpb ‖ keyB and checks, before returning,
  // that the access bytes decode back (inverted copies consistent) to exactly
  // `ac`, that every condition is in 0..7, and that the trailer condition
  // keeps the sector manageable: key B must not be readable (it would stop
  // being a key) and the access bits must stay writable by some key (a frozen
  // trailer cannot be re-keyed).
  // Errors: INVALID_FIELD (field "trailer.access") for any of these.
  static Result<SectorTrailer> Build(const MifareKey& key_a, const devices::AccessConditions& ac,
                                     uint8_t gpb, const MifareKey& key_b);
  // The same from raw access bytes 6..8 (e.g. copied from a trailer read
  // off a card): refused unless the inverted copies match, then checked as
  // above. Errors: INVALID_FIELD.
  static Result<SectorTrailer> Build(const MifareKey& key_a, const std::array<uint8_t, 3>& access,
                                     uint8_t gpb, const MifareKey& key_b);

  SectorTrailer(const SectorTrailer&) = default;
  SectorTrailer& operator=(const SectorTrailer&) = default;
  ~SectorTrailer() { SecureZero(bytes_); }

  // The 16 bytes to write (contains key A and key B).
  ByteView bytes() const { return ByteView(bytes_.data(), bytes_.size()); }
  std::array<uint8_t, 3> access_bytes() const { return {bytes_[6], bytes_[7], bytes_[8]}; }
  uint8_t gpb() const { return bytes_[9]; }

  friend std::ostream& operator<<(std::ostream& os, const SectorTrailer& t);

 private:
  SectorTrailer() = default;
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace cardbureau::encoder
