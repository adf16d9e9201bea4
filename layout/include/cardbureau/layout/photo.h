// The photo pipeline: decode (JPEG/PNG only, dimensions checked from the
// header before any pixel is decoded), find exactly one frontal face (Haar
// cascade from opencv-data), quality gates, and the crop into the photo box.
//
// Crop rule (documented contract, see layout/README.md): the crop has the photo
// box's aspect ratio; the detected face box is centred horizontally, its
// centre sits at `face_center_y` (fraction of the crop height from the top)
// and its width is `face_width_fraction` of the crop width. Scaling is
// uniform (never stretched); where the crop reaches past the image edge the
// edge pixels are replicated.
#pragma once

#include <memory>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"

namespace cardbureau::layout {

struct PhotoConfig {
  size_t max_bytes = kMaxPhotoBytes;
  int max_width = 4096;   // from the header, before decoding
  int max_height = 4096;
  int min_side = 64;      // smaller images are PHOTO_UNREADABLE
  // Detection runs on a copy whose shorter side is at most this (speed).
  int detect_max_side = 160;
  // Quality gates (measured on the face box in original pixels).
  int min_face_px = 80;          // PHOTO_TOO_SMALL below this face width
  double min_face_luma = 70.0;   // PHOTO_TOO_DARK below this mean luma (0..255)
  double min_sharpness = 60.0;   // PHOTO_BLURRED below this Laplacian variance
                                 // (face box resampled to 128x128, grey)
  // Crop rule.
  double face_width_fraction = 0.50;
  double face_center_y = 0.42;
  std::string cascade_path = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
};

struct ImageInfo {
  PhotoFormat format = PhotoFormat::kJpeg;
  int width = 0;
  int height = 0;
};

// Reads format and dimensions from the PNG IHDR or the JPEG SOFn marker.
// Pure; thread-safe. PHOTO_UNREADABLE for anything else, a truncated header,
// or (with `config`) dimensions outside the limits.
Result<ImageInfo> ReadImageInfo(ByteView bytes, const PhotoConfig& config);

// Decodes to BGR after ReadImageInfo, refusing truncated files (PNG without
// IEND, JPEG without EOI) and anything OpenCV cannot decode. Pure;
// thread-safe. Errors: PHOTO_UNREADABLE.
Result<cv::Mat> DecodePhoto(ByteView bytes, const PhotoConfig& config);

struct PhotoMetrics {
  cv::Rect face;         // in decoded-image pixels
  double face_luma = 0;  // mean luma of the face box
  double sharpness = 0;  // Laplacian variance (see PhotoConfig)
};

struct CheckedPhoto {
  cv::Mat image;  // BGR, as decoded
  PhotoMetrics metrics;
};

// Owns a cascade classifier. NOT thread-safe (OpenCV cascades are not):
// create one per worker thread.
class PhotoProcessor {
 public:
  // Errors: INVALID_CONFIG when the cascade cannot be loaded or a threshold
  // is out of range.
  static Result<std::unique_ptr<PhotoProcessor>> Create(const PhotoConfig& config);
  ~PhotoProcessor();
  PhotoProcessor(const PhotoProcessor&) = delete;
  PhotoProcessor& operator=(const PhotoProcessor&) = delete;

  // Decode + detect + gates. Errors: PHOTO_UNREADABLE, PHOTO_NO_FACE,
  // PHOTO_MULTIPLE_FACES, PHOTO_TOO_SMALL, PHOTO_TOO_DARK, PHOTO_BLURRED
  // (field "photo").
  Result<CheckedPhoto> Check(ByteView bytes);
  // Gates on an already decoded BGR image.
  Result<CheckedPhoto> CheckImage(cv::Mat bgr);

  // The crop rule applied into a box of `box` pixels (BGR). Pure.
  cv::Mat Crop(const CheckedPhoto& photo, cv::Size box) const;

  const PhotoConfig& config() const { return config_; }

 private:
  explicit PhotoProcessor(const PhotoConfig& c) : config_(c) {}
  PhotoConfig config_;
  std::unique_ptr<cv::CascadeClassifier> cascade_;
};

}  // namespace cardbureau::layout
