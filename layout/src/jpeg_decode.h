// Internal to the photo pipeline: JPEG straight to BGR with libjpeg-turbo.
// cv::imdecode in OpenCV 4.6 decodes to RGB and swaps every pixel in a
// byte loop (13% of a cold card); here libjpeg-turbo writes BGR itself.
// The pixels are those of cv::imdecode(IMREAD_COLOR / IMREAD_REDUCED_*),
// EXIF orientation included (photo_test.cpp compares them).
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

#include "cardbureau/core/bytes.h"

namespace cardbureau::layout {

struct JpegDecodeResult {
  enum { kOk, kFailed, kNotHandled } status = kFailed;
  cv::Mat image;        // BGR, after the EXIF orientation
  std::string message;  // libjpeg's, when kFailed
};

// `reduction`: 1, 2, 4 or 8 (libjpeg's scaled IDCT). kNotHandled for
// four-component (CMYK) files, which the caller leaves to OpenCV.
JpegDecodeResult DecodeJpegBgr(ByteView bytes, int reduction);

// The orientation (1..8) in an APP1 segment's payload, 1 when there is
// none or it cannot be read. Exposed for tests.
int ExifOrientation(const uint8_t* app1, size_t size);
// cv::Mat in place, as OpenCV's ExifTransform.
void ApplyOrientation(int orientation, cv::Mat& img);

}  // namespace cardbureau::layout
