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

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"

namespace cardbureau::layout {

class HaarCascade;  // layout/src/haar_detector.h (private to layout)

struct PhotoMetrics {
  cv::Rect face;         // in decoded-image pixels (see `reduction`)
  double face_luma = 0;  // mean luma of the face box
  double sharpness = 0;  // Laplacian variance (see PhotoConfig)
  int reduction = 1;     // the image was decoded at 1/reduction of its size
};

// A bounded, thread-safe LRU cache of photo check results, so that a retry
// or a reissue of a job whose photo was already checked (at intake, or by an
// earlier attempt) does not decode, detect and gate it again. Keyed by the
// SHA-256 of the photo bytes plus every PhotoConfig setting that affects the
// result (PhotoProcessor::CacheKey). Holds per key the verdict (metrics, or
// the face-gate refusal: NO_FACE, MULTIPLE_FACES, TOO_SMALL, TOO_DARK,
// BLURRED; never UNREADABLE) and, per photo box size, the crop (BGR).
// Bounded by entries (least recently used go first) and by crop bytes
// (least recently used crops are dropped first, their verdicts kept). The crops are minors' photos:
// kept in memory only, never logged or written. Cached Mats are immutable: copy before drawing on
// them.
class PhotoCheckCache {
 public:
  struct Limits {
    size_t max_entries = 4096;
    size_t max_crop_bytes = size_t{64} << 20;
  };
  struct Stats {
    size_t entries = 0;
    size_t crop_bytes = 0;
    uint64_t hits = 0;    // Find() that returned a verdict
    uint64_t misses = 0;  // Find() that did not
  };
  struct Found {
    Status status;         // OK, or the cached PHOTO_* refusal
    PhotoMetrics metrics;  // when status is OK
    cv::Mat crop;          // empty when not cached for the asked box size
  };

  explicit PhotoCheckCache(Limits limits);
  PhotoCheckCache() : PhotoCheckCache(Limits{}) {}
  PhotoCheckCache(const PhotoCheckCache&) = delete;
  PhotoCheckCache& operator=(const PhotoCheckCache&) = delete;

  // The process-wide cache PhotoConfig uses by default (default limits).
  static const std::shared_ptr<PhotoCheckCache>& Shared();

  std::optional<Found> Find(const std::string& key, cv::Size box);
  // Records a verdict: OK with metrics, or a refusal (any status).
  void PutVerdict(const std::string& key, const Status& status, const PhotoMetrics& metrics);
  // Adds a crop to an existing OK verdict (ignored otherwise, or when the
  // crop alone is over the byte limit).
  void PutCrop(const std::string& key, cv::Size box, const cv::Mat& crop);
  void Clear();
  // Forgets every entry of the photo whose SHA-256 is `sha256_hex` (all
  // settings' verdicts and crops): the retention purge of a job calls it so
  // no copy of a purged child's photo outlives the purge. Returns how many
  // entries went.
  size_t EvictPhoto(std::string_view sha256_hex);
  Stats stats() const;

 private:
  struct Entry {
    std::string key;
    Status status;
    PhotoMetrics metrics;
    std::vector<std::pair<cv::Size, cv::Mat>> crops;
    size_t bytes = 0;
  };
  void EvictLocked();

  const Limits limits_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

struct PhotoConfig {
  size_t max_bytes = kMaxPhotoBytes;
  int max_width = 4096;  // from the header, before decoding
  int max_height = 4096;
  int min_side = 64;  // smaller images are PHOTO_UNREADABLE
  // Detection runs on a copy whose shorter side is at most this (speed).
  int detect_max_side = 160;
  // A JPEG whose shorter side is at least twice this is decoded at 1/2,
  // 1/4 or 1/8 scale (libjpeg's scaled IDCT, several times faster), the
  // largest reduction that keeps the shorter side >= this. 1536 keeps a
  // face of the minimum 1/6 of the side at >= 256 px, more than the photo
  // box needs at 600 dpi. 0: always decode at full size.
  int reduce_jpeg_min_side = 1536;
  // Quality gates (measured on the face box in original pixels).
  int min_face_px = 80;         // PHOTO_TOO_SMALL below this face width
  double min_face_luma = 70.0;  // PHOTO_TOO_DARK below this mean luma (0..255)
  double min_sharpness = 60.0;  // PHOTO_BLURRED below this Laplacian variance
                                // (face box resampled to 128x128, grey)
  // Crop rule.
  double face_width_fraction = 0.50;
  double face_center_y = 0.42;
  std::string cascade_path = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
  // Evaluate the cascade with HaarCascade (layout/src/haar_detector.h: the
  // same faces as OpenCV's CascadeClassifier, bit for bit, about 5x faster);
  // false, a cascade HaarCascade does not support, or an OpenCV release
  // other than the one it mirrors (4.6.0) uses CascadeClassifier. Not a
  // verdict setting: both give the same result.
  bool fast_detector = true;
  // Where check results are cached (see PhotoCheckCache); by default the
  // process-wide cache, shared by every PhotoProcessor with the same
  // settings. nullptr: no caching.
  std::shared_ptr<PhotoCheckCache> cache = PhotoCheckCache::Shared();
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
// IEND, JPEG without EOI) and anything OpenCV cannot decode. A large JPEG
// is decoded reduced (PhotoConfig::reduce_jpeg_min_side); `reduction`, when
// given, receives the factor (1, 2, 4 or 8). Pure; thread-safe. Errors:
// PHOTO_UNREADABLE.
Result<cv::Mat> DecodePhoto(ByteView bytes, const PhotoConfig& config, int* reduction = nullptr);
// Every image the program reads from a file (a card face or scan given to
// QA, a face the line reads back, a template's artwork) goes through this
// one decoder: the same header checks, pixel cap (PhotoConfig's 4096 x 4096
// by default), truncation checks and error codes as the photo pipeline, so
// no image bomb reaches a decoder and no decoder error escapes as an
// exception. `field` names the input in the Status ("face", "image",
// "scan", "template"); messages name the file. Returns BGR.
// Errors: IO_ERROR (cannot open/read), PHOTO_UNREADABLE (empty, truncated,
// not JPEG/PNG, over the byte or pixel cap, undecodable).
struct ImageFileLimits {
  size_t max_bytes = 64u << 20;
  int max_width = PhotoConfig{}.max_width;
  int max_height = PhotoConfig{}.max_height;
  int min_side = 16;
};
Result<cv::Mat> ReadImageFile(const std::string& path, const std::string& field,
                              const ImageFileLimits& limits = {});
// The same on bytes already in memory (`name` for messages).
Result<cv::Mat> DecodeImageBytes(ByteView bytes, const std::string& name, const std::string& field,
                                 const ImageFileLimits& limits = {});

// The copy faces are detected on: `gray` scaled (INTER_AREA) so that its
// shorter side is at most `max_side`, histogram-equalised; `scale`, when
// given, receives the factor applied (1 = none). Pure; thread-safe.
cv::Mat DetectionImage(const cv::Mat& gray, int max_side, double* scale = nullptr);
// The reduction DecodePhoto applies to an image of `info` (1 = none).
int JpegReduction(const ImageInfo& info, const PhotoConfig& config);

// Treat as immutable once made: with a cache_key, crops made from it are
// cached under that key.
struct CheckedPhoto {
  cv::Mat image;  // BGR, as decoded
  PhotoMetrics metrics;
  std::string cache_key;  // set by PhotoProcessor::Check when it has a cache
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
  // (field "photo"). With a cache, a photo already checked under the same
  // settings is only decoded (its verdict and metrics come from the cache).
  Result<CheckedPhoto> Check(ByteView bytes);
  // Gates on an already decoded BGR image (never cached). `reduction`: the
  // image is 1/reduction of the photo's size (the face size gate is in the
  // photo's pixels).
  Result<CheckedPhoto> CheckImage(cv::Mat bgr, int reduction = 1);
  // Check + Crop for a box of `box` pixels. With a cache, a photo checked
  // and cropped to this size before is neither decoded nor detected again;
  // the returned Mat may then be shared with the cache (read-only: copy it
  // before drawing on it). Errors: as Check.
  Result<cv::Mat> CheckAndCrop(ByteView bytes, cv::Size box);

  // The crop rule applied into a box of `box` pixels (BGR). Pure.
  cv::Mat Crop(const CheckedPhoto& photo, cv::Size box) const;
  // Crop through the cache when `photo` was checked under these settings
  // (its cache_key): a crop made before is returned shared (read-only),
  // a new one is cached for the next Prepare of the same photo.
  cv::Mat CropCached(const CheckedPhoto& photo, cv::Size box);

  // The cache key of `bytes` under this processor's settings: SHA-256 of
  // the bytes plus the settings that affect the result.
  std::string CacheKey(ByteView bytes) const;

  const PhotoConfig& config() const { return config_; }
  // "haar-avx2", "haar-generic" (HaarCascade) or "opencv" (CascadeClassifier).
  std::string detector() const;

 private:
  explicit PhotoProcessor(const PhotoConfig& c);  // out of line: HaarCascade is incomplete here
  Result<CheckedPhoto> CheckKeyed(ByteView bytes, const std::string* key);
  PhotoConfig config_;
  std::string config_fingerprint_;
  std::unique_ptr<HaarCascade> fast_;               // when it supports the cascade
  std::unique_ptr<cv::CascadeClassifier> cascade_;  // otherwise
};

}  // namespace cardbureau::layout
