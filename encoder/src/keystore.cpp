#include "cardbureau/encoder/keystore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

namespace cardbureau::encoder {
namespace {

// Closes a POSIX descriptor. Move-only.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int handle() const { return fd_; }

 private:
  int fd_ = -1;
};

Result<AesKey> KeyField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Status(Code::kInvalidJson, "missing or not a string", name);
  }
  auto key = AesKey::FromHex(it->get_ref<const std::string&>());
  if (!key.ok()) return Status(Code::kInvalidKey, "must be 32 hex digits", name);
  return key;
}

}  // namespace

Result<KeySet> ParseKeystore(std::string_view json_text, const std::filesystem::path& base_dir) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(Code::kInvalidJson, "keystore is not a JSON object");
  }
  KeySet keys;
  Status first;
  {
    auto r = KeyField(j, "master_read");
    auto w = KeyField(j, "master_write");
    auto m = KeyField(j, "master_mac");
    for (auto* res : {&r, &w, &m}) {
      if (!res->ok() && first.ok()) first = res->status();
    }
    if (first.ok()) {
      keys.master_read = std::move(*r);
      keys.master_write = std::move(*w);
      keys.master_mac = std::move(*m);
    }
  }
  // Scrub the hex copies held by the JSON tree.
  for (const char* name : {"master_read", "master_write", "master_mac"}) {
    auto it = j.find(name);
    if (it != j.end() && it->is_string()) {
      auto& s = it->get_ref<std::string&>();
      SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
    }
  }
  if (!first.ok()) return first;
  auto sk = j.find("sign_key");
  if (sk == j.end() || !sk->is_string() || sk->get_ref<const std::string&>().empty()) {
    return Status(Code::kInvalidJson, "missing or not a string", "sign_key");
  }
  std::filesystem::path sign(sk->get<std::string>());
  if (sign.is_relative()) sign = base_dir / sign;
  keys.sign_key_path = sign.lexically_normal().string();
  return keys;
}

Result<KeySet> LoadKeystore(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.handle() < 0) {
    return Status(Code::kIoError, "cannot open keystore " + path.string() + ": " +
                                      std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.handle(), &st) != 0) {
    return Status(Code::kIoError, "cannot stat keystore " + path.string());
  }
  if (!S_ISREG(st.st_mode)) {
    return Status(Code::kIoError, "keystore " + path.string() + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return Status(Code::kKeyFileInsecure, "keystore " + path.string() +
                                              " is accessible by group or others; run: chmod 600 " +
                                              path.string());
  }
  if (static_cast<size_t>(st.st_size) > kMaxKeystoreBytes) {
    return Status(Code::kInputTooLarge, "keystore over " + std::to_string(kMaxKeystoreBytes) +
                                            " bytes");
  }
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
  size_t got = 0;
  for (;;) {
    const ssize_t n = ::read(fd.handle(), text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size()));
      return Status(Code::kIoError, "cannot read keystore " + path.string());
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == text.size()) {
      SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size()));
      return Status(Code::kInputTooLarge, "keystore grew while reading");
    }
  }
  text.resize(got);
  auto keys = ParseKeystore(text, std::filesystem::absolute(path).parent_path());
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size()));
  return keys;
}

}  // namespace cardbureau::encoder
