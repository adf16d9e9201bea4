#include "cardbureau/core/bytes.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>

namespace cardbureau {
namespace {
constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string ToHex(ByteView bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kHexUpper[b >> 4];
    out += kHexUpper[b & 0x0F];
  }
  return out;
}

std::string ToSpacedHex(ByteView bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i) out += ' ';
    out += kHexUpper[bytes[i] >> 4];
    out += kHexUpper[bytes[i] & 0x0F];
  }
  return out;
}

Result<Bytes> FromHex(std::string_view hex) {
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    if (c == ' ' || c == ':') continue;
    int v = HexValue(c);
    if (v < 0) return Status(Code::kInvalidField, "not a hex digit in hex string");
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>((hi << 4) | v));
      hi = -1;
    }
  }
  if (hi >= 0) return Status(Code::kInvalidField, "odd number of hex digits");
  return out;
}

std::string Base64UrlEncode(ByteView bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kB64Url[(n >> 18) & 63];
    out += kB64Url[(n >> 12) & 63];
    out += kB64Url[(n >> 6) & 63];
    out += kB64Url[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t n = uint32_t{bytes[i]} << 16;
    out += kB64Url[(n >> 18) & 63];
    out += kB64Url[(n >> 12) & 63];
  } else if (rest == 2) {
    uint32_t n = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8);
    out += kB64Url[(n >> 18) & 63];
    out += kB64Url[(n >> 12) & 63];
    out += kB64Url[(n >> 6) & 63];
  }
  return out;
}

Result<Bytes> Base64UrlDecode(std::string_view text) {
  std::array<int, 256> rev{};
  rev.fill(-1);
  for (int i = 0; i < 64; ++i) rev[static_cast<uint8_t>(kB64Url[i])] = i;
  if (text.size() % 4 == 1) return Status(Code::kInvalidField, "bad base64url length");
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = rev[static_cast<uint8_t>(c)];
    if (v < 0) return Status(Code::kInvalidField, "character outside base64url alphabet");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
    }
  }
  // Non-canonical trailing bits must be zero.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return Status(Code::kInvalidField, "non-canonical base64url tail");
  }
  return out;
}

Bytes Sha256(ByteView data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), out.data());
  return out;
}

std::string Sha256Hex(ByteView data) {
  std::string hex = ToHex(Sha256(data));
  for (char& c : hex) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return hex;
}

void SecureZero(std::span<uint8_t> buf) { OPENSSL_cleanse(buf.data(), buf.size()); }

}  // namespace cardbureau
