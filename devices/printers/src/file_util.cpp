#include "cardbureau/printers/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace cardbureau::printers {

namespace fs = std::filesystem;

Status WriteFileAtomic(const fs::path& path, ByteView data) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return Status(Code::kIoError, "cannot create " + path.parent_path().string());
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0)
    return Status(Code::kIoError, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Status(Code::kIoError, "write failed for " + tmp.string());
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return Status(Code::kIoError, "fsync failed for " + tmp.string());
  fs::rename(tmp, path, ec);
  if (ec) return Status(Code::kIoError, "cannot rename to " + path.string());
  return Status::Ok();
}

Result<Bytes> ReadFileLimited(const fs::path& path, size_t limit) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return Status(Code::kNotFound, "cannot read " + path.string());
  if (size > limit)
    return Status(Code::kInputTooLarge,
                  path.string() + " is over " + std::to_string(limit) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot open " + path.string());
  Bytes out(size);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size));
  if (static_cast<size_t>(in.gcount()) != size)
    return Status(Code::kIoError, "short read of " + path.string());
  return out;
}

}  // namespace cardbureau::printers
