// Where the bureau's master keys live. The `file` backend keeps them in the
// KeySet itself (today's keystore.json); a KeyBackend keeps them somewhere
// the host cannot read them (a PKCS#11 token, pkcs11_keystore.h) and only
// computes with them. A KeySet whose `backend` is set routes every
// diversification (diversify.h) and the QR signature through it.
#pragma once

#include <string>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/encoder/keys.h"

namespace cardbureau::encoder {

enum class MasterKeyId { kRead, kWrite, kMac };

// Thread-safe: station threads call it concurrently.
class KeyBackend {
 public:
  virtual ~KeyBackend() = default;
  // "file" / "pkcs11".
  virtual std::string_view name() const = 0;
  // AN10922 AES-128 diversification of master `which` with input `m`
  // (1..31 bytes): the same bytes as Diversify(master, m) of diversify.h.
  // Errors: INVALID_FIELD (m), KEYSTORE_UNAVAILABLE (the token is gone; a
  // later call reconnects by itself).
  virtual Result<AesKey> Diversify(MasterKeyId which, ByteView m) const = 0;
  // Ed25519 signature (64 bytes) of `message` with the QR signing key.
  // Errors: KEYSTORE_UNAVAILABLE.
  virtual Result<Bytes> SignEd25519(ByteView message) const = 0;
  // The QR signing key's public half, PEM "PUBLIC KEY" (for qr-verify).
  virtual Result<std::string> PublicKeyPem() const = 0;
};

}  // namespace cardbureau::encoder
