// Reading whole input files with a size limit, for the command-line tools
// and the loaders of configs and secrets. Streams the file, so a FIFO or a
// file that grows while read is still bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "cardbureau/core/status.h"

namespace cardbureau {

// The file's bytes. IO_ERROR when it cannot be opened; INPUT_TOO_LARGE as
// soon as more than `limit` bytes were read.
Result<std::string> ReadFileWithLimit(const std::string& path, size_t limit);

// Reads a secret file (a key, a keystore, a token table, a PIN): a regular
// file, not a symbolic link, of at most `limit` bytes, that neither group
// nor others can read, write or execute. `what` names it in messages
// ("keystore", "QR signing key", "CURVE secret key", "token file", "PIN
// file"). The one rule for every secret the bureau loads.
// Errors: KEY_FILE_INSECURE (mode allows group/others, naming the chmod),
// IO_ERROR (missing, not a regular file, unreadable), INPUT_TOO_LARGE.
// The caller wipes the returned bytes with SecureZero when done with them;
// on every error path the partial bytes are wiped here.
Result<std::string> ReadSecretFile(const std::string& path, size_t limit, std::string_view what);

}  // namespace cardbureau
