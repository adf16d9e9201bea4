// Reading a whole input file (a job JSON, a photo) with a size limit, for
// the command-line tools. Streams the file, so a FIFO or a file that grows
// while read is still bounded.
#pragma once

#include <cstddef>
#include <string>

#include "cardbureau/core/status.h"

namespace cardbureau {

// The file's bytes. IO_ERROR when it cannot be opened; INPUT_TOO_LARGE as
// soon as more than `limit` bytes were read.
Result<std::string> ReadFileWithLimit(const std::string& path, size_t limit);

}  // namespace cardbureau
