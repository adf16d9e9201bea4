#include "cardbureau/core/file.h"

#include <fstream>

namespace cardbureau {

Result<std::string> ReadFileWithLimit(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot open " + path);
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > limit) {
      return Status(Code::kInputTooLarge, path + " is over " + std::to_string(limit) + " bytes");
    }
  }
  return data;
}

}  // namespace cardbureau
