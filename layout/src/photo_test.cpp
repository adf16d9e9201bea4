#include "cardbureau/layout/photo.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace cardbureau::layout {
namespace {

Bytes ReadFixture(const std::string& name) {
  std::ifstream in(std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/photos/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

class PhotoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = PhotoProcessor::Create(PhotoConfig{});
    ASSERT_TRUE(p.ok()) << p.status();
    proc_ = std::move(p).value();
  }
  Status CheckFile(const std::string& name) { return proc_->Check(ReadFixture(name)).status(); }
  std::unique_ptr<PhotoProcessor> proc_;
};

TEST_F(PhotoTest, AstronautIsAccepted) {
  auto r = proc_->Check(ReadFixture("astronaut.png"));
  ASSERT_TRUE(r.ok()) << r.status();
  // fixtures/README: one face at about x 177, y 66, 95x95.
  const cv::Rect f = r->metrics.face;
  EXPECT_NEAR(f.x + f.width / 2.0, 177 + 47.5, 12);
  EXPECT_NEAR(f.y + f.height / 2.0, 66 + 47.5, 12);
  EXPECT_NEAR(f.width, 95, 20);
  EXPECT_EQ(r->image.cols, 512);
  auto jpg = proc_->Check(ReadFixture("astronaut.jpg"));
  EXPECT_TRUE(jpg.ok()) << jpg.status();
}

TEST_F(PhotoTest, VariantsAreRejectedWithTheirCodes) {
  EXPECT_EQ(CheckFile("astronaut-small.png").code(), Code::kPhotoTooSmall);
  EXPECT_EQ(CheckFile("astronaut-dark.png").code(), Code::kPhotoTooDark);
  EXPECT_EQ(CheckFile("astronaut-blurred.png").code(), Code::kPhotoBlurred);
  EXPECT_EQ(CheckFile("astronaut-two.png").code(), Code::kPhotoMultipleFaces);
  EXPECT_EQ(CheckFile("chelsea.png").code(), Code::kPhotoNoFace);
  EXPECT_EQ(CheckFile("coffee.png").code(), Code::kPhotoNoFace);
  EXPECT_EQ(CheckFile("astronaut-small.png").field(), "photo");
}

TEST_F(PhotoTest, ThresholdsComeFromConfig) {
  PhotoConfig lax;
  lax.min_face_px = 30;
  auto p = PhotoProcessor::Create(lax);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->Check(ReadFixture("astronaut-small.png")).ok());
  PhotoConfig strict;
  strict.min_sharpness = 1e9;
  p = PhotoProcessor::Create(strict);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Check(ReadFixture("astronaut.png")).status().code(), Code::kPhotoBlurred);
  PhotoConfig bad;
  bad.cascade_path = "/nonexistent.xml";
  EXPECT_EQ(PhotoProcessor::Create(bad).status().code(), Code::kInvalidConfig);
}

TEST(PhotoDecodeTest, RefusesNonImagesTruncatedAndHostile) {
  const PhotoConfig c;
  Bytes png = ReadFixture("astronaut.png");
  Bytes jpg = ReadFixture("astronaut.jpg");
  auto code = [&](const Bytes& b) { return DecodePhoto(b, c).status().code(); };
  EXPECT_TRUE(DecodePhoto(png, c).ok());
  EXPECT_TRUE(DecodePhoto(jpg, c).ok());
  EXPECT_EQ(code(Bytes{}), Code::kPhotoUnreadable);
  EXPECT_EQ(code(ToBytes("GIF89a.........................")), Code::kPhotoUnreadable);
  EXPECT_EQ(code(Bytes(png.begin(), png.begin() + static_cast<long>(png.size() / 2))),
            Code::kPhotoUnreadable);
  EXPECT_EQ(code(Bytes(jpg.begin(), jpg.begin() + static_cast<long>(jpg.size() / 2))),
            Code::kPhotoUnreadable);
  EXPECT_EQ(code(Bytes(png.begin(), png.begin() + 20)), Code::kPhotoUnreadable);
  // Hostile: a PNG header claiming 100000 x 100000 pixels is refused from
  // the header alone, before any allocation.
  Bytes huge = png;
  const uint8_t dim[4] = {0x00, 0x01, 0x86, 0xA0};  // 100000
  std::copy(dim, dim + 4, huge.begin() + 16);
  std::copy(dim, dim + 4, huge.begin() + 20);
  const auto t0 = std::chrono::steady_clock::now();
  Status s = DecodePhoto(huge, c).status();
  EXPECT_EQ(s.code(), Code::kPhotoUnreadable);
  EXPECT_NE(s.message().find("exceeds"), std::string::npos) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  // Same for a JPEG frame header: patch the SOF0 height/width.
  Bytes hj = jpg;
  for (size_t i = 2; i + 9 < hj.size(); ++i) {
    if (hj[i] == 0xFF && hj[i + 1] == 0xC0) {
      hj[i + 5] = 0xFF; hj[i + 6] = 0xFF; hj[i + 7] = 0xFF; hj[i + 8] = 0xFF;
      break;
    }
  }
  EXPECT_EQ(code(hj), Code::kPhotoUnreadable);
  // Corrupt pixel data behind a good header and trailer.
  Bytes garbled = png;
  for (size_t i = 100; i < garbled.size() - 100; i += 7) garbled[i] ^= 0x5A;
  EXPECT_EQ(code(garbled), Code::kPhotoUnreadable);
  // Over the byte limit.
  PhotoConfig small_limit;
  small_limit.max_bytes = 1000;
  EXPECT_EQ(DecodePhoto(png, small_limit).status().code(), Code::kPhotoUnreadable);
}

TEST(PhotoDecodeTest, ReadsDimensionsFromHeaders) {
  PhotoConfig c;
  auto png = ReadImageInfo(ReadFixture("astronaut.png"), c);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->format, PhotoFormat::kPng);
  EXPECT_EQ(png->width, 512);
  EXPECT_EQ(png->height, 512);
  auto jpg = ReadImageInfo(ReadFixture("astronaut.jpg"), c);
  ASSERT_TRUE(jpg.ok()) << jpg.status();
  EXPECT_EQ(jpg->format, PhotoFormat::kJpeg);
  EXPECT_EQ(jpg->width, 512);
  c.max_width = 511;
  EXPECT_EQ(ReadImageInfo(ReadFixture("astronaut.png"), c).status().code(), Code::kPhotoUnreadable);
}

TEST_F(PhotoTest, CropPutsTheFaceAtTheDocumentedPlaceWithoutStretching) {
  // A synthetic "face": a white square on grey; the crop must map it to a
  // square of face_width_fraction * box width centred at (0.5, face_center_y).
  CheckedPhoto photo;
  photo.image = cv::Mat(400, 300, CV_8UC3, cv::Scalar(60, 60, 60));
  photo.metrics.face = cv::Rect(100, 80, 80, 80);
  photo.image(photo.metrics.face).setTo(cv::Scalar(255, 255, 255));
  const cv::Size box(210, 270);
  cv::Mat out = proc_->Crop(photo, box);
  ASSERT_EQ(out.size(), box);
  cv::Mat gray;
  cv::cvtColor(out, gray, cv::COLOR_BGR2GRAY);
  const cv::Rect r = cv::boundingRect(gray > 160);
  const PhotoConfig& c = proc_->config();
  EXPECT_NEAR(r.width, c.face_width_fraction * box.width, 2);
  EXPECT_NEAR(r.height, r.width, 2);  // not stretched
  EXPECT_NEAR(r.x + r.width / 2.0, box.width / 2.0, 2);
  EXPECT_NEAR(r.y + r.height / 2.0, c.face_center_y * box.height, 2);
}

}  // namespace
}  // namespace cardbureau::layout
