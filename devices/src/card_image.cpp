#include "cardbureau/devices/card_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cardbureau/devices/mifare_layout.h"

namespace cardbureau::devices {
namespace {

Status SizeCheck(size_t size, const std::string& path) {
  if (size == kImageSize1K || size == kImageSize4K) return Status::Ok();
  return Status(Code::kInvalidField,
                path + " is " + std::to_string(size) + " bytes; a card image is 1024 or 4096",
                "image");
}

Status Errno(const std::string& what) {
  return Status(Code::kIoError, what + ": " + std::strerror(errno));
}

}  // namespace

Result<Bytes> LoadCardImage(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status(Code::kNotFound, path + " does not exist", "image");
    return Errno("open " + path);
  }
  Bytes data;
  uint8_t buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("read " + path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    data.insert(data.end(), buf, buf + n);
    if (data.size() > kImageSize4K) break;  // too big; no need to read on
  }
  ::close(fd);
  CB_RETURN_IF_ERROR(SizeCheck(data.size(), path));
  return data;
}

Status SaveCardImage(const std::string& path, ByteView image) {
  CB_RETURN_IF_ERROR(SizeCheck(image.size(), path));
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create " + tmp);
  size_t done = 0;
  while (done < image.size()) {
    const ssize_t n = ::write(fd, image.data() + done, image.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status s = Errno("sync " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Errno("rename to " + path);
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

}  // namespace cardbureau::devices
