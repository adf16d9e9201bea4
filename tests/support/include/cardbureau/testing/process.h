// Child processes for the tests that run the real `cardbureau` executable:
// exit codes, stderr, signals and memory as an operator or a service
// manager sees them. Header-only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace cardbureau::testing {

// The executable the build made (CARDBUREAU_BINARY_DIR/bin/cardbureau).
inline std::string CardbureauBinary() { return CARDBUREAU_BINARY_DIR "/bin/cardbureau"; }

struct ChildOptions {
  std::filesystem::path stdout_file;   // empty: /dev/null
  std::filesystem::path stderr_file;   // empty: /dev/null
  std::vector<std::string> extra_env;  // "NAME=value", added to (or replacing) ours
  // Start with SIGTERM and SIGINT blocked, as if they arrived before the
  // program could install anything: a signal sent right after the start
  // stays pending until the program unblocks it.
  bool block_stop_signals = false;
};

// A child process; SIGKILLed and reaped in the destructor if still running.
class ChildProcess {
 public:
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const ChildOptions& opt = {}) {
    std::vector<std::string> argv_s{binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      bool replaced = false;
      for (const auto& x : opt.extra_env) {
        if (kv.substr(0, kv.find('=') + 1) == x.substr(0, x.find('=') + 1)) replaced = true;
      }
      if (!replaced) env_s.push_back(kv);
    }
    env_s.insert(env_s.end(), opt.extra_env.begin(), opt.extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string out = opt.stdout_file.empty() ? "/dev/null" : opt.stdout_file.string();
    const std::string err = opt.stderr_file.empty() ? "/dev/null" : opt.stderr_file.string();
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (opt.block_stop_signals) {
      sigset_t mask;
      sigemptyset(&mask);
      sigaddset(&mask, SIGTERM);
      sigaddset(&mask, SIGINT);
      posix_spawnattr_setsigmask(&attr, &mask);
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    }
    if (posix_spawn(&pid_, binary.c_str(), &fa, &attr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ > 0) Kill();
  }

  bool ok() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // The exit code (128 + signal when killed), or nullopt while it still
  // runs at the deadline.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval, not a wait
    }
  }
  int Kill() {
    ::kill(pid_, SIGKILL);
    return WaitFor(std::chrono::seconds(30)).value_or(-1);
  }
  void Signal(int sig) { ::kill(pid_, sig); }

  // /proc/PID/status's "VmHWM" (peak resident set) in kB; -1 when gone.
  long PeakRssKb() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

struct ProcessResult {
  int code = -1;  // exit code; 128 + signal; -1 when it timed out (then killed)
  std::string out, err;
};

// Runs the executable to completion (killed at the timeout) and returns its
// exit code and output.
inline ProcessResult RunProcess(const std::string& binary, const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                std::vector<std::string> extra_env = {}) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const fs::path base = fs::temp_directory_path() /
                        ("cb-run-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  ChildOptions opt;
  opt.stdout_file = base.string() + ".out";
  opt.stderr_file = base.string() + ".err";
  opt.extra_env = std::move(extra_env);
  fs::remove(opt.stdout_file);
  fs::remove(opt.stderr_file);
  ProcessResult r;
  {
    ChildProcess child(binary, args, opt);
    if (!child.ok()) return r;
    auto code = child.WaitFor(timeout);
    r.code = code.value_or(-1);
  }
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(opt.stdout_file);
  r.err = slurp(opt.stderr_file);
  fs::remove(opt.stdout_file);
  fs::remove(opt.stderr_file);
  return r;
}

// The same for `cardbureau ARGS...`.
inline ProcessResult RunCardbureau(const std::vector<std::string>& args,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                   std::vector<std::string> extra_env = {}) {
  return RunProcess(CardbureauBinary(), args, timeout, std::move(extra_env));
}

}  // namespace cardbureau::testing
