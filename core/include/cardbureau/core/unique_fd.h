// The one owner of a POSIX file descriptor (files, directories, sockets):
// move-only, closed exactly once, on Close() or destruction. Use it for
// every descriptor the code opens so no error path leaks one.
#pragma once

#include <utility>

namespace cardbureau {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd` (a negative value means "none").
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { (void)Close(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      (void)Close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int handle() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  [[nodiscard]] int Release() noexcept { return std::exchange(fd_, -1); }
  // Closes now: 0, or the errno of close(2) (the descriptor is released
  // either way; a failed close of a written file means lost data, so a
  // writer checks it). Idempotent: 0 when nothing is held.
  int Close() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace cardbureau
