// Small file helpers shared by the integration tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cardbureau::testing {

// The whole file ("" when it cannot be read; tests assert on the content).
inline std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Copies the TEST-ONLY keystore and QR signing key (fixtures/keys/) into
// `dir` (created), mode 0600 as LoadKeystore demands.
inline void CopyTestKeys(const std::filesystem::path& source_root,
                         const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  for (const char* f : {"keystore-test.json", "qr-test-ed25519.pem"}) {
    fs::copy_file(source_root / "fixtures/keys" / f, dir / f, fs::copy_options::overwrite_existing);
    fs::permissions(dir / f, fs::perms::owner_read | fs::perms::owner_write);
  }
}

}  // namespace cardbureau::testing
