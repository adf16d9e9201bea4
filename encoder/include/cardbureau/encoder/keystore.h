// The bureau keystore file:
//   {"master_read": "<32 hex>", "master_write": "<32 hex>",
//    "master_mac": "<32 hex>", "sign_key": "<path of the Ed25519 PEM>"}
// A relative sign_key is resolved against the keystore file's folder.
// With "backend": "pkcs11" the keys are objects on a PKCS#11 token instead
// (pkcs11_keystore.h); "backend": "file" (the default) is the format above.
#pragma once

#include <filesystem>
#include <string_view>

#include "cardbureau/core/status.h"
#include "cardbureau/encoder/keys.h"

namespace cardbureau::encoder {

// Largest keystore file accepted.
inline constexpr size_t kMaxKeystoreBytes = 16 * 1024;

// Loads a keystore. The file must be a regular file that neither group nor
// others can read, write or execute (mode & 077 == 0), checked on the open
// descriptor. Messages name fields, never key bytes. Thread-safe.
// Errors: IO_ERROR (cannot open/read), KEY_FILE_INSECURE (group/other
// permission bits: run `chmod 600 FILE`), INPUT_TOO_LARGE, INVALID_JSON
// (malformed, missing or non-string field), INVALID_KEY (a master key that
// is not 32 hex digits). A pkcs11 keystore is opened here too (the token is
// logged in and its keys checked): the errors of OpenPkcs11Backend.
Result<KeySet> LoadKeystore(const std::filesystem::path& path);

// Parses keystore JSON text (no file checks; for tests and tools). Relative
// sign_key paths are resolved against `base_dir`. Pure for the file
// backend; a pkcs11 keystore opens its token.
Result<KeySet> ParseKeystore(std::string_view json_text, const std::filesystem::path& base_dir);

}  // namespace cardbureau::encoder
