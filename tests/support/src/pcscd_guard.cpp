#include "cardbureau/testing/pcscd_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>
#include <vector>

#include "cardbureau/devices/pcsc.h"

extern char** environ;

namespace cardbureau::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kLockPath[] = "/tmp/cardbureau-pcscd.lock";
constexpr char kCommSocket[] = "/run/pcscd/pcscd.comm";
constexpr char kPidFile[] = "/run/pcscd/pcscd.pid";
constexpr char kVpcdConf[] = "/etc/reader.conf.d/vpcd";

bool Exists(const char* path) {
  struct stat st {};
  return ::stat(path, &st) == 0;
}

// The pid of a running pcscd per its pid file, or -1.
pid_t RunningPcscd() {
  std::ifstream in(kPidFile);
  long pid = -1;
  if (!(in >> pid) || pid <= 0) return -1;
  if (::kill(static_cast<pid_t>(pid), 0) != 0) return -1;
  return static_cast<pid_t>(pid);
}

// pcscd answers and lists the virtual readers.
bool Serving() {
  if (!Exists(kCommSocket)) return false;
  auto ctx = devices::PcscContext::Establish();
  if (!ctx.ok()) return false;
  auto names = ctx->ListReaders();
  if (!names.ok()) return false;
  return std::find(names->begin(), names->end(), std::string(kVirtualReader0)) != names->end();
}

}  // namespace

bool PcscdGuard::CanStart() { return ::geteuid() == 0; }

Result<std::unique_ptr<PcscdGuard>> PcscdGuard::Start(milliseconds timeout) {
  if (!CanStart()) return Status(Code::kFailedPrecondition, "starting pcscd needs root");
  if (!Exists("/usr/sbin/pcscd")) {
    return Status(Code::kFailedPrecondition, "pcscd is not installed (apt-get install pcscd)");
  }
  if (!Exists(kVpcdConf)) {
    return Status(Code::kFailedPrecondition,
                  "vpcd is not configured (apt-get install vsmartcard-vpcd)");
  }
  const int fd = ::open(kLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return Status(Code::kIoError, std::string("cannot open ") + kLockPath);
  const auto deadline = Clock::now() + std::max(timeout, milliseconds(60000));
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (Clock::now() > deadline) {
      ::close(fd);
      return Status(Code::kCardTimeout, "another test run holds the pcscd lock");
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::unique_ptr<PcscdGuard> guard(new PcscdGuard(fd));
  if (RunningPcscd() > 0) {
    // A foreign pcscd: use it as it is, never stop it.
    const auto until = Clock::now() + timeout;
    while (!Serving()) {
      if (Clock::now() > until) {
        return Status(Code::kReaderUnavailable,
                      "the running pcscd does not list " + std::string(kVirtualReader0));
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return guard;
  }
  CB_RETURN_IF_ERROR(guard->Spawn(timeout));
  return guard;
}

Status PcscdGuard::Spawn(milliseconds timeout) {
  log_path_ = "/tmp/cardbureau-pcscd-" + std::to_string(::getpid()) + ".log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> args = {"/usr/sbin/pcscd", "--foreground"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status(Code::kReaderUnavailable, "cannot start pcscd");
  pid_ = pid;

  const auto until = Clock::now() + timeout;
  while (!Serving()) {
    int wstatus = 0;
    if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return Status(Code::kReaderUnavailable, "pcscd exited at start; see " + log_path_);
    }
    if (Clock::now() > until) {
      (void)Stop();
      return Status(Code::kReaderUnavailable, "pcscd did not come up; see " + log_path_);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return Status::Ok();
}

Status PcscdGuard::Stop() {
  if (pid_ <= 0) return Status(Code::kFailedPrecondition, "this guard did not start pcscd");
  ::kill(pid_, SIGTERM);
  const auto until = Clock::now() + std::chrono::seconds(5);
  int wstatus = 0;
  while (::waitpid(pid_, &wstatus, WNOHANG) != pid_) {
    if (Clock::now() > until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &wstatus, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  pid_ = -1;
  // pcscd removes its socket on a clean exit; after SIGKILL remove the stale one.
  if (Exists(kCommSocket) && RunningPcscd() <= 0) {
    ::unlink(kCommSocket);
    ::unlink(kPidFile);
  }
  return Status::Ok();
}

Status PcscdGuard::StartAgain(milliseconds timeout) {
  if (pid_ > 0) return Status(Code::kFailedPrecondition, "pcscd is still running");
  if (RunningPcscd() > 0) return Status(Code::kFailedPrecondition, "a foreign pcscd runs");
  return Spawn(timeout);
}

Status PcscdGuard::Restart() {
  CB_RETURN_IF_ERROR(Stop());
  return StartAgain();
}

PcscdGuard::~PcscdGuard() {
  if (pid_ > 0) (void)Stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace cardbureau::testing
