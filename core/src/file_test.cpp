#include "cardbureau/core/file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace cardbureau {
namespace {

TEST(ReadFileWithLimit, ReadsUpToTheLimitAndRefusesMore) {
  const auto path =
      std::filesystem::temp_directory_path() / ("cb-file-test-" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << std::string(70000, 'x');  // more than one buffer
  auto ok = ReadFileWithLimit(path.string(), 70000);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 70000u);
  EXPECT_EQ(ReadFileWithLimit(path.string(), 69999).status().code(), Code::kInputTooLarge);
  std::filesystem::remove(path);
  EXPECT_EQ(ReadFileWithLimit(path.string(), 10).status().code(), Code::kIoError);
}

}  // namespace
}  // namespace cardbureau
