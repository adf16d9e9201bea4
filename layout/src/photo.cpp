#include "cardbureau/layout/photo.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "cardbureau/core/file.h"
#include "haar_detector.h"
#include "jpeg_decode.h"
#include "png_decode.h"

namespace cardbureau::layout {
namespace {

Status Unreadable(const std::string& msg) { return Status(Code::kPhotoUnreadable, msg, "photo"); }

uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

const uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

Result<ImageInfo> PngInfo(ByteView b) {
  // magic(8) + IHDR length(4) "IHDR"(4) width(4) height(4)
  if (b.size() < 8 + 8 + 13 + 4) return Unreadable("truncated PNG header");
  if (Be32(b.data() + 8) != 13 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) {
    return Unreadable("PNG does not start with IHDR");
  }
  ImageInfo info;
  info.format = PhotoFormat::kPng;
  uint32_t w = Be32(b.data() + 16), h = Be32(b.data() + 20);
  if (w > 1u << 24 || h > 1u << 24) return Unreadable("PNG dimensions out of range");
  info.width = static_cast<int>(w);
  info.height = static_cast<int>(h);
  // A complete PNG ends with the IEND chunk: length 0, "IEND", CRC AE426082.
  static const uint8_t kIend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  if (std::memcmp(b.data() + b.size() - 12, kIend, 12) != 0) {
    return Unreadable("truncated PNG (no IEND)");
  }
  return info;
}

Result<ImageInfo> JpegInfo(ByteView b) {
  size_t i = 2;
  while (true) {
    if (i + 4 > b.size()) return Unreadable("truncated JPEG (no frame header)");
    if (b[i] != 0xFF) return Unreadable("corrupt JPEG marker");
    uint8_t m = b[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
      i += 2;
      continue;
    }
    if (m == 0xD9 || m == 0xDA) return Unreadable("JPEG without frame header");
    uint16_t len = Be16(b.data() + i + 2);
    if (len < 2) return Unreadable("corrupt JPEG segment length");
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (i + 9 > b.size() || len < 7) return Unreadable("truncated JPEG frame header");
      ImageInfo info;
      info.format = PhotoFormat::kJpeg;
      info.height = Be16(b.data() + i + 5);
      info.width = Be16(b.data() + i + 7);
      if (m != 0xC0 && m != 0xC1 && m != 0xC2) {
        return Unreadable("unsupported JPEG coding (baseline/progressive only)");
      }
      // A complete JPEG ends with EOI (FFD9), possibly followed by padding.
      size_t end = b.size();
      while (end > 2 && b[end - 1] == 0x00) --end;
      if (end < 2 || b[end - 2] != 0xFF || b[end - 1] != 0xD9) {
        return Unreadable("truncated JPEG (no EOI)");
      }
      return info;
    }
    i += 2 + static_cast<size_t>(len);
  }
}

}  // namespace

Result<ImageInfo> ReadImageInfo(ByteView bytes, const PhotoConfig& config) {
  if (bytes.size() > config.max_bytes) {
    return Unreadable("photo is over " + std::to_string(config.max_bytes) + " bytes");
  }
  Result<ImageInfo> info = Status(Code::kPhotoUnreadable, "not a JPEG or PNG", "photo");
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0) {
    info = PngInfo(bytes);
  } else if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    info = JpegInfo(bytes);
  }
  if (!info.ok()) return info;
  if (info->width < config.min_side || info->height < config.min_side) {
    return Unreadable("image " + std::to_string(info->width) + "x" + std::to_string(info->height) +
                      " is smaller than " + std::to_string(config.min_side) + " px");
  }
  if (info->width > config.max_width || info->height > config.max_height) {
    return Unreadable("image " + std::to_string(info->width) + "x" + std::to_string(info->height) +
                      " exceeds " + std::to_string(config.max_width) + "x" +
                      std::to_string(config.max_height));
  }
  return info;
}

int JpegReduction(const ImageInfo& info, const PhotoConfig& config) {
  if (info.format != PhotoFormat::kJpeg || config.reduce_jpeg_min_side <= 0) return 1;
  const int shorter = std::min(info.width, info.height);
  int n = 1;
  while (n < 8 && shorter / (2 * n) >= config.reduce_jpeg_min_side) n *= 2;
  return n;
}

Result<cv::Mat> DecodePhoto(ByteView bytes, const PhotoConfig& config, int* reduction) {
  CB_ASSIGN_OR_RETURN(ImageInfo info, ReadImageInfo(bytes, config));
  const int n = JpegReduction(info, config);
  const int flags = n == 8   ? cv::IMREAD_REDUCED_COLOR_8
                    : n == 4 ? cv::IMREAD_REDUCED_COLOR_4
                    : n == 2 ? cv::IMREAD_REDUCED_COLOR_2
                             : cv::IMREAD_COLOR;
  cv::Mat img;
  bool decoded = false;
  if (info.format == PhotoFormat::kJpeg) {
    JpegDecodeResult j = DecodeJpegBgr(bytes, n);
    if (j.status == JpegDecodeResult::kFailed) {
      return Unreadable("image decoder failed" + (j.message.empty() ? "" : ": " + j.message));
    }
    if (j.status == JpegDecodeResult::kOk) {
      img = std::move(j.image);
      decoded = true;
    }
  }
  if (info.format == PhotoFormat::kPng) {
    PngDecodeResult p = DecodePngBgr(bytes);
    if (p.ok) {
      img = std::move(p.image);
      decoded = true;
    } else {
      // libpng, silent: its messages never reach the user's terminal.
      PngLibpngResult l = DecodePngWithLibpng(bytes);
      if (l.kind == PngLibpngResult::kFailed) return Unreadable("corrupt PNG: " + l.message);
      if (l.kind == PngLibpngResult::kOk) {
        img = std::move(l.image);
        decoded = true;
      }
    }
  }
  if (!decoded) {
    try {
      // imdecode does not modify the buffer; the Mat header is read-only use.
      const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1,
                        const_cast<uint8_t*>(bytes.data()));
      img = cv::imdecode(buf, flags);
    } catch (const cv::Exception&) {
      return Unreadable("image decoder failed");
    }
  }
  if (img.empty()) return Unreadable("image could not be decoded");
  // libjpeg's scaled decode rounds up; an EXIF orientation of 5-8 swaps
  // the sides (a phone's portrait photo).
  const int w = (info.width + n - 1) / n, h = (info.height + n - 1) / n;
  if (!(img.cols == w && img.rows == h) && !(img.cols == h && img.rows == w)) {
    return Unreadable("decoded size differs from header");
  }
  if (reduction) *reduction = n;
  return img;
}

Result<cv::Mat> DecodeImageBytes(ByteView bytes, const std::string& name, const std::string& field,
                                 const ImageFileLimits& limits) {
  auto unreadable = [&](const std::string& why) {
    return Status(Code::kPhotoUnreadable, name + ": " + why, field);
  };
  if (bytes.empty()) return unreadable("the file is empty");
  PhotoConfig config;
  config.max_bytes = limits.max_bytes;
  config.max_width = limits.max_width;
  config.max_height = limits.max_height;
  config.min_side = limits.min_side;
  config.reduce_jpeg_min_side = 0;  // QA compares pixels: always full size
  auto img = DecodePhoto(bytes, config);
  if (!img.ok()) return unreadable(img.status().message());
  return img;
}

Result<cv::Mat> ReadImageFile(const std::string& path, const std::string& field,
                              const ImageFileLimits& limits) {
  auto bytes = ReadFileWithLimit(path, limits.max_bytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kInputTooLarge) {
      return Status(Code::kPhotoUnreadable,
                    path + ": over " + std::to_string(limits.max_bytes >> 20) + " MiB", field);
    }
    return Status(bytes.status().code(), bytes.status().message(), field);
  }
  return DecodeImageBytes(AsBytes(*bytes), path, field, limits);
}

cv::Mat DetectionImage(const cv::Mat& gray, int max_side, double* scale) {
  const int shorter = std::min(gray.cols, gray.rows);
  double s = 1.0;
  cv::Mat small = gray;
  if (shorter > max_side) {
    s = static_cast<double>(max_side) / shorter;
    cv::resize(gray, small, cv::Size(), s, s, cv::INTER_AREA);
  }
  cv::Mat eq;
  cv::equalizeHist(small, eq);
  if (scale) *scale = s;
  return eq;
}

// ---- PhotoCheckCache ----

PhotoCheckCache::PhotoCheckCache(Limits limits) : limits_(limits) {}

const std::shared_ptr<PhotoCheckCache>& PhotoCheckCache::Shared() {
  static const std::shared_ptr<PhotoCheckCache> shared = std::make_shared<PhotoCheckCache>();
  return shared;
}

std::optional<PhotoCheckCache::Found> PhotoCheckCache::Find(const std::string& key, cv::Size box) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  const Entry& e = *it->second;
  Found f{e.status, e.metrics, {}};
  for (const auto& [size, crop] : e.crops) {
    if (size == box) f.crop = crop;
  }
  return f;
}

void PhotoCheckCache::PutVerdict(const std::string& key, const Status& status,
                                 const PhotoMetrics& metrics) {
  if (limits_.max_entries == 0) return;
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;  // same key, same settings: the verdict cannot differ
  }
  lru_.push_front(Entry{key, status, metrics, {}, 0});
  index_.emplace(key, lru_.begin());
  EvictLocked();
}

void PhotoCheckCache::PutCrop(const std::string& key, cv::Size box, const cv::Mat& crop) {
  const size_t n = crop.total() * crop.elemSize();
  if (n > limits_.max_crop_bytes) return;
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end() || !it->second->status.ok()) return;
  Entry& e = *it->second;
  for (const auto& c : e.crops) {
    if (c.first == box) return;
  }
  e.crops.emplace_back(box, crop);
  e.bytes += n;
  bytes_ += n;
  lru_.splice(lru_.begin(), lru_, it->second);
  EvictLocked();
}

void PhotoCheckCache::EvictLocked() {
  while (lru_.size() > limits_.max_entries) {
    bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  // Over the byte limit: drop the least recently used crops first, keeping
  // their (small) verdicts, so a photo checked long ago is still not
  // detected again.
  for (auto it = lru_.rbegin(); bytes_ > limits_.max_crop_bytes && it != lru_.rend(); ++it) {
    bytes_ -= it->bytes;
    it->bytes = 0;
    it->crops.clear();
  }
}

void PhotoCheckCache::Clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  index_.clear();
  bytes_ = 0;
}

size_t PhotoCheckCache::EvictPhoto(std::string_view sha256_hex) {
  auto digest = FromHex(sha256_hex);
  if (!digest.ok() || digest->size() != 32) return 0;
  const std::string prefix(digest->begin(), digest->end());
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->key.compare(0, prefix.size(), prefix) == 0) {
      bytes_ -= it->bytes;
      index_.erase(it->key);
      it = lru_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

PhotoCheckCache::Stats PhotoCheckCache::stats() const {
  std::lock_guard lock(mu_);
  return Stats{lru_.size(), bytes_, hits_, misses_};
}

// ---- PhotoProcessor ----

Result<std::unique_ptr<PhotoProcessor>> PhotoProcessor::Create(const PhotoConfig& config) {
  if (config.detect_max_side < 64 || config.min_face_px < 24 ||
      config.face_width_fraction <= 0.05 || config.reduce_jpeg_min_side < 0 ||
      (config.reduce_jpeg_min_side > 0 &&
       config.reduce_jpeg_min_side < 4 * config.detect_max_side) ||
      config.face_width_fraction > 1.0 || config.face_center_y <= 0 || config.face_center_y >= 1) {
    return Status(Code::kInvalidConfig, "photo thresholds out of range", "photo");
  }
  std::unique_ptr<PhotoProcessor> p(new PhotoProcessor(config));
  if (config.fast_detector) {
    // A cascade HaarCascade cannot evaluate exactly, or an OpenCV release
    // it does not mirror, goes to OpenCV below.
    if (auto fast = HaarCascade::Load(config.cascade_path); fast.ok())
      p->fast_ = std::move(fast).value();
  }
  if (!p->fast_) {
    p->cascade_ = std::make_unique<cv::CascadeClassifier>();
    bool loaded = false;
    try {
      loaded = p->cascade_->load(config.cascade_path);
    } catch (const cv::Exception&) {
      loaded = false;
    }
    if (!loaded) {
      return Status(Code::kInvalidConfig, "cannot load face cascade " + config.cascade_path);
    }
  }
  // Every setting that changes a verdict or a crop (not the cache itself).
  char buf[512];
  std::snprintf(buf, sizeof buf, "|%zu|%d|%d|%d|%d|%d|%d|%.17g|%.17g|%.17g|%.17g|",
                config.max_bytes, config.max_width, config.max_height, config.min_side,
                config.detect_max_side, config.reduce_jpeg_min_side, config.min_face_px,
                config.min_face_luma, config.min_sharpness, config.face_width_fraction,
                config.face_center_y);
  p->config_fingerprint_ = buf + config.cascade_path;
  return p;
}

PhotoProcessor::PhotoProcessor(const PhotoConfig& c) : config_(c) {}

PhotoProcessor::~PhotoProcessor() = default;

std::string PhotoProcessor::detector() const {
  return fast_ ? std::string("haar-") + fast_->kernel() : std::string("opencv");
}

std::string PhotoProcessor::CacheKey(ByteView bytes) const {
  const Bytes digest = Sha256(bytes);
  std::string key(digest.begin(), digest.end());
  key += config_fingerprint_;
  return key;
}

namespace {
// Verdicts worth remembering: a deterministic function of bytes + settings.
// PHOTO_UNREADABLE is not: it also covers a decoder failure that may be
// transient (memory), and such photos are refused at intake anyway.
bool IsPhotoVerdict(Code c) {
  switch (c) {
    case Code::kPhotoNoFace:
    case Code::kPhotoMultipleFaces:
    case Code::kPhotoTooSmall:
    case Code::kPhotoTooDark:
    case Code::kPhotoBlurred:
      return true;
    default:
      return false;
  }
}
}  // namespace

Result<CheckedPhoto> PhotoProcessor::Check(ByteView bytes) {
  if (!config_.cache) return CheckKeyed(bytes, nullptr);
  const std::string key = CacheKey(bytes);
  return CheckKeyed(bytes, &key);
}

Result<CheckedPhoto> PhotoProcessor::CheckKeyed(ByteView bytes, const std::string* key) {
  if (key) {
    if (auto found = config_.cache->Find(*key, cv::Size())) {
      if (!found->status.ok()) return found->status;
      CB_ASSIGN_OR_RETURN(cv::Mat img, DecodePhoto(bytes, config_));
      return CheckedPhoto{std::move(img), found->metrics, *key};
    }
  }
  Result<CheckedPhoto> checked = [&]() -> Result<CheckedPhoto> {
    int reduction = 1;
    CB_ASSIGN_OR_RETURN(cv::Mat img, DecodePhoto(bytes, config_, &reduction));
    return CheckImage(std::move(img), reduction);
  }();
  if (key) {
    if (checked.ok()) {
      checked->cache_key = *key;
      config_.cache->PutVerdict(*key, Status::Ok(), checked->metrics);
    } else if (IsPhotoVerdict(checked.status().code())) {
      config_.cache->PutVerdict(*key, checked.status(), PhotoMetrics{});
    }
  }
  return checked;
}

cv::Mat PhotoProcessor::CropCached(const CheckedPhoto& photo, cv::Size box) {
  // Only a key made under this processor's settings names this crop rule.
  const bool keyed = config_.cache && photo.cache_key.size() > 32 &&
                     photo.cache_key.compare(32, std::string::npos, config_fingerprint_) == 0;
  if (keyed) {
    if (auto found = config_.cache->Find(photo.cache_key, box); found && !found->crop.empty()) {
      return found->crop;
    }
  }
  cv::Mat crop = Crop(photo, box);
  if (keyed) config_.cache->PutCrop(photo.cache_key, box, crop);
  return crop;
}

Result<cv::Mat> PhotoProcessor::CheckAndCrop(ByteView bytes, cv::Size box) {
  if (!config_.cache) {
    CB_ASSIGN_OR_RETURN(CheckedPhoto photo, CheckKeyed(bytes, nullptr));
    return Crop(photo, box);
  }
  const std::string key = CacheKey(bytes);
  if (auto found = config_.cache->Find(key, box)) {
    if (!found->status.ok()) return found->status;
    if (!found->crop.empty()) return found->crop;
  }
  CB_ASSIGN_OR_RETURN(CheckedPhoto photo, CheckKeyed(bytes, &key));
  cv::Mat crop = Crop(photo, box);
  config_.cache->PutCrop(key, box, crop);
  return crop;
}

Result<CheckedPhoto> PhotoProcessor::CheckImage(cv::Mat bgr, int reduction) {
  if (reduction < 1) reduction = 1;
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  double scale = 1.0;
  const cv::Mat eq = DetectionImage(gray, config_.detect_max_side, &scale);
  std::vector<cv::Rect> faces;
  // A passport-style photo has its face at >= 1/6 of the shorter side;
  // smaller candidates are not searched (most of the detector's time).
  const int min_px = std::max(24, std::min(eq.cols, eq.rows) / 6);
  if (fast_) {
    fast_->Detect(eq, 1.1, 5, cv::Size(min_px, min_px), &faces);
  } else {
    cascade_->detectMultiScale(eq, faces, 1.1, 5, 0, cv::Size(min_px, min_px));
  }
  if (faces.empty()) {
    if (cv::mean(gray)[0] < config_.min_face_luma) {
      return Status(Code::kPhotoTooDark, "no face found in a very dark photo", "photo");
    }
    return Status(Code::kPhotoNoFace, "no face found", "photo");
  }
  if (faces.size() > 1) {
    return Status(Code::kPhotoMultipleFaces,
                  std::to_string(faces.size()) + " faces found; exactly one is required", "photo");
  }
  CheckedPhoto out;
  const cv::Rect f = faces[0];
  out.metrics.face = cv::Rect(static_cast<int>(std::lround(f.x / scale)),
                              static_cast<int>(std::lround(f.y / scale)),
                              static_cast<int>(std::lround(f.width / scale)),
                              static_cast<int>(std::lround(f.height / scale))) &
                     cv::Rect(0, 0, bgr.cols, bgr.rows);
  out.metrics.reduction = reduction;
  if (out.metrics.face.width * reduction < config_.min_face_px) {
    return Status(Code::kPhotoTooSmall,
                  "face is " + std::to_string(out.metrics.face.width * reduction) +
                      " px wide; at least " + std::to_string(config_.min_face_px) + " required",
                  "photo");
  }
  const cv::Mat face_gray = gray(out.metrics.face);
  out.metrics.face_luma = cv::mean(face_gray)[0];
  if (out.metrics.face_luma < config_.min_face_luma) {
    return Status(Code::kPhotoTooDark,
                  "face brightness " + std::to_string(static_cast<int>(out.metrics.face_luma)) +
                      " is under " + std::to_string(static_cast<int>(config_.min_face_luma)),
                  "photo");
  }
  cv::Mat norm, lap;
  cv::resize(face_gray, norm, cv::Size(128, 128), 0, 0, cv::INTER_AREA);
  cv::Laplacian(norm, lap, CV_64F);
  cv::Scalar mu, sigma;
  cv::meanStdDev(lap, mu, sigma);
  out.metrics.sharpness = sigma[0] * sigma[0];
  if (out.metrics.sharpness < config_.min_sharpness) {
    return Status(Code::kPhotoBlurred,
                  "sharpness " + std::to_string(static_cast<int>(out.metrics.sharpness)) +
                      " is under " + std::to_string(static_cast<int>(config_.min_sharpness)),
                  "photo");
  }
  out.image = std::move(bgr);
  return out;
}

cv::Mat PhotoProcessor::Crop(const CheckedPhoto& photo, cv::Size box) const {
  const cv::Rect f = photo.metrics.face;
  // Crop width in source pixels; uniform scale into the box.
  const double crop_w = f.width / config_.face_width_fraction;
  const double s = box.width / crop_w;
  const double fcx = f.x + f.width / 2.0;
  const double fcy = f.y + f.height / 2.0;
  // dst = s * (src - c) + target, with the face centre mapped to target.
  const double tx = box.width / 2.0, ty = box.height * config_.face_center_y;
  cv::Mat m = (cv::Mat_<double>(2, 3) << s, 0, tx - s * fcx, 0, s, ty - s * fcy);
  cv::Mat out;
  cv::warpAffine(photo.image, out, m, box, s < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR,
                 cv::BORDER_REPLICATE);
  return out;
}

}  // namespace cardbureau::layout
