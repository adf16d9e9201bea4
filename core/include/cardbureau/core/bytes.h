// Byte buffers and hex/base64url helpers. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/status.h"

namespace cardbureau {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// Upper-case hex without separators ("04A1B2C3").
std::string ToHex(ByteView bytes);
// Hex with a space between bytes ("90 00"), for diagnostics.
std::string ToSpacedHex(ByteView bytes);
// Accepts upper/lower case, ignores spaces and ':'. INVALID_FIELD on odd
// length or a non-hex character.
Result<Bytes> FromHex(std::string_view hex);

// RFC 4648 §5 base64url without padding.
std::string Base64UrlEncode(ByteView bytes);
// Rejects padding, whitespace and characters outside the URL alphabet.
Result<Bytes> Base64UrlDecode(std::string_view text);

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// SHA-256 (OpenSSL) of `data`, as raw bytes and as lower-case hex.
Bytes Sha256(ByteView data);
std::string Sha256Hex(ByteView data);

// Overwrites `buf` with zeros in a way the optimizer keeps (for key bytes).
void SecureZero(std::span<uint8_t> buf);

}  // namespace cardbureau
