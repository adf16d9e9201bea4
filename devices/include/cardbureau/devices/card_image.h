// Raw MIFARE Classic memory dumps (.mfd: 1024 or 4096 bytes, block 0 first),
// so an emulated card survives between runs and tests can inspect its bytes.
#pragma once

#include <string>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::devices {

// Reads a dump. NOT_FOUND when the file does not exist, IO_ERROR when it
// cannot be read, INVALID_FIELD unless it is exactly 1024 or 4096 bytes.
Result<Bytes> LoadCardImage(const std::string& path);

// Writes a dump atomically and durably (core's WriteFileAtomic: temporary
// file in the same folder, fsync, rename, fsync of the folder), mode 0600. INVALID_FIELD for a
// wrong size, IO_ERROR otherwise. Thread-safe for distinct paths.
Status SaveCardImage(const std::string& path, ByteView image);

}  // namespace cardbureau::devices
