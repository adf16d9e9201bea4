// Subcommands provided by the layout module.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cardbureau/core/command.h"
#include "cardbureau/core/status.h"
#include "cardbureau/layout/qr.h"

namespace cardbureau::layout {
std::vector<Command> Commands();

// `cardbureau render --keys KEYSTORE` signs the QR with a bureau keystore's
// key: the file backend's sign_key PEM, or the Ed25519 key on the PKCS#11
// token of a pkcs11 keystore (signed on the token, never read). The keystore
// belongs to the encoder, which layout does not know: the executable plugs
// the opener in (line::Commands) and its `render` replaces this module's.
using KeystoreQrSigner = std::function<Result<QrSigner>(const std::string& keystore_path)>;
// `render`. Without `keystore_signer` (layout::Commands()), --keys is a
// usage error (exit 2).
Command MakeRenderCommand(KeystoreQrSigner keystore_signer);
}  // namespace cardbureau::layout
