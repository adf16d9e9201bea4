#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout {
namespace {

uint32_t Be32(const Bytes& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         b[at + 3];
}

cv::Mat Decode(const Bytes& png, int flags) {
  return cv::imdecode(
      cv::Mat(1, static_cast<int>(png.size()), CV_8UC1, const_cast<uint8_t*>(png.data())), flags);
}

TEST(EncodePngTest, ColourRoundTripsExactly) {
  cv::RNG rng(7);
  for (cv::Size size : {cv::Size(1, 1), cv::Size(37, 13), cv::Size(1016, 648)}) {
    cv::Mat img(size, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);
    // Flat runs of a non-grey colour, as on a card face.
    img(cv::Rect(0, 0, size.width, size.height / 2)).setTo(cv::Scalar(0, 196, 245));
    auto png = EncodePng(img);
    ASSERT_TRUE(png.ok()) << png.status();
    const cv::Mat back = Decode(*png, cv::IMREAD_UNCHANGED);  // libpng checks every CRC
    ASSERT_EQ(back.size(), size);
    ASSERT_EQ(back.type(), CV_8UC3);
    EXPECT_EQ(cv::norm(back, img, cv::NORM_INF), 0) << size;
    // IHDR: 8-bit truecolour; the file ends with IEND.
    EXPECT_EQ(Be32(*png, 16), static_cast<uint32_t>(size.width));
    EXPECT_EQ(Be32(*png, 20), static_cast<uint32_t>(size.height));
    EXPECT_EQ((*png)[24], 8);
    EXPECT_EQ((*png)[25], 2);
    EXPECT_EQ(std::string(png->end() - 8, png->end() - 4), "IEND");
  }
}

TEST(EncodePngTest, MasksAreOneBitAndFlatFacesAreSmall) {
  cv::Mat mask = cv::Mat::zeros(29, 45, CV_8UC1);  // width not a multiple of 8
  cv::RNG rng(3);
  for (int i = 0; i < 300; ++i) mask.at<uint8_t>(rng.uniform(0, 29), rng.uniform(0, 45)) = 255;
  mask.at<uint8_t>(0, 44) = 1;  // any nonzero value is "print"
  auto png = EncodePng(mask);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ((*png)[24], 1);  // bit depth
  EXPECT_EQ((*png)[25], 0);  // grey
  const cv::Mat back = Decode(*png, cv::IMREAD_GRAYSCALE);
  ASSERT_EQ(back.size(), mask.size());
  EXPECT_EQ(cv::countNonZero(back != (mask != 0)), 0);
  // A flat 1016 x 648 face compresses to almost nothing.
  auto flat = EncodePng(cv::Mat(648, 1016, CV_8UC3, cv::Scalar(0, 196, 245)));
  ASSERT_TRUE(flat.ok());
  EXPECT_LT(flat->size(), 20000u);
}

TEST(EncodePngTest, RefusesOtherImageTypes) {
  EXPECT_EQ(EncodePng(cv::Mat()).status().code(), Code::kInternal);
  EXPECT_EQ(EncodePng(cv::Mat(4, 4, CV_16UC1)).status().code(), Code::kInternal);
  EXPECT_EQ(EncodePng(cv::Mat(4, 4, CV_8UC4)).status().code(), Code::kInternal);
  // A non-continuous ROI is fine.
  cv::Mat big(20, 20, CV_8UC3, cv::Scalar(1, 2, 3));
  big(cv::Rect(5, 5, 3, 3)).setTo(cv::Scalar(9, 8, 7));
  auto png = EncodePng(big(cv::Rect(4, 4, 6, 6)));
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(cv::norm(Decode(*png, cv::IMREAD_COLOR), big(cv::Rect(4, 4, 6, 6)), cv::NORM_INF), 0);
}

}  // namespace
}  // namespace cardbureau::layout
