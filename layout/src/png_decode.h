// Internal to the photo pipeline: the common PNG photo (8-bit grey, grey +
// alpha, RGB or RGBA, not interlaced) decoded with libdeflate and our own
// unfiltering, straight to BGR. cv::imdecode (libpng + zlib) spends ~6 ms on
// a 512 x 512 photo: zlib inflates distance-1 runs byte by byte and libpng's
// Paeth unfilter is slow. Everything else (palette, 16-bit, interlaced,
// tRNS, eXIf, odd chunk order, any error) is kNotHandled: the caller then
// asks OpenCV, so such files get exactly OpenCV's result. The pixels are
// those of cv::imdecode(IMREAD_COLOR) (photo_test.cpp compares them).
#pragma once

#include <opencv2/core.hpp>
#include <string>

#include "cardbureau/core/bytes.h"

namespace cardbureau::layout {

struct PngDecodeResult {
  bool ok = false;  // false: not handled here, use OpenCV
  cv::Mat image;    // BGR
};

PngDecodeResult DecodePngBgr(ByteView bytes);

// Every other PNG that DecodePngBgr does not take (palette, 16-bit,
// interlaced, tRNS, odd chunk order), decoded by libpng with OpenCV's
// IMREAD_COLOR transforms (strip 16, strip alpha, palette and low-depth
// grey expanded, BGR order, interlace handling), so the pixels are
// cv::imdecode's; but with our own error and warning handlers, so libpng
// never prints to stderr and a corrupt file comes back as a message.
// A PNG with an eXIf chunk is not taken (OpenCV applies its orientation):
// result kNotHandled, the caller asks OpenCV.
struct PngLibpngResult {
  enum Kind { kOk, kFailed, kNotHandled } kind = kNotHandled;
  cv::Mat image;        // BGR, when kOk
  std::string message;  // libpng's reason, when kFailed
};
PngLibpngResult DecodePngWithLibpng(ByteView bytes);

}  // namespace cardbureau::layout
