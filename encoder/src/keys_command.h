// `cardbureau keys`: provisioning of a pkcs11 keystore (import, generate,
// pubkey). Private to the encoder module.
#pragma once

namespace cardbureau::encoder {
int RunKeys(int argc, char** argv);
}  // namespace cardbureau::encoder
