// Secret key types. Key bytes never reach a log, a report or the terminal:
// operator<< prints a redaction marker, there is no ToString/ToHex, and the
// bytes are zeroized when a key is destroyed or moved from.
//
// Keys are plain values (copyable: each copy zeroizes itself on
// destruction). Thread-compatible: a const key may be shared by threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::encoder {

class KeyBackend;  // key_backend.h

// N secret bytes. Construct through FromBytes/FromHex (which check the
// length) or value-initialise to all zeros.
template <size_t N>
class SecretKey {
 public:
  static constexpr size_t kSize = N;

  SecretKey() = default;
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) { other.Wipe(); }
  SecretKey& operator=(SecretKey&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      other.Wipe();
    }
    return *this;
  }
  ~SecretKey() { Wipe(); }

  // INVALID_KEY unless bytes.size() == N.
  static Result<SecretKey> FromBytes(ByteView bytes) {
    if (bytes.size() != N) {
      return Status(Code::kInvalidKey, "key must be " + std::to_string(N) + " bytes, got " +
                                           std::to_string(bytes.size()));
    }
    SecretKey k;
    for (size_t i = 0; i < N; ++i) k.bytes_[i] = bytes[i];
    return k;
  }
  // INVALID_KEY unless `hex` is exactly 2*N hex digits. The message never
  // quotes the input.
  static Result<SecretKey> FromHex(std::string_view hex) {
    if (hex.size() != 2 * N) {
      return Status(Code::kInvalidKey, "key must be " + std::to_string(2 * N) + " hex digits");
    }
    auto raw = FromHex_(hex);
    if (!raw.ok()) return Status(Code::kInvalidKey, "key is not hex");
    auto k = FromBytes(*raw);
    SecureZero(*raw);
    return k;
  }

  // The raw bytes, for the crypto and APDU layers only.
  ByteView view() const { return ByteView(bytes_.data(), N); }

  friend bool operator==(const SecretKey& a, const SecretKey& b) {
    uint8_t diff = 0;  // constant time
    for (size_t i = 0; i < N; ++i) diff = static_cast<uint8_t>(diff | (a.bytes_[i] ^ b.bytes_[i]));
    return diff == 0;
  }

  friend std::ostream& operator<<(std::ostream& os, const SecretKey&) {
    return os << "<redacted " << N << "-byte key>";
  }

 private:
  static Result<Bytes> FromHex_(std::string_view hex) { return ::cardbureau::FromHex(hex); }
  void Wipe() { SecureZero(bytes_); }

  std::array<uint8_t, N> bytes_{};
};

// An AES-128 key (master keys, the per-card MAC key).
using AesKey = SecretKey<16>;
// A MIFARE Classic sector key (key A / key B).
using MifareKey = SecretKey<6>;

// The well-known keys of blank stock and of the MAD (public, but still
// handled through the key type so that the APDU layer sees one kind).
MifareKey TransportKey();  // FF FF FF FF FF FF
MifareKey MadKeyA();       // A0 A1 A2 A3 A4 A5

// The bureau's master keys (card-format.md "Keys") and the path of the
// Ed25519 key that signs QR codes. Loaded by LoadKeystore (keystore.h).
// With the `pkcs11` backend the keys stay on the token: `backend` is set,
// the three AesKeys are all zero and sign_key_path is empty; diversify.h
// and the QR signer go through `backend`.
struct KeySet {
  AesKey master_read;                         // diversifies key A (shared with school readers)
  AesKey master_write;                        // diversifies key B (bureau only)
  AesKey master_mac;                          // diversifies the record MAC key
  std::string sign_key_path;                  // absolute or relative to the working directory
  std::shared_ptr<const KeyBackend> backend;  // null: the keys above are used
};

}  // namespace cardbureau::encoder
