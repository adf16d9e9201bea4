#include "cardbureau/line/keystore_qr.h"

#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/keystore.h"

namespace cardbureau::line {

Result<layout::QrSigner> QrSignerFor(const encoder::KeySet& keys) {
  if (const auto backend = keys.backend) {
    // The backend (and its token session) lives as long as the signer.
    return layout::QrSigner::FromSignFunction(
        [backend](ByteView m) { return backend->SignEd25519(m); });
  }
  if (keys.sign_key_path.empty()) {
    return Status(Code::kInvalidConfig, "the keystore names no sign_key", "sign_key");
  }
  return layout::QrSigner::FromPemFile(keys.sign_key_path);
}

Result<layout::QrVerifier> QrVerifierFor(const encoder::KeySet& keys) {
  if (keys.backend) {
    CB_ASSIGN_OR_RETURN(std::string pem, keys.backend->PublicKeyPem());
    return layout::QrVerifier::FromPem(pem);
  }
  if (keys.sign_key_path.empty()) {
    return Status(Code::kInvalidConfig, "the keystore names no sign_key", "sign_key");
  }
  return layout::QrVerifier::FromPemFile(keys.sign_key_path);
}

Result<layout::QrSigner> QrSignerFromKeystore(const std::string& keystore_path) {
  CB_ASSIGN_OR_RETURN(encoder::KeySet keys, encoder::LoadKeystore(keystore_path));
  return QrSignerFor(keys);
}

}  // namespace cardbureau::line
