// fuzz_replay TARGET PATH...: runs the fuzz target's entry point once on
// every file under each PATH (a file or a directory, recursively, in name
// order), as libFuzzer does when given a corpus without -runs. Any sanitizer
// report aborts the process (the ctest entry fails); a missing PATH, an empty
// input set or an unknown TARGET is a failure too (exit 2), so a corpus that
// moved cannot turn the test into a no-op.
//
// fuzz_replay --mutate SECONDS [--seed N] TARGET PATH...: after the replay,
// mutates the inputs for SECONDS of wall time (`make test`'s bounded fuzzing,
// issue 20). This build is gcc's, which has no libFuzzer, so the mutation is
// blind (no coverage feedback): libFuzzer-style mutations (bit flips, byte
// changes, erase/insert/duplicate runs, interesting integers, ASCII digits,
// splices of two corpus inputs), stacked 1-8 deep on a random corpus input.
// It finds the shallow crashes a parser change brings in, in the same ASan +
// UBSan build as the tests; coverage-guided fuzzing stays `make fuzz-run`
// (clang, libFuzzer). The run is reproducible: the seed is printed, and
// --seed N (or CB_FUZZ_SEED) repeats it. On a sanitizer report or an input
// that runs longer than 10 s the input is written to
// fuzz-crash-TARGET-SEED-ITERATION in the working directory (the build dir
// under ctest) and its path printed: keep it in tests/fuzz/crashes/TARGET/
// after the fix, so every later `make test` replays it.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fuzz_registry.h"

// From the sanitizer runtime when there is one (weak: absent in a build
// without sanitizers, where the crash input is still written on SIGALRM).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace fs = std::filesystem;

namespace {

using Input = std::vector<std::uint8_t>;

std::vector<fs::path> Inputs(const fs::path& p) {
  std::vector<fs::path> out;
  if (fs::is_regular_file(p)) {
    out.push_back(p);
  } else if (fs::is_directory(p)) {
    for (const auto& e : fs::recursive_directory_iterator(p)) {
      if (e.is_regular_file() && e.path().filename().string().rfind('.', 0) != 0)
        out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
  }
  return out;
}

// The input being run, for the death callback (async-signal context: plain
// POSIX calls only).
struct Current {
  const Input* data = nullptr;
  char path[512] = {};
} g_current;

void WriteCurrentInput() {
  if (g_current.data == nullptr || g_current.path[0] == '\0') return;
  const int fd = ::open(g_current.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const Input& in = *g_current.data;
  std::size_t off = 0;
  while (off < in.size()) {
    const ssize_t n = ::write(fd, in.data() + off, in.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  static const char kMsg[] = "\nfuzz_replay: the failing input is in ";
  (void)!::write(2, kMsg, sizeof kMsg - 1);
  (void)!::write(2, g_current.path, std::strlen(g_current.path));
  static const char kKeep[] =
      "\nfuzz_replay: after the fix, keep it in tests/fuzz/crashes/<target>/ (make test replays "
      "it)\n";
  (void)!::write(2, kKeep, sizeof kKeep - 1);
}

void OnAlarm(int) {
  static const char kMsg[] = "fuzz_replay: an input ran longer than 10 s (hang)";
  (void)!::write(2, kMsg, sizeof kMsg - 1);
  WriteCurrentInput();
  std::_Exit(1);
}

class Mutator {
 public:
  Mutator(std::uint64_t seed, const std::vector<Input>& corpus, std::size_t max_size)
      : rng_(seed), corpus_(corpus), max_size_(max_size) {}

  Input Next() {
    Input in = corpus_[Below(corpus_.size())];
    const int depth = 1 + static_cast<int>(Below(8));
    for (int i = 0; i < depth; ++i) MutateOnce(in);
    if (in.size() > max_size_) in.resize(max_size_);
    return in;
  }

 private:
  std::size_t Below(std::size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  void MutateOnce(Input& in) {
    if (in.empty()) {
      in.push_back(static_cast<std::uint8_t>(Below(256)));
      return;
    }
    switch (Below(10)) {
      case 0:  // flip a bit
        in[Below(in.size())] ^= static_cast<std::uint8_t>(1u << Below(8));
        break;
      case 1:  // change a byte
        in[Below(in.size())] = static_cast<std::uint8_t>(Below(256));
        break;
      case 2: {  // erase a run
        const std::size_t at = Below(in.size());
        const std::size_t n = 1 + Below(std::min<std::size_t>(in.size() - at, 64));
        in.erase(in.begin() + static_cast<std::ptrdiff_t>(at),
                 in.begin() + static_cast<std::ptrdiff_t>(at + n));
        break;
      }
      case 3: {  // insert a run of one byte
        const std::size_t at = Below(in.size() + 1);
        in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), 1 + Below(32),
                  static_cast<std::uint8_t>(Below(256)));
        break;
      }
      case 4: {  // duplicate a part elsewhere
        const std::size_t from = Below(in.size());
        const std::size_t n = 1 + Below(std::min<std::size_t>(in.size() - from, 128));
        const Input part(in.begin() + static_cast<std::ptrdiff_t>(from),
                         in.begin() + static_cast<std::ptrdiff_t>(from + n));
        in.insert(in.begin() + static_cast<std::ptrdiff_t>(Below(in.size() + 1)), part.begin(),
                  part.end());
        break;
      }
      case 5: {  // an interesting integer, 1, 2 or 4 bytes, either endianness
        static constexpr std::uint32_t kValues[] = {
            0,      1,       0x7f,       0x80,       0xff,       0x100, 0x7fff, 0x8000,
            0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 4096,  65535};
        const std::uint32_t v = kValues[Below(std::size(kValues))];
        const std::size_t width = std::size_t{1} << Below(3);
        const std::size_t at = Below(in.size());
        const bool big = Below(2) == 0;
        for (std::size_t i = 0; i < width && at + i < in.size(); ++i) {
          const std::size_t shift = 8 * (big ? width - 1 - i : i);
          in[at + i] = static_cast<std::uint8_t>(v >> shift);
        }
        break;
      }
      case 6: {  // an ASCII digit run changed (lengths and counts in text formats)
        const std::size_t at = Below(in.size());
        std::size_t i = at;
        while (i < in.size() && (in[i] < '0' || in[i] > '9')) ++i;
        if (i == in.size()) {
          in[at] = static_cast<std::uint8_t>('0' + Below(10));
          break;
        }
        static const char* const kNumbers[] = {
            "0", "-1", "4294967296", "999999999999999999999", "2147483648", "65536", "1e308", "-0"};
        std::size_t end = i;
        while (end < in.size() && in[end] >= '0' && in[end] <= '9') ++end;
        const std::string n = kNumbers[Below(std::size(kNumbers))];
        in.erase(in.begin() + static_cast<std::ptrdiff_t>(i),
                 in.begin() + static_cast<std::ptrdiff_t>(end));
        in.insert(in.begin() + static_cast<std::ptrdiff_t>(i), n.begin(), n.end());
        break;
      }
      case 7: {  // splice with another corpus input
        const Input& other = corpus_[Below(corpus_.size())];
        if (other.empty()) break;
        const std::size_t cut = Below(in.size() + 1);
        const std::size_t from = Below(other.size());
        in.resize(cut);
        in.insert(in.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        break;
      }
      case 8:  // truncate
        in.resize(Below(in.size() + 1));
        break;
      default: {  // swap two bytes
        std::swap(in[Below(in.size())], in[Below(in.size())]);
        break;
      }
    }
  }

  std::mt19937_64 rng_;
  const std::vector<Input>& corpus_;
  std::size_t max_size_;
};

int Usage() {
  std::fprintf(stderr, "usage: fuzz_replay [--mutate SECONDS [--seed N]] TARGET PATH...\ntargets:");
  for (const auto& t : cardbureau::testing::FuzzTargets()) std::fprintf(stderr, " %s", t.name);
  std::fprintf(stderr, "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const auto& targets = cardbureau::testing::FuzzTargets();
  double mutate_seconds = 0;
  std::uint64_t seed = 0;
  bool seed_given = false;
  int arg = 1;
  while (arg < argc && std::strncmp(argv[arg], "--", 2) == 0) {
    const std::string opt = argv[arg];
    if (opt == "--mutate" && arg + 1 < argc) {
      char* end = nullptr;
      mutate_seconds = std::strtod(argv[arg + 1], &end);
      if (end == argv[arg + 1] || *end != '\0' || mutate_seconds < 0 || mutate_seconds > 3600) {
        std::fprintf(stderr, "fuzz_replay: --mutate takes seconds (0-3600), not %s\n",
                     argv[arg + 1]);
        return 2;
      }
      arg += 2;
    } else if (opt == "--seed" && arg + 1 < argc) {
      seed = std::strtoull(argv[arg + 1], nullptr, 10);
      seed_given = true;
      arg += 2;
    } else {
      return Usage();
    }
  }
  if (argc - arg < 2) return Usage();
  const char* name = argv[arg];
  const auto it = std::find_if(targets.begin(), targets.end(),
                               [&](const auto& t) { return std::strcmp(t.name, name) == 0; });
  if (it == targets.end()) {
    std::fprintf(stderr, "fuzz_replay: unknown target %s\n", name);
    return 2;
  }
  std::vector<Input> corpus;
  std::size_t largest = 0;
  for (int i = arg + 1; i < argc; ++i) {
    const fs::path path(argv[i]);
    if (!fs::exists(path)) {
      std::fprintf(stderr, "fuzz_replay: %s does not exist\n", argv[i]);
      return 2;
    }
    for (const fs::path& input : Inputs(path)) {
      std::ifstream in(input, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "fuzz_replay: cannot read %s\n", input.c_str());
        return 2;
      }
      std::printf("%s: %s (%zu bytes)\n", name, input.c_str(), bytes.size());
      std::fflush(stdout);
      // A copy of exactly `size` bytes, as libFuzzer passes: ASan sees reads past the end.
      corpus.emplace_back(bytes.begin(), bytes.end());
      (void)it->entry(corpus.back().data(), corpus.back().size());
      largest = std::max(largest, bytes.size());
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "fuzz_replay: no inputs for %s\n", name);
    return 2;
  }
  std::printf("fuzz_replay: %s ran %zu input(s) clean\n", name, corpus.size());
  if (mutate_seconds <= 0) return 0;

  if (!seed_given) {
    if (const char* env = std::getenv("CB_FUZZ_SEED"); env && *env) {
      seed = std::strtoull(env, nullptr, 10);
    } else {
      seed =
          static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    }
  }
  std::printf("fuzz_replay: mutating %s for %.0f s, seed %llu (repeat: --seed %llu)\n", name,
              mutate_seconds, static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(&WriteCurrentInput);
  std::signal(SIGALRM, &OnAlarm);
  // Grown inputs stay near the corpus' sizes: the parsers' own size limits
  // are reached from the seeds, not from megabytes of noise.
  Mutator mutator(seed, corpus, std::max<std::size_t>(4096, largest + largest / 4));
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(mutate_seconds));
  std::uint64_t runs = 0;
  Input input;
  while (std::chrono::steady_clock::now() < deadline) {
    input = mutator.Next();
    g_current.data = &input;
    std::snprintf(g_current.path, sizeof g_current.path, "fuzz-crash-%s-%llu-%llu", name,
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(runs));
    ::alarm(10);
    (void)it->entry(input.data(), input.size());
    ::alarm(0);
    ++runs;
  }
  g_current.data = nullptr;
  std::printf("fuzz_replay: %s: %llu mutated input(s) clean in %.0f s (seed %llu)\n", name,
              static_cast<unsigned long long>(runs), mutate_seconds,
              static_cast<unsigned long long>(seed));
  return runs > 0 ? 0 : 1;
}
