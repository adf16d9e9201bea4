// Small durable-file helpers for printers and hot folders.
#pragma once

#include <filesystem>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::printers {

// Writes `data` to a temporary file beside `path`, fsyncs and renames it
// over `path`; creates parent folders. IO_ERROR on failure.
Status WriteFileAtomic(const std::filesystem::path& path, ByteView data);
// Reads a whole file of at most `limit` bytes. IO_ERROR / NOT_FOUND /
// INPUT_TOO_LARGE.
Result<Bytes> ReadFileLimited(const std::filesystem::path& path, size_t limit);

}  // namespace cardbureau::printers
