#include "cardbureau/core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>

#include "cardbureau/core/bytes.h"

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

namespace {

void Wipe(std::string& s) {
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
}

}  // namespace

Result<std::string> ReadSecretFile(const std::string& path, size_t limit, std::string_view what) {
  const std::string name = std::string(what) + " " + path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP)
      return Status(Code::kIoError, name + " is a symbolic link; name the file itself");
    return Status(Code::kIoError, "cannot open " + name + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status(Code::kIoError, "cannot stat " + name);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(Code::kIoError, name + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status(
        Code::kKeyFileInsecure,
        name + " is mode " + mode + ", accessible by group or others; run: chmod 600 " + path);
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    ::close(fd);
    return Status(Code::kInputTooLarge, name + " is over " + std::to_string(limit) + " bytes");
  }
  // One byte of headroom tells a file that grew while read from one that
  // is exactly at the limit.
  std::string data(static_cast<size_t>(st.st_size) + 1, '\0');
  size_t got = 0;
  for (;;) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      Wipe(data);
      return Status(Code::kIoError, "cannot read " + name + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == data.size()) {
      ::close(fd);
      Wipe(data);
      return Status(Code::kInputTooLarge, name + " grew while it was read");
    }
  }
  ::close(fd);
  data.resize(got);
  return data;
}

}  // namespace cardbureau
