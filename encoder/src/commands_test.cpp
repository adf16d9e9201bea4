#include "cardbureau/encoder/commands.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cardbureau/testing/commands.h"

namespace cardbureau::encoder {
namespace {

namespace fs = std::filesystem;

using cardbureau::testing::RunCommand;

TEST(EncoderCommandsTest, HelpAndUsage) {
  EXPECT_EQ(RunCommand(Commands(), "encode", {"--help"}), 0);
  EXPECT_EQ(RunCommand(Commands(), "read", {"--help"}), 0);
  EXPECT_EQ(RunCommand(Commands(), "encode", {"--reader", "X"}), 2);
  EXPECT_EQ(RunCommand(Commands(), "encode", {"--bogus"}), 2);
  EXPECT_EQ(RunCommand(Commands(), "read", {}), 2);
  EXPECT_EQ(RunCommand(Commands(), "encode",
                       {"--reader", "X", "--job", "j", "--keys", "k", "--issued-on", "2026-13-01"}),
            2);
}

TEST(EncoderCommandsTest, InsecureKeyFileIsRefusedBeforeWaitingForACard) {
  const fs::path dir = fs::temp_directory_path() / ("cb-enc-cli-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path keys = dir / "keys.json";
  fs::copy_file(fs::path(CARDBUREAU_SOURCE_DIR) / "fixtures/keys/keystore-test.json", keys,
                fs::copy_options::overwrite_existing);
  fs::permissions(keys, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const std::string job =
      std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/jobs/valid-junior-reissue.json";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunCommand(Commands(), "encode",
                       {"--reader", "no such reader", "--job", job, "--keys", keys.string(),
                        "--timeout", "1"}),
            1);
  EXPECT_EQ(RunCommand(Commands(), "read",
                       {"--reader", "no such reader", "--keys", keys.string(), "--timeout", "1"}),
            1);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("KEY_FILE_INSECURE"), std::string::npos) << err;
  EXPECT_NE(err.find("chmod 600"), std::string::npos) << err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::encoder
