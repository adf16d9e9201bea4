// PcscdGuard: a real pcscd (with the vpcd driver from /etc/reader.conf.d/vpcd)
// for integration tests.
//
// Start() takes a machine-wide lock (flock on /tmp/cardbureau-pcscd.lock) so
// that test binaries of different build trees never share or kill each
// other's pcscd, then starts `pcscd --foreground` as a child unless one is
// running already, and waits for /run/pcscd/pcscd.comm and the virtual
// readers. The destructor stops the pcscd it started (never a foreign one)
// and releases the lock. pcscd's log goes to /tmp/cardbureau-pcscd-<pid>.log.
//
// Register tests that use it with `RESOURCE_LOCK pcscd` so ctest never runs
// two of them at once. Not thread-safe.
//
//   auto guard = cardbureau::testing::PcscdGuard::Start();
//   if (!guard.ok()) GTEST_SKIP() << guard.status();   // only for "needs root"
//
// Prefer CB_START_PCSCD_OR_SKIP(guard) below, which skips only when not root
// and fails the test for every other problem.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "cardbureau/core/status.h"

namespace cardbureau::testing {

inline constexpr char kVirtualReader0[] = "Virtual PCD 00 00";  // vpcd port 35963
inline constexpr char kVirtualReader1[] = "Virtual PCD 00 01";  // vpcd port 35964

class PcscdGuard {
 public:
  // FAILED_PRECONDITION when not root or pcscd/vpcd are not installed;
  // READER_UNAVAILABLE when pcscd did not come up within `timeout`;
  // CARD_TIMEOUT when the lock stayed taken for `timeout` (another test run).
  static Result<std::unique_ptr<PcscdGuard>> Start(
      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~PcscdGuard();
  PcscdGuard(const PcscdGuard&) = delete;
  PcscdGuard& operator=(const PcscdGuard&) = delete;

  // True when this guard started pcscd (and may stop/restart it).
  bool owned() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Stops the owned pcscd (SIGTERM, then SIGKILL after 5 s) and waits until
  // its socket is gone. FAILED_PRECONDITION for a foreign pcscd.
  Status Stop();
  // Starts pcscd again after Stop() and waits until it serves the readers.
  Status StartAgain(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Stop() + StartAgain().
  Status Restart();

  // True when the current user may start pcscd (root).
  static bool CanStart();

 private:
  PcscdGuard(int lock_fd) : lock_fd_(lock_fd) {}
  Status Spawn(std::chrono::milliseconds timeout);

  int lock_fd_ = -1;
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace cardbureau::testing

// In a TEST body: starts (or joins) pcscd, skipping the test only when the
// user is not root; any other failure fails the test.
#define CB_START_PCSCD_OR_SKIP(var)                                                 \
  if (!::cardbureau::testing::PcscdGuard::CanStart()) {                             \
    GTEST_SKIP() << "needs root to start pcscd with the vpcd driver (run as root)"; \
  }                                                                                 \
  auto var##_result = ::cardbureau::testing::PcscdGuard::Start();                   \
  ASSERT_TRUE(var##_result.ok()) << var##_result.status();                          \
  std::unique_ptr<::cardbureau::testing::PcscdGuard> var = std::move(*var##_result)
