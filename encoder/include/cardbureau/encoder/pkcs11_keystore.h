// The `pkcs11` keystore backend: the master keys and the QR signing key are
// objects on a PKCS#11 token (an HSM; SoftHSM2 in the tests) that can be
// used but never read. The keystore file names them:
//   {"backend": "pkcs11", "module": "/usr/lib/softhsm/libsofthsm2.so",
//    "token": "cardbureau", "pin_file": "token.pin",
//    "master_read": "cb-master-read", "master_write": "cb-master-write",
//    "master_mac": "cb-master-mac", "sign_key": "cb-qr-sign"}
// Key fields are CKA_LABELs; relative paths are relative to the keystore
// file; the PIN file follows the secrets' rule (core/file.h ReadSecretFile)
// and the PIN is never logged. See docs/keys.md.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "cardbureau/core/status.h"
#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/keys.h"

namespace cardbureau::encoder {

struct Pkcs11Config {
  std::string module;    // path of the vendor's PKCS#11 module (.so)
  std::string token;     // the token's label
  std::string pin_file;  // the user PIN, one line (mode 0600)
  std::string master_read = "cb-master-read";
  std::string master_write = "cb-master-write";
  std::string master_mac = "cb-master-mac";
  std::string sign_key = "cb-qr-sign";  // the Ed25519 private (and public) key objects
};

// Parses a keystore JSON whose "backend" is "pkcs11". Relative module and
// pin_file paths are resolved against base_dir. Errors: INVALID_JSON
// (malformed, missing or non-string field, naming it). Pure.
Result<Pkcs11Config> ParsePkcs11Config(std::string_view json_text,
                                       const std::filesystem::path& base_dir);
// The keystore file text for `config` (paths as given).
std::string Pkcs11ConfigJson(const Pkcs11Config& config);

// Loads the module (dlopen), finds the token, logs in, finds and checks the
// four keys (AES-128 secret keys; an Ed25519 private key and its public
// key). Errors: KEYSTORE_UNAVAILABLE (module cannot be loaded, no token with
// that label, PIN refused, a label not on the token), KEY_FILE_INSECURE /
// IO_ERROR (PIN file), INVALID_KEY (an object of the wrong type or length).
// The backend keeps one PKCS#11 session per calling thread and reconnects by
// itself after the token went away.
Result<std::shared_ptr<const KeyBackend>> OpenPkcs11Backend(const Pkcs11Config& config);

// Provisioning. Puts `keys` (a file keystore's masters) and the Ed25519 PEM
// private key `sign_key_pem` on the token as CKA_TOKEN, CKA_SENSITIVE,
// non-extractable objects labelled as in `config`. ALREADY_EXISTS when a
// label is already on the token (nothing is written then).
Status ImportKeysToToken(const Pkcs11Config& config, const KeySet& keys,
                         std::string_view sign_key_pem);
// The same with keys generated on the token (nothing ever leaves it).
Status GenerateKeysOnToken(const Pkcs11Config& config);

}  // namespace cardbureau::encoder
