#include "cardbureau/core/unique_fd.h"

#include <unistd.h>

#include <cerrno>

namespace cardbureau {

int UniqueFd::Close() noexcept {
  if (fd_ < 0) return 0;
  // Linux releases the descriptor even when close(2) fails (EINTR
  // included): never retry, that could close a descriptor another thread
  // has just been given.
  return ::close(std::exchange(fd_, -1)) == 0 ? 0 : errno;
}

}  // namespace cardbureau
