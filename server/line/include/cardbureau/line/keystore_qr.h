// The QR signer and verifier of a bureau keystore, whichever its backend:
// the file keystore's sign_key PEM, or the Ed25519 key on the PKCS#11 token
// of a pkcs11 keystore (signed on the token; the public half exported from
// it). `cardbureau render --keys` uses it (line::Commands).
#pragma once

#include <string>

#include "cardbureau/core/status.h"
#include "cardbureau/encoder/keys.h"
#include "cardbureau/layout/qr.h"

namespace cardbureau::line {

// Errors: the key file's (IO_ERROR, KEY_FILE_INSECURE, INVALID_KEY) or
// the token's (KEYSTORE_UNAVAILABLE); INVALID_CONFIG when a file keystore
// names no sign_key.
Result<layout::QrSigner> QrSignerFor(const encoder::KeySet& keys);
Result<layout::QrVerifier> QrVerifierFor(const encoder::KeySet& keys);

// Loads the keystore file (encoder::LoadKeystore: its errors) and returns
// QrSignerFor it. The keystore stays open as long as the signer lives.
Result<layout::QrSigner> QrSignerFromKeystore(const std::string& keystore_path);

}  // namespace cardbureau::line
