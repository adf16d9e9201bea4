#include "cardbureau/encoder/keystore.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace cardbureau::encoder {
namespace {

namespace fs = std::filesystem;

const fs::path kFixture = fs::path(CARDBUREAU_SOURCE_DIR) / "fixtures/keys/keystore-test.json";

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cb-keystore-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& text, fs::perms perms) {
    const fs::path p = dir_ / "keys.json";
    std::ofstream(p) << text;
    fs::permissions(p, perms);
    return p;
  }
  fs::path CopyFixture(fs::perms perms) {
    const fs::path p = dir_ / "keystore.json";
    fs::copy_file(kFixture, p, fs::copy_options::overwrite_existing);
    fs::permissions(p, perms);
    return p;
  }

  fs::path dir_;
};

TEST_F(KeystoreTest, LoadsTheTestKeystoreWhenOwnerOnly) {
  const fs::path p = CopyFixture(fs::perms::owner_read | fs::perms::owner_write);
  auto keys = LoadKeystore(p);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(ToHex(keys->master_read.view()), "C15F6F43C401362CEAA3EFD1AF764C63");
  EXPECT_EQ(ToHex(keys->master_write.view()), "746CB5B36C080ED2D6F0762FEF54653D");
  EXPECT_EQ(ToHex(keys->master_mac.view()), "7B526BE5D64670C83538EF0D97A902B3");
  // Relative sign_key resolves against the keystore's folder.
  EXPECT_EQ(keys->sign_key_path, (dir_ / "qr-test-ed25519.pem").lexically_normal().string());
}

TEST_F(KeystoreTest, RefusesGroupOrOtherAccess) {
  for (fs::perms extra : {fs::perms::group_read, fs::perms::others_read, fs::perms::group_write,
                          fs::perms::others_exec}) {
    const fs::path p = CopyFixture(fs::perms::owner_read | fs::perms::owner_write | extra);
    auto keys = LoadKeystore(p);
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.status().code(), Code::kKeyFileInsecure);
    EXPECT_NE(keys.status().message().find("chmod 600"), std::string::npos);
  }
}

TEST_F(KeystoreTest, ErrorsNeverQuoteKeyBytes) {
  const std::string secret = "00112233445566778899AABBCCDDEEF";  // 31 digits
  const fs::path p =
      Write(R"({"master_read":")" + secret +
                R"(","master_write":"00112233445566778899AABBCCDDEEFF",)"
                R"("master_mac":"00112233445566778899AABBCCDDEEFF","sign_key":"k.pem"})",
            fs::perms::owner_read);
  auto keys = LoadKeystore(p);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), Code::kInvalidKey);
  EXPECT_EQ(keys.status().field(), "master_read");
  EXPECT_EQ(keys.status().ToString().find("0011"), std::string::npos);
}

TEST_F(KeystoreTest, MalformedFiles) {
  EXPECT_EQ(LoadKeystore(dir_ / "absent.json").status().code(), Code::kIoError);
  EXPECT_EQ(LoadKeystore(Write("{", fs::perms::owner_read)).status().code(), Code::kInvalidJson);
  auto missing = LoadKeystore(
      Write(R"({"master_read":"00112233445566778899AABBCCDDEEFF"})", fs::perms::owner_read));
  EXPECT_EQ(missing.status().code(), Code::kInvalidJson);
  auto no_sign = ParseKeystore(R"({"master_read":"00112233445566778899AABBCCDDEEFF",
      "master_write":"00112233445566778899AABBCCDDEEFF",
      "master_mac":"00112233445566778899AABBCCDDEEFF"})",
                               dir_);
  EXPECT_EQ(no_sign.status().code(), Code::kInvalidJson);
  EXPECT_EQ(no_sign.status().field(), "sign_key");
  EXPECT_EQ(LoadKeystore(Write(std::string(kMaxKeystoreBytes + 1, ' '), fs::perms::owner_read))
                .status()
                .code(),
            Code::kInputTooLarge);
}

TEST_F(KeystoreTest, AbsoluteSignKeyKept) {
  auto keys = ParseKeystore(R"({"master_read":"00112233445566778899AABBCCDDEEFF",
      "master_write":"00112233445566778899AABBCCDDEEFF",
      "master_mac":"00112233445566778899AABBCCDDEEFF","sign_key":"/etc/bureau/sign.pem"})",
                            dir_);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->sign_key_path, "/etc/bureau/sign.pem");
}

}  // namespace
}  // namespace cardbureau::encoder
