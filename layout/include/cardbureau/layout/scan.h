// Scan QA: find a printed card in a photo or flatbed scan of its front,
// rectify it to the template's raster, and compare it field by field with
// the face re-rendered for the expected job (docs/qa.md). Thresholds:
// scan_thresholds.h.
#pragma once

#include <array>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "cardbureau/core/status.h"
#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout {

// What the capture is rectified to: a raster of `size` whose card (ID-1)
// occupies `card` (the renderer's profile: the card centred, bleed around).
struct ScanTarget {
  cv::Size size;
  cv::Rect2d card;
  // The expected face at `size` (BGR): picks the card among candidate
  // quadrilaterals, resolves the 180-degree ambiguity and refines the
  // alignment. `mask` (CV_8UC1, `size`, 0 = ignore, e.g. the QR box) is
  // optional.
  cv::Mat reference;
  cv::Mat mask;
  // Edges of full-width blocks as fractions of the card height, 0 and 1
  // included (the bands of bjt-student): a quadrilateral found between two
  // of them (a card edge lost in the background) still places the card.
  std::vector<double> splits;
};

// The target of a renderer's profile with the prepared face as reference
// (the QR box masked out).
ScanTarget MakeScanTarget(const CardRenderer& renderer, const cv::Mat& expected_front);

struct RectifiedScan {
  cv::Mat card;                          // BGR, target.size
  std::array<cv::Point2f, 4> corners{};  // TL, TR, BR, BL of the card in the capture
  cv::Mat homography;                    // capture -> target (CV_64F 3x3)
  bool rotated180 = false;               // the card lay upside down
  double card_long_side_px = 0;          // in the capture
  double match = 0;                      // NCC with the reference (kMinCardMatch)
  double sharpness = 0;                  // ratio to the reference (kMinSharpnessRatio)
  double white_luma = 0;                 // of the card background in the capture
};

// Finds the card in `capture` (BGR) and warps it to the target. Errors:
// SCAN_UNUSABLE (field "scan") saying which: "no card found", "card too
// small", "too dark", "too blurred".
Result<RectifiedScan> RectifyScan(const cv::Mat& capture, const ScanTarget& target);

// One field's verdict. score and threshold as in scan_thresholds.h (lower
// is better; pass when score <= threshold).
struct FieldVerdict {
  std::string field;  // name, school, gender, education_id, card_no, valid_until, level, photo, qr
  double score = 0;
  double threshold = 0;
  bool pass = false;
  std::string detail;  // why it failed (never the personal data itself)
};

struct ScanComparison {
  RectifiedScan scan;
  std::vector<FieldVerdict> fields;  // every field but qr (see QA, which adds it)
  // The QR payload decoded from the scan ("" when none could be read) and
  // the decoder that read it ("opencv" or "zbar").
  std::string qr_payload;
  std::string qr_decoder;
  bool ok() const;
};

// Compares a capture with the prepared (QR-less) front of the expected job
// rendered by `renderer` (same template and profile as the printed card).
// The QR is decoded (OpenCV's wechat_qrcode, zbar where it fails) but not
// judged: the caller checks the payload's signature and claims. Errors:
// SCAN_UNUSABLE.
Result<ScanComparison> CompareScan(const cv::Mat& capture, const CardRenderer& renderer,
                                   const PreparedCard& expected);

// Decodes the QR in a rectified face: OpenCV's wechat_qrcode on the QR
// box, then zbar on the box and on the whole face. Sets `decoder`.
Result<std::string> DecodeScanQr(const cv::Mat& face, const cv::Rect& qr_box,
                                 std::string* decoder = nullptr);

}  // namespace cardbureau::layout
