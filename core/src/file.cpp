#include "cardbureau/core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

#include "cardbureau/core/unique_fd.h"

namespace cardbureau {
namespace {

void Wipe(std::string& s) {
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
}

std::string Reason(int err) { return std::strerror(err); }

// Reads `fd` to its end into `out`, keeping at most limit + 1 bytes: a
// result longer than `limit` means the file held more. 0 or the errno of
// the failed read(2).
int ReadUpTo(int fd, size_t limit, size_t size_hint, std::string& out) {
  constexpr size_t kChunk = 64 * 1024;
  const size_t cap = limit == SIZE_MAX ? limit : limit + 1;
  out.clear();
  out.reserve(std::min(cap, size_hint + 1));
  for (;;) {
    const size_t room = std::min(kChunk, cap - out.size());
    const size_t old = out.size();
    out.resize(old + room);
    const ssize_t n = ::read(fd, out.data() + old, room);
    if (n < 0) {
      out.resize(old);
      if (errno == EINTR) continue;
      return errno;
    }
    out.resize(old + static_cast<size_t>(n));
    if (n == 0 || out.size() == cap) return 0;
  }
}

std::atomic<uint64_t> g_temp_counter{0};

}  // namespace

Result<std::string> ReadFileWithLimit(const std::filesystem::path& path, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid())
    return Status(Code::kIoError, "cannot open " + path.string() + ": " + Reason(errno));
  struct stat st {};
  size_t hint = 0;
  if (::fstat(fd.handle(), &st) == 0 && S_ISREG(st.st_mode)) {
    if (static_cast<uint64_t>(st.st_size) > limit) {
      return Status(Code::kInputTooLarge,
                    path.string() + " is over " + std::to_string(limit) + " bytes");
    }
    hint = static_cast<size_t>(st.st_size);
  }
  std::string data;
  if (int err = ReadUpTo(fd.handle(), limit, hint, data)) {
    return Status(Code::kIoError, "cannot read " + path.string() + ": " + Reason(err));
  }
  if (data.size() > limit) {
    return Status(Code::kInputTooLarge,
                  path.string() + " is over " + std::to_string(limit) + " bytes");
  }
  return data;
}

Result<std::string> ReadSecretFile(const std::string& path, size_t limit, std::string_view what) {
  const std::string name = std::string(what) + " " + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ELOOP)
      return Status(Code::kIoError, name + " is a symbolic link; name the file itself");
    return Status(Code::kIoError, "cannot open " + name + ": " + Reason(errno));
  }
  struct stat st {};
  if (::fstat(fd.handle(), &st) != 0) return Status(Code::kIoError, "cannot stat " + name);
  if (!S_ISREG(st.st_mode)) return Status(Code::kIoError, name + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status(
        Code::kKeyFileInsecure,
        name + " is mode " + mode + ", accessible by group or others; run: chmod 600 " + path);
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    return Status(Code::kInputTooLarge, name + " is over " + std::to_string(limit) + " bytes");
  }
  // Bounded by the size just checked: one byte more tells a file that grew
  // while read from one that is exactly at the limit.
  const size_t size = static_cast<size_t>(st.st_size);
  std::string data;
  if (int err = ReadUpTo(fd.handle(), size, size, data)) {
    Wipe(data);
    return Status(Code::kIoError, "cannot read " + name + ": " + Reason(err));
  }
  if (data.size() > size) {
    Wipe(data);
    return Status(Code::kInputTooLarge, name + " grew while it was read");
  }
  return data;
}

Status FsyncDirectory(const std::filesystem::path& dir) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid())
    return Status(Code::kIoError, "cannot open folder " + d.string() + ": " + Reason(errno));
  if (::fsync(fd.handle()) != 0) {
    return Status(Code::kIoError, "cannot sync folder " + d.string() + ": " + Reason(errno));
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::filesystem::path& path, ByteView data,
                       const AtomicWriteOptions& options) {
  const std::filesystem::path dir = path.parent_path();
  if (options.create_parents && !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status(Code::kIoError, "cannot create " + dir.string() + ": " + ec.message());
  }
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_temp_counter++);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                     static_cast<mode_t>(options.mode)));
  if (!fd.valid())
    return Status(Code::kIoError, "cannot create " + tmp.string() + ": " + Reason(errno));
  auto fail = [&](const std::string& what, int err) {
    (void)fd.Close();
    ::unlink(tmp.c_str());
    return Status(Code::kIoError, "cannot " + what + ": " + Reason(err));
  };
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd.handle(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write " + tmp.string(), errno);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.handle()) != 0) return fail("sync " + tmp.string(), errno);
  if (int err = fd.Close()) return fail("close " + tmp.string(), err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename to " + path.string(), errno);
  if (options.sync_directory) return FsyncDirectory(dir);
  return Status::Ok();
}

}  // namespace cardbureau
