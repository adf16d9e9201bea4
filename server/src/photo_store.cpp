#include "cardbureau/server/photo_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "cardbureau/core/file.h"
#include "cardbureau/core/unique_fd.h"

namespace cardbureau::server {
namespace {

Status Errno(const std::string& what) {
  return Status(Code::kIoError, what + ": " + std::strerror(errno));
}

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::atomic<uint64_t> g_temp_counter{0};

}  // namespace

Result<PhotoStore> PhotoStore::Open(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(Code::kIoError, "cannot create " + dir.string() + ": " + ec.message());
  return PhotoStore(dir);
}

std::filesystem::path PhotoStore::PathFor(const std::string& sha256_hex) const {
  return dir_ / sha256_hex;
}

Status PhotoStore::Write(const std::string& sha256_hex, ByteView bytes) const {
  if (!IsSha256Hex(sha256_hex)) {
    return Status(Code::kInvalidField, "not a lower-case sha256", "photo.sha256");
  }
  auto path = PathFor(sha256_hex);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return Status::Ok();
  // The caller syncs the folder once for its batch (SyncDirectory).
  return WriteFileAtomic(path, bytes, {.sync_directory = false});
}

Status PhotoStore::WriteBatch(const std::vector<std::pair<std::string, ByteView>>& photos) const {
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> renames;  // tmp, final
  Status result;
  for (const auto& [sha, bytes] : photos) {
    if (!IsSha256Hex(sha)) {
      result = Status(Code::kInvalidField, "not a lower-case sha256", "photo.sha256");
      break;
    }
    auto path = PathFor(sha);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) continue;
    std::filesystem::path tmp = path;
    tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_temp_counter++);
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.handle() < 0) {
      result = Errno("create " + tmp.string());
      break;
    }
    renames.emplace_back(tmp, path);
    size_t off = 0;
    while (off < bytes.size() && result.ok()) {
      ssize_t n = ::write(fd.handle(), bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) result = Errno("write " + tmp.string());
      if (n > 0) off += static_cast<size_t>(n);
    }
    if (!result.ok()) break;
  }
  if (result.ok() && !renames.empty()) {
    UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.handle() < 0 || ::syncfs(dir.handle()) != 0) result = Errno("syncfs " + dir_.string());
  }
  for (const auto& [tmp, path] : renames) {
    if (result.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
      result = Errno("rename to " + path.string());
    }
    if (!result.ok()) ::unlink(tmp.c_str());
  }
  if (!result.ok()) return result;
  return FsyncDirectory(dir_);
}

Result<Bytes> PhotoStore::Read(const std::string& sha256_hex) const {
  if (!IsSha256Hex(sha256_hex)) {
    return Status(Code::kInvalidField, "not a lower-case sha256", "photo.sha256");
  }
  std::ifstream in(PathFor(sha256_hex), std::ios::binary);
  if (!in) return Status(Code::kNotFound, "photo " + sha256_hex + " is not stored");
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Status PhotoStore::Remove(const std::string& sha256_hex) const {
  if (!IsSha256Hex(sha256_hex)) return Status::Ok();
  std::error_code ec;
  std::filesystem::remove(PathFor(sha256_hex), ec);
  if (ec) return Status(Code::kIoError, "cannot remove photo " + sha256_hex + ": " + ec.message());
  return Status::Ok();
}

}  // namespace cardbureau::server
