// A SoftHSM2 token made for one test: its own config and token directory
// under the test's temp dir (SOFTHSM2_CONF points there), initialised with
// softhsm2-util --init-token. Header-only; needs the Debian package
// softhsm2 (scripts/install-deps.sh): a missing package fails the test.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace cardbureau::testing {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr const char* kSoftHsmToken = "cardbureau";
inline constexpr const char* kSoftHsmPin = "1234";

class SoftHsm {
 public:
  // `dir` is created; the token is "cardbureau", user PIN 1234, written to
  // dir/token.pin (mode 0600).
  explicit SoftHsm(const std::filesystem::path& dir) : dir_(dir) {
    namespace fs = std::filesystem;
    fs::create_directories(dir_ / "tokens");
    std::ofstream(dir_ / "softhsm2.conf") << "directories.tokendir = " << (dir_ / "tokens").string()
                                          << "\nobjectstore.backend = file\nlog.level = ERROR\n"
                                             "slots.removable = false\n";
    ::setenv("SOFTHSM2_CONF", (dir_ / "softhsm2.conf").c_str(), 1);
    {
      std::ofstream pin(pin_file());
      pin << kSoftHsmPin << "\n";
    }
    fs::permissions(pin_file(), fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_TRUE(fs::exists(kSoftHsmModule)) << kSoftHsmModule << ": apt-get install softhsm2";
    const std::string cmd = std::string("softhsm2-util --init-token --free --label ") +
                            kSoftHsmToken + " --so-pin 0000 --pin " + kSoftHsmPin + " >" +
                            (dir_ / "init.log").string() + " 2>&1";
    ok_ = std::system(cmd.c_str()) == 0;
    EXPECT_TRUE(ok_) << "softhsm2-util --init-token failed (see " << (dir_ / "init.log") << ")";
  }
  bool ok() const { return ok_; }
  std::filesystem::path pin_file() const { return dir_ / "token.pin"; }
  std::filesystem::path token_dir() const { return dir_ / "tokens"; }

 private:
  std::filesystem::path dir_;
  bool ok_ = false;
};

}  // namespace cardbureau::testing
