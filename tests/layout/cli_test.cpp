// Integration: `cardbureau render` and `cardbureau qr-verify`, run through
// the layout module's Command table (the same functions main.cpp calls).
#include <gtest/gtest.h>

#include <filesystem>

#include "cardbureau/layout/commands.h"
#include "cardbureau/testing/commands.h"
#include "layout_fixtures.h"

namespace cardbureau::layout {
namespace {

using namespace cardbureau::layout::testing;

using cardbureau::testing::RunCommand;

const std::string kOut = std::string(CARDBUREAU_BINARY_DIR) + "/layout-test-out/cli";
const std::string kKey = TestSignKeyPath();
const std::string kPub = kSource + "/fixtures/keys/qr-test-ed25519.pub.pem";

TEST(LayoutCliTest, RenderWritesEverythingAndQrVerifies) {
  std::filesystem::remove_all(kOut);
  const std::string out = kOut + "/ok";
  ::testing::internal::CaptureStdout();
  int rc = RunCommand(Commands(), "render",
                      {kSource + "/fixtures/jobs/valid-extb-fallback-font.json", "--photo",
                       kSource + "/fixtures/photos/astronaut.png", "--out", out, "--uid",
                       "04a1b2c3", "--sign-key", kKey, "--today", "2026-11-25"});
  const std::string stdout_text = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << stdout_text;
  for (const char* f : {"front.png", "back.png", "front-k.png", "back-k.png", "front.rgb",
                        "back.rgb", "front-k.bin", "back-k.bin", "proof.pdf"}) {
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  }
  ::testing::internal::CaptureStdout();
  rc = RunCommand(Commands(), "qr-verify",
                  {"--image", out + "/front.png", "--pubkey", kPub, "--uid", "04A1B2C3"});
  const std::string claims = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0);
  EXPECT_NE(claims.find("\"uid\":\"04A1B2C3\""), std::string::npos) << claims;
  ::testing::internal::CaptureStderr();
  rc = RunCommand(Commands(), "qr-verify",
                  {"--image", out + "/front.png", "--pubkey", kPub, "--uid", "04FFFFFF"});
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("VERIFY_MISMATCH"), std::string::npos);
  EXPECT_EQ(rc, 1);
}

TEST(LayoutCliTest, RefusedJobsExitOneWithTheCode) {
  struct Case {
    std::string job, photo, code;
  };
  const std::vector<Case> cases = {
      {"name-unrenderable-ext-b.json", "astronaut.png", "UNRENDERABLE_GLYPH student.name"},
      {"photo-no-face-cat.json", "chelsea.png", "PHOTO_NO_FACE photo"},
      {"education-id-7-digits.json", "astronaut.png", "INVALID_FIELD"},
  };
  for (const auto& c : cases) {
    ::testing::internal::CaptureStderr();
    int rc = RunCommand(
        Commands(), "render",
        {kSource + "/fixtures/jobs/" + c.job, "--photo", kSource + "/fixtures/photos/" + c.photo,
         "--out", kOut + "/refused", "--sign-key", kKey, "--today", "2026-11-25"});
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(rc, 1) << c.job << ": " << err;
    EXPECT_NE(err.find(c.code), std::string::npos) << c.job << ": " << err;
  }
  EXPECT_FALSE(std::filesystem::exists(kOut + "/refused/front.png"));
}

TEST(LayoutCliTest, UsageErrorsAndHelp) {
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunCommand(Commands(), "render", {"--help"}), 0);
  EXPECT_NE(::testing::internal::GetCapturedStdout().find("--photo"), std::string::npos);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunCommand(Commands(), "render", {"job.json"}), 2);
  EXPECT_EQ(RunCommand(Commands(), "render",
                       {"job.json", "--photo", "p", "--out", "o", "--profile", "x"}),
            2);
  EXPECT_EQ(RunCommand(Commands(), "qr-verify", {"--pubkey", kPub}), 2);
  ::testing::internal::GetCapturedStderr();
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunCommand(Commands(), "qr-verify", {"--help"}), 0);
  ::testing::internal::GetCapturedStdout();
}

}  // namespace
}  // namespace cardbureau::layout
