#include "cardbureau/devices/card_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cardbureau/devices/blank_stock.h"

namespace cardbureau::devices {
namespace {

class CardImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cb-card-image-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(CardImageTest, RoundTripsBothSizes) {
  for (auto kind : {StockKind::kBjt1k, StockKind::kBjt4k}) {
    const Bytes image = MakeBlankStock(kind, 11);
    const std::string path = Path("card.mfd");
    ASSERT_TRUE(SaveCardImage(path, image).ok());
    auto back = LoadCardImage(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, image);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  }
}

TEST_F(CardImageTest, Errors) {
  EXPECT_EQ(LoadCardImage(Path("missing.mfd")).status().code(), Code::kNotFound);
  {
    std::ofstream out(Path("short.mfd"), std::ios::binary);
    out << std::string(1000, 'x');
  }
  EXPECT_EQ(LoadCardImage(Path("short.mfd")).status().code(), Code::kInvalidField);
  {
    std::ofstream out(Path("long.mfd"), std::ios::binary);
    out << std::string(5000, 'x');
  }
  EXPECT_EQ(LoadCardImage(Path("long.mfd")).status().code(), Code::kInvalidField);
  EXPECT_EQ(SaveCardImage(Path("x.mfd"), Bytes(100)).code(), Code::kInvalidField);
  EXPECT_EQ(SaveCardImage(Path("no/such/dir/x.mfd"), Bytes(1024)).code(), Code::kIoError);
}

}  // namespace
}  // namespace cardbureau::devices
