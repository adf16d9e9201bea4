// fuzz_replay TARGET PATH...: runs the fuzz target's entry point once on
// every file under each PATH (a file or a directory, recursively, in name
// order), as libFuzzer does when given a corpus without -runs. Any sanitizer
// report aborts the process (the ctest entry fails); a missing PATH, an empty
// input set or an unknown TARGET is a failure too (exit 2), so a corpus that
// moved cannot turn the test into a no-op.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_registry.h"

namespace fs = std::filesystem;

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  const auto& targets = cardbureau::testing::FuzzTargets();
  if (argc < 3) {
    std::fprintf(stderr, "usage: fuzz_replay TARGET PATH...\ntargets:");
    for (const auto& t : targets) std::fprintf(stderr, " %s", t.name);
    std::fprintf(stderr, "\n");
    return 2;
  }
  const auto it = std::find_if(targets.begin(), targets.end(),
                               [&](const auto& t) { return std::strcmp(t.name, argv[1]) == 0; });
  if (it == targets.end()) {
    std::fprintf(stderr, "fuzz_replay: unknown target %s\n", argv[1]);
    return 2;
  }
  std::size_t count = 0;
  for (int i = 2; i < argc; ++i) {
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
      std::printf("%s: %s (%zu bytes)\n", argv[1], input.c_str(), bytes.size());
      std::fflush(stdout);
      // A copy of exactly `size` bytes, as libFuzzer passes: ASan sees reads past the end.
      std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
      (void)it->entry(data.data(), data.size());
      ++count;
    }
  }
  if (count == 0) {
    std::fprintf(stderr, "fuzz_replay: no inputs for %s\n", argv[1]);
    return 2;
  }
  std::printf("fuzz_replay: %s ran %zu input(s) clean\n", argv[1], count);
  return 0;
}
