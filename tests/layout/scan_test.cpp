// Scan QA: find, rectify and compare simulated captures of printed fronts.
// A small deterministic subset of the evaluation (scan_eval runs the full
// set; docs/qa.md has its figures).
#include "cardbureau/layout/scan.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <opencv2/imgcodecs.hpp>

#include "scan_fixtures.h"

namespace cardbureau::layout {
namespace {

using namespace cardbureau::layout::testing;

class ScanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { renderer_ = MakeRenderer().release(); }
  static void TearDownTestSuite() {
    delete renderer_;
    renderer_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(renderer_, nullptr); }

  cv::Rect2d CardRect() const { return MakeScanTarget(*renderer_, cv::Mat()).card; }

  // The capture as the program reads it: bytes through the one decoder.
  Result<cv::Mat> Capture(const ScanCase& c, const CaptureParams& p) {
    const std::vector<uchar> bytes = SimulateCapture(c.printed, CardRect(), p);
    if (const char* dir = std::getenv("CB_SCAN_DUMP")) {
      // Debugging aid: every capture as a small PNG.
      cv::Mat m = cv::imdecode(bytes, cv::IMREAD_COLOR), small;
      cv::resize(m, small, cv::Size(), 800.0 / m.cols, 800.0 / m.cols, cv::INTER_AREA);
      cv::imwrite(std::string(dir) + "/capture-" + std::to_string(p.seed) + ".png", small);
    }
    return DecodeImageBytes(ByteView(bytes.data(), bytes.size()), "capture", "scan");
  }

  static CardRenderer* renderer_;
  QrSigner signer_ = TestSigner();
};
CardRenderer* ScanTest::renderer_ = nullptr;

TEST_F(ScanTest, GenuinePhotosAndScansPassEveryField) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const bool flatbed = seed % 4 == 0;
    auto c = MakeScanCase(*renderer_, signer_, seed, "");
    ASSERT_TRUE(c.ok()) << c.status();
    const CaptureParams p = RandomCapture(seed, flatbed, 1800);
    auto img = Capture(*c, p);
    ASSERT_TRUE(img.ok()) << img.status();
    auto cmp = CompareScan(*img, *renderer_, c->expected);
    ASSERT_TRUE(cmp.ok()) << p.Describe() << ": " << cmp.status();
    EXPECT_EQ(cmp->fields.size(), 8u);
    for (const auto& f : cmp->fields) {
      EXPECT_TRUE(f.pass) << p.Describe() << ": " << f.field << " " << f.score << " > "
                          << f.threshold;
    }
    EXPECT_EQ(cmp->qr_payload, c->payload) << p.Describe();
    EXPECT_EQ(FailedFields(*cmp, c->payload), "") << p.Describe();
  }
}

TEST_F(ScanTest, EachTamperFailsItsOwnField) {
  uint64_t seed = 100;
  for (const std::string& kind : TamperKinds()) {
    ++seed;
    auto c = MakeScanCase(*renderer_, signer_, seed, kind);
    ASSERT_TRUE(c.ok()) << kind << ": " << c.status();
    const CaptureParams p = RandomCapture(seed, false, 1800);
    auto img = Capture(*c, p);
    ASSERT_TRUE(img.ok()) << img.status();
    auto cmp = CompareScan(*img, *renderer_, c->expected);
    ASSERT_TRUE(cmp.ok()) << kind << " " << p.Describe() << ": " << cmp.status();
    const std::string failed = FailedFields(*cmp, c->payload);
    // The tampered field fails; a level or photo tamper may drag the
    // alignment and fail text fields too (docs/qa.md), any other only itself.
    if (kind == "level" || kind == "photo") {
      EXPECT_NE(("," + failed + ",").find("," + kind + ","), std::string::npos)
          << kind << " -> [" << failed << "] " << p.Describe();
    } else {
      EXPECT_EQ(failed, kind) << p.Describe();
    }
  }
}

TEST_F(ScanTest, UpsideDownCardIsTurnedRound) {
  auto c = MakeScanCase(*renderer_, signer_, 7, "");
  ASSERT_TRUE(c.ok()) << c.status();
  CaptureParams p = RandomCapture(7, false, 1600);
  p.rotation_deg = 180;
  p.tilt_deg = 20;
  auto img = Capture(*c, p);
  ASSERT_TRUE(img.ok());
  auto cmp = CompareScan(*img, *renderer_, c->expected);
  ASSERT_TRUE(cmp.ok()) << cmp.status();
  EXPECT_TRUE(cmp->scan.rotated180);
  EXPECT_EQ(FailedFields(*cmp, c->payload), "");
}

TEST_F(ScanTest, UnusableCapturesSayWhy) {
  auto c = MakeScanCase(*renderer_, signer_, 3, "");
  ASSERT_TRUE(c.ok()) << c.status();
  struct Case {
    const char* why;
    CaptureParams p;
  };
  CaptureParams base = RandomCapture(3, false, 1600);
  base.background = Background::kWood;
  CaptureParams tiny = base, dark = base, blurred = base;
  tiny.card_fraction = 0.2;
  tiny.tilt_deg = 0;
  dark.exposure = 0.1;
  dark.noise_sigma = 1;
  blurred.blur_sigma = 9;
  for (const Case& k :
       {Case{"card too small", tiny}, Case{"too dark", dark}, Case{"too blurred", blurred}}) {
    auto img = Capture(*c, k.p);
    ASSERT_TRUE(img.ok());
    auto cmp = CompareScan(*img, *renderer_, c->expected);
    ASSERT_FALSE(cmp.ok()) << k.why;
    EXPECT_EQ(cmp.status().code(), Code::kScanUnusable) << k.why << ": " << cmp.status();
    EXPECT_NE(cmp.status().message().find(k.why), std::string::npos) << cmp.status();
  }
  // No card at all: the background alone.
  cv::Mat wood(1200, 1600, CV_8UC3, cv::Scalar(60, 100, 150));
  cv::randn(wood, cv::Scalar(60, 100, 150), cv::Scalar(10, 10, 10));
  auto cmp = CompareScan(wood, *renderer_, c->expected);
  ASSERT_FALSE(cmp.ok());
  EXPECT_EQ(cmp.status().code(), Code::kScanUnusable);
  EXPECT_NE(cmp.status().message().find("no card found"), std::string::npos) << cmp.status();
}

}  // namespace
}  // namespace cardbureau::layout
