// The printers' Bytes form of core's bounded read (core/file.h has the one
// implementation: same limits, same codes). Atomic writes are core's
// WriteFileAtomic.
#pragma once

#include <filesystem>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/file.h"
#include "cardbureau/core/status.h"

namespace cardbureau::printers {

// ReadFileWithLimit as Bytes. IO_ERROR / INPUT_TOO_LARGE.
inline Result<Bytes> ReadFileLimited(const std::filesystem::path& path, size_t limit) {
  CB_ASSIGN_OR_RETURN(std::string data, ReadFileWithLimit(path, limit));
  return ToBytes(data);
}

}  // namespace cardbureau::printers
