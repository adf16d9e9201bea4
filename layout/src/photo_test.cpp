#include "cardbureau/layout/photo.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>
#include <vector>

namespace cardbureau::layout {
namespace {

Bytes ReadFixture(const std::string& name) {
  std::ifstream in(std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/photos/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << name;
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

class PhotoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PhotoConfig c;
    c.cache = nullptr;  // every check below really decodes, detects and gates
    auto p = PhotoProcessor::Create(c);
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
  lax.cache = nullptr;
  lax.min_face_px = 30;
  auto p = PhotoProcessor::Create(lax);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->Check(ReadFixture("astronaut-small.png")).ok());
  PhotoConfig strict;
  strict.cache = nullptr;
  strict.min_sharpness = 1e9;
  p = PhotoProcessor::Create(strict);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Check(ReadFixture("astronaut.png")).status().code(), Code::kPhotoBlurred);
  PhotoConfig bad;
  bad.cascade_path = "/nonexistent.xml";
  EXPECT_EQ(PhotoProcessor::Create(bad).status().code(), Code::kInvalidConfig);
}

// The fast detector is what runs by default, and it changes no verdict and
// no measurement: every fixture photo gets the same code, face box, luma
// and sharpness as with OpenCV's CascadeClassifier.
TEST(PhotoDetectorTest, FastDetectorGivesOpenCvsVerdicts) {
  PhotoConfig fast_cfg, cv_cfg;
  fast_cfg.cache = cv_cfg.cache = nullptr;
  cv_cfg.fast_detector = false;
  auto fast = PhotoProcessor::Create(fast_cfg);
  auto ref = PhotoProcessor::Create(cv_cfg);
  ASSERT_TRUE(fast.ok() && ref.ok());
  EXPECT_EQ((*fast)->detector().rfind("haar-", 0), 0u) << (*fast)->detector();
  EXPECT_EQ((*ref)->detector(), "opencv");
  int accepted = 0;
  for (const char* name :
       {"astronaut.png", "astronaut.jpg", "astronaut-small.png", "astronaut-dark.png",
        "astronaut-blurred.png", "astronaut-two.png", "chelsea.png", "coffee.png"}) {
    const Bytes photo = ReadFixture(name);
    auto a = (*fast)->Check(photo);
    auto b = (*ref)->Check(photo);
    ASSERT_EQ(a.status().code(), b.status().code())
        << name << ": " << a.status() << " vs " << b.status();
    EXPECT_EQ(a.status().message(), b.status().message()) << name;
    if (a.ok()) {
      ++accepted;
      EXPECT_EQ(a->metrics.face, b->metrics.face) << name;
      EXPECT_EQ(a->metrics.face_luma, b->metrics.face_luma) << name;
      EXPECT_EQ(a->metrics.sharpness, b->metrics.sharpness) << name;
    }
  }
  EXPECT_EQ(accepted, 2);  // the PNG and the JPEG astronaut
  // A cascade HaarCascade does not evaluate (trees of two nodes) falls back
  // to OpenCV and still works.
  PhotoConfig alt2 = fast_cfg;
  alt2.cascade_path = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml";
  auto fallback = PhotoProcessor::Create(alt2);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ((*fallback)->detector(), "opencv");
  EXPECT_TRUE((*fallback)->Check(ReadFixture("astronaut.png")).ok());
}

// DecodePhoto decodes JPEGs with libjpeg-turbo straight to BGR; the pixels
// must be cv::imdecode's, at every reduction, for baseline, progressive and
// greyscale files, and with every EXIF orientation.
Bytes WithExifOrientation(const Bytes& jpg, int orientation) {
  const uint8_t app1[] = {0xFF,
                          0xE1,
                          0x00,
                          0x22,
                          'E',
                          'x',
                          'i',
                          'f',
                          0,
                          0,
                          'I',
                          'I',
                          0x2A,
                          0x00,
                          0x08,
                          0x00,
                          0x00,
                          0x00,  // TIFF, IFD0 at 8
                          0x01,
                          0x00,  // one entry
                          0x12,
                          0x01,
                          0x03,
                          0x00,
                          0x01,
                          0x00,
                          0x00,
                          0x00,  // 0x0112 SHORT x1
                          static_cast<uint8_t>(orientation),
                          0x00,
                          0x00,
                          0x00,
                          0x00,
                          0x00,
                          0x00,
                          0x00};  // no next IFD
  Bytes out(jpg.begin(), jpg.begin() + 2);
  out.insert(out.end(), app1, app1 + sizeof app1);
  out.insert(out.end(), jpg.begin() + 2, jpg.end());
  return out;
}

TEST(PhotoDecodeTest, JpegPixelsAreOpenCvs) {
  PhotoConfig c;
  c.reduce_jpeg_min_side = 0;
  auto same = [](const Bytes& b, const cv::Mat& got, int flags, const std::string& what) {
    const cv::Mat buf(1, static_cast<int>(b.size()), CV_8UC1, const_cast<uint8_t*>(b.data()));
    const cv::Mat want = cv::imdecode(buf, flags);
    ASSERT_FALSE(want.empty()) << what;
    ASSERT_EQ(got.size(), want.size()) << what;
    ASSERT_EQ(got.type(), want.type()) << what;
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0) << what;
  };
  const Bytes jpg = ReadFixture("astronaut.jpg");
  auto full = DecodePhoto(jpg, c);
  ASSERT_TRUE(full.ok()) << full.status();
  same(jpg, *full, cv::IMREAD_COLOR, "baseline");
  // Reduced decodes (large photos): DecodePhoto picks 1/2 .. 1/8 itself.
  for (int n : {2, 4, 8}) {
    PhotoConfig r;
    r.min_side = 32;
    r.detect_max_side = 64;
    r.reduce_jpeg_min_side = 512 / n;
    int got_n = 0;
    auto img = DecodePhoto(jpg, r, &got_n);
    ASSERT_TRUE(img.ok()) << img.status();
    EXPECT_EQ(got_n, n);
    same(jpg, *img,
         n == 2   ? cv::IMREAD_REDUCED_COLOR_2
         : n == 4 ? cv::IMREAD_REDUCED_COLOR_4
                  : cv::IMREAD_REDUCED_COLOR_8,
         "1/" + std::to_string(n));
  }
  const cv::Mat astro = cv::imdecode(jpg, cv::IMREAD_COLOR);
  std::vector<uchar> enc;
  ASSERT_TRUE(cv::imencode(".jpg", astro, enc, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  const Bytes progressive(enc.begin(), enc.end());
  same(progressive, *DecodePhoto(progressive, c), cv::IMREAD_COLOR, "progressive");
  cv::Mat grey;
  cv::cvtColor(astro, grey, cv::COLOR_BGR2GRAY);
  ASSERT_TRUE(cv::imencode(".jpg", grey, enc));
  const Bytes grey_jpg(enc.begin(), enc.end());
  same(grey_jpg, *DecodePhoto(grey_jpg, c), cv::IMREAD_COLOR, "greyscale");
  // A non-square photo with each EXIF orientation (5-8 swap the sides).
  ASSERT_TRUE(cv::imencode(".jpg", astro(cv::Rect(0, 0, 320, 200)), enc));
  const Bytes wide(enc.begin(), enc.end());
  for (int o = 1; o <= 8; ++o) {
    const Bytes b = WithExifOrientation(wide, o);
    auto img = DecodePhoto(b, c);
    ASSERT_TRUE(img.ok()) << "orientation " << o << ": " << img.status();
    EXPECT_EQ(img->cols, o >= 5 ? 200 : 320) << o;
    same(b, *img, cv::IMREAD_COLOR, "orientation " + std::to_string(o));
  }
}

// PNG photos: our libdeflate decoder for the common kinds, OpenCV for the
// rest; either way the pixels are cv::imdecode's. Every zlib level (libpng
// picks other filters and block types at each), grey, RGBA, 16-bit (OpenCV's
// path), odd sizes, several IDAT chunks, and the fixture (mostly Paeth rows).
Bytes SplitIdat(const Bytes& png, size_t piece) {
  // Re-chunks the image data into IDATs of `piece` bytes (CRCs recomputed).
  Bytes data;
  Bytes out(png.begin(), png.begin() + 8);
  size_t i = 8;
  while (i + 12 <= png.size()) {
    const uint32_t len = (uint32_t{png[i]} << 24) | (uint32_t{png[i + 1]} << 16) |
                         (uint32_t{png[i + 2]} << 8) | png[i + 3];
    const bool is_idat = std::memcmp(&png[i + 4], "IDAT", 4) == 0;
    if (is_idat) {
      data.insert(data.end(), png.begin() + static_cast<long>(i + 8),
                  png.begin() + static_cast<long>(i + 8 + len));
    } else {
      if (std::memcmp(&png[i + 4], "IEND", 4) == 0) {
        for (size_t at = 0; at < data.size(); at += piece) {
          const size_t n = std::min(piece, data.size() - at);
          Bytes chunk = {static_cast<uint8_t>(n >> 24),
                         static_cast<uint8_t>(n >> 16),
                         static_cast<uint8_t>(n >> 8),
                         static_cast<uint8_t>(n),
                         'I',
                         'D',
                         'A',
                         'T'};
          chunk.insert(chunk.end(), data.begin() + static_cast<long>(at),
                       data.begin() + static_cast<long>(at + n));
          const uLong crc = crc32(0, chunk.data() + 4, static_cast<uInt>(n + 4));
          for (int k = 3; k >= 0; --k) chunk.push_back(static_cast<uint8_t>(crc >> (8 * k)));
          out.insert(out.end(), chunk.begin(), chunk.end());
        }
      }
      out.insert(out.end(), png.begin() + static_cast<long>(i),
                 png.begin() + static_cast<long>(i + 12 + len));
    }
    i += 12 + len;
  }
  return out;
}

TEST(PhotoDecodeTest, PngPixelsAreOpenCvs) {
  PhotoConfig c;
  auto same = [&](const Bytes& b, const std::string& what) {
    auto got = DecodePhoto(b, c);
    ASSERT_TRUE(got.ok()) << what << ": " << got.status();
    const cv::Mat buf(1, static_cast<int>(b.size()), CV_8UC1, const_cast<uint8_t*>(b.data()));
    const cv::Mat want = cv::imdecode(buf, cv::IMREAD_COLOR);
    ASSERT_EQ(got->size(), want.size()) << what;
    ASSERT_EQ(got->type(), want.type()) << what;
    EXPECT_EQ(cv::norm(*got, want, cv::NORM_INF), 0) << what;
  };
  const Bytes fixture = ReadFixture("astronaut.png");
  same(fixture, "fixture");
  const cv::Mat astro = cv::imdecode(fixture, cv::IMREAD_COLOR);
  const cv::Mat odd = astro(cv::Rect(3, 5, 317, 211)).clone();
  std::vector<uchar> enc;
  for (int level = 0; level <= 9; ++level) {
    ASSERT_TRUE(cv::imencode(".png", odd, enc, {cv::IMWRITE_PNG_COMPRESSION, level}));
    same(Bytes(enc.begin(), enc.end()), "level " + std::to_string(level));
  }
  ASSERT_TRUE(cv::imencode(".png", astro, enc));  // OpenCV's default: Sub rows, RLE
  const Bytes default_png(enc.begin(), enc.end());
  same(default_png, "default");
  same(SplitIdat(default_png, 1000), "IDAT in 1000-byte chunks");
  cv::Mat grey, rgba, deep;
  cv::cvtColor(odd, grey, cv::COLOR_BGR2GRAY);
  cv::cvtColor(odd, rgba, cv::COLOR_BGR2BGRA);
  for (int y = 0; y < rgba.rows; ++y) rgba.at<cv::Vec4b>(y, y % rgba.cols)[3] = 17;
  odd.convertTo(deep, CV_16UC3, 257.0);
  for (const auto& [what, m] :
       {std::pair<std::string, cv::Mat>{"grey", grey}, {"rgba", rgba}, {"16-bit", deep}}) {
    ASSERT_TRUE(cv::imencode(".png", m, enc, {cv::IMWRITE_PNG_COMPRESSION, 6}));
    same(Bytes(enc.begin(), enc.end()), what);
  }
  // 1-bit grey (the libpng path's expansion).
  cv::Mat bilevel;
  cv::threshold(grey, bilevel, 128, 255, cv::THRESH_BINARY);
  ASSERT_TRUE(cv::imencode(".png", bilevel, enc, {cv::IMWRITE_PNG_BILEVEL, 1}));
  same(Bytes(enc.begin(), enc.end()), "1-bit grey");
  // A corrupt IDAT CRC is refused as OpenCV refuses it.
  Bytes bad = default_png;
  bad[8 + 25 + 8 + 100] ^= 0x01;  // inside the first IDAT's data
  EXPECT_EQ(DecodePhoto(bad, c).status().code(), Code::kPhotoUnreadable);
}

TEST(PhotoDecodeTest, CorruptPngsAreRefusedWithoutLibpngOnStderr) {
  // PNGs the fast decoder leaves to libpng (16-bit here), corrupted: the
  // refusal carries libpng's reason and nothing is printed.
  const cv::Mat astro = cv::imdecode(ReadFixture("astronaut.png"), cv::IMREAD_COLOR);
  cv::Mat deep;
  astro(cv::Rect(0, 0, 200, 150)).convertTo(deep, CV_16UC3, 257.0);
  std::vector<uchar> enc;
  ASSERT_TRUE(cv::imencode(".png", deep, enc));
  const Bytes good(enc.begin(), enc.end());
  ASSERT_TRUE(DecodePhoto(good, PhotoConfig{}).ok());
  for (size_t at : {size_t{8 + 25 + 8 + 40}, good.size() / 2}) {
    Bytes bad = good;
    bad[at] ^= 0x5A;
    ::testing::internal::CaptureStderr();
    auto r = DecodePhoto(bad, PhotoConfig{});
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(r.status().code(), Code::kPhotoUnreadable) << at;
    EXPECT_EQ(err, "") << at;
  }
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
      hj[i + 5] = 0xFF;
      hj[i + 6] = 0xFF;
      hj[i + 7] = 0xFF;
      hj[i + 8] = 0xFF;
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

// A large JPEG is decoded at reduced size; the verdict, the face size gate
// (in the photo's own pixels) and the crop stay those of a full decode.
TEST(PhotoReducedDecodeTest, LargeJpegDecodedReducedWithTheSameResult) {
  const cv::Mat small = cv::imdecode(ReadFixture("astronaut.png"), cv::IMREAD_COLOR);
  cv::Mat big;
  cv::resize(small, big, cv::Size(3200, 3200), 0, 0, cv::INTER_CUBIC);
  std::vector<uchar> buf;
  ASSERT_TRUE(cv::imencode(".jpg", big, buf, {cv::IMWRITE_JPEG_QUALITY, 90}));
  const Bytes jpg(buf.begin(), buf.end());
  auto make = [](int reduce_side, int min_face_px) {
    PhotoConfig c;
    c.cache = nullptr;
    c.reduce_jpeg_min_side = reduce_side;
    c.min_face_px = min_face_px;
    return std::move(PhotoProcessor::Create(c)).value();
  };
  auto full = make(0, 80)->Check(jpg);
  auto reduced = make(1536, 80)->Check(jpg);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_TRUE(reduced.ok()) << reduced.status();
  EXPECT_EQ(full->image.cols, 3200);
  EXPECT_EQ(full->metrics.reduction, 1);
  EXPECT_EQ(reduced->image.cols, 1600);
  EXPECT_EQ(reduced->metrics.reduction, 2);
  EXPECT_NEAR(reduced->metrics.face.width * 2, full->metrics.face.width,
              full->metrics.face.width / 10);
  EXPECT_NEAR(reduced->metrics.face_luma, full->metrics.face_luma, 3);
  const cv::Size box(248, 319);
  auto proc = make(1536, 80);
  cv::Mat diff;
  cv::absdiff(proc->Crop(*reduced, box), proc->Crop(*full, box), diff);
  EXPECT_LT(cv::mean(diff)[0], 12.0);
  // The size gate counts the photo's pixels, not the reduced ones.
  const int face_px = reduced->metrics.face.width * 2;
  ASSERT_GT(face_px, 400);
  EXPECT_TRUE(make(1536, face_px - 20)->Check(jpg).ok());  // > reduced width
  const Status too_small = make(1536, face_px + 20)->Check(jpg).status();
  EXPECT_EQ(too_small.code(), Code::kPhotoTooSmall);
  EXPECT_NE(too_small.message().find("face is " + std::to_string(face_px) + " px"),
            std::string::npos)
      << too_small;
  // Fixture-sized photos are never reduced; PNGs never are.
  ImageInfo info{PhotoFormat::kJpeg, 512, 512};
  EXPECT_EQ(JpegReduction(info, PhotoConfig{}), 1);
  info = {PhotoFormat::kJpeg, 4096, 3072};
  EXPECT_EQ(JpegReduction(info, PhotoConfig{}), 2);
  info = {PhotoFormat::kPng, 4096, 3072};
  EXPECT_EQ(JpegReduction(info, PhotoConfig{}), 1);
  PhotoConfig bad;
  bad.reduce_jpeg_min_side = 100;  // under 4x the detection copy
  EXPECT_EQ(PhotoProcessor::Create(bad).status().code(), Code::kInvalidConfig);
}

// ---- PhotoCheckCache ----

std::unique_ptr<PhotoProcessor> CachedProcessor(
    std::shared_ptr<PhotoCheckCache> cache, double min_sharpness = PhotoConfig{}.min_sharpness) {
  PhotoConfig c;
  c.cache = std::move(cache);
  c.min_sharpness = min_sharpness;
  auto p = PhotoProcessor::Create(c);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::move(p).value();
}

TEST(PhotoCacheTest, SecondCheckIsServedFromTheCacheWithTheSameResult) {
  auto cache = std::make_shared<PhotoCheckCache>();
  auto proc = CachedProcessor(cache);
  const Bytes png = ReadFixture("astronaut.png");
  auto first = proc->Check(png);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(cache->stats().hits, 0u);
  auto second = proc->Check(png);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(cache->stats().hits, 1u);
  EXPECT_EQ(second->metrics.face, first->metrics.face);
  EXPECT_EQ(second->metrics.face_luma, first->metrics.face_luma);
  EXPECT_EQ(second->metrics.sharpness, first->metrics.sharpness);
  EXPECT_EQ(cv::norm(second->image, first->image, cv::NORM_INF), 0);  // decoded again
  EXPECT_EQ(second->cache_key, proc->CacheKey(png));
  // A refusal is remembered with its code and message.
  const Bytes dark = ReadFixture("astronaut-dark.png");
  const Status d1 = proc->Check(dark).status();
  const Status d2 = proc->Check(dark).status();
  EXPECT_EQ(d1.code(), Code::kPhotoTooDark);
  EXPECT_EQ(d2.code(), d1.code());
  EXPECT_EQ(d2.message(), d1.message());
  EXPECT_EQ(d2.field(), "photo");
  EXPECT_EQ(cache->stats().hits, 2u);
  EXPECT_EQ(cache->stats().entries, 2u);
  // Unreadable photos are not remembered (a decoder failure may be transient).
  const Bytes truncated(png.begin(), png.begin() + static_cast<long>(png.size() / 2));
  EXPECT_EQ(proc->Check(truncated).status().code(), Code::kPhotoUnreadable);
  EXPECT_EQ(proc->Check(truncated).status().code(), Code::kPhotoUnreadable);
  EXPECT_EQ(cache->stats().entries, 2u);
}

TEST(PhotoCacheTest, KeysSeparatePhotosAndSettings) {
  auto cache = std::make_shared<PhotoCheckCache>();
  auto normal = CachedProcessor(cache);
  auto strict = CachedProcessor(cache, 1e9);
  const Bytes png = ReadFixture("astronaut.png");
  EXPECT_TRUE(normal->Check(png).ok());
  // Same photo, same cache, other settings: checked afresh, refused.
  EXPECT_EQ(strict->Check(png).status().code(), Code::kPhotoBlurred);
  EXPECT_TRUE(normal->Check(png).ok());
  EXPECT_NE(normal->CacheKey(png), strict->CacheKey(png));
  // One byte more (a trailing zero after EOI) is another photo.
  const Bytes jpg = ReadFixture("astronaut.jpg");
  Bytes jpg2 = jpg;
  jpg2.push_back(0);
  EXPECT_NE(normal->CacheKey(jpg), normal->CacheKey(jpg2));
  EXPECT_EQ(normal->CacheKey(jpg), normal->CacheKey(jpg));
}

TEST(PhotoCacheTest, EvictPhotoForgetsEveryEntryOfThatPhotoOnly) {
  auto cache = std::make_shared<PhotoCheckCache>();
  auto normal = CachedProcessor(cache);
  auto strict = CachedProcessor(cache, 1e9);
  const Bytes png = ReadFixture("astronaut.png");
  const Bytes dark = ReadFixture("astronaut-dark.png");
  ASSERT_TRUE(normal->Check(png).ok());
  (void)strict->Check(png);  // a second entry (other settings) for the same photo
  (void)normal->Check(dark);
  auto checked = normal->Check(png);
  ASSERT_TRUE(checked.ok());
  ASSERT_FALSE(normal->CropCached(*checked, cv::Size(300, 400)).empty());  // a cached face crop
  ASSERT_EQ(cache->stats().entries, 3u);
  ASSERT_GT(cache->stats().crop_bytes, 0u);
  EXPECT_EQ(cache->EvictPhoto(Sha256Hex(png)), 2u);
  EXPECT_EQ(cache->stats().entries, 1u);
  EXPECT_EQ(cache->stats().crop_bytes, 0u);
  EXPECT_FALSE(cache->Find(normal->CacheKey(png), cv::Size(300, 400)).has_value());
  EXPECT_TRUE(cache->Find(normal->CacheKey(dark), cv::Size(300, 400)).has_value());
  EXPECT_EQ(cache->EvictPhoto("not hex"), 0u);
}

TEST(PhotoCacheTest, CheckAndCropEqualsCheckThenCropAndIsReused) {
  auto cache = std::make_shared<PhotoCheckCache>();
  auto proc = CachedProcessor(cache);
  PhotoConfig off;
  off.cache = nullptr;
  auto plain = std::move(PhotoProcessor::Create(off)).value();
  const Bytes png = ReadFixture("astronaut.png");
  const cv::Size box(248, 319);
  auto checked = plain->Check(png);
  ASSERT_TRUE(checked.ok());
  const cv::Mat expected = plain->Crop(*checked, box);
  auto a = proc->CheckAndCrop(png, box);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(cv::norm(*a, expected, cv::NORM_INF), 0);
  auto b = proc->CheckAndCrop(png, box);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data, a->data);  // the cached crop, not a new one
  EXPECT_EQ(cache->stats().crop_bytes, expected.total() * expected.elemSize());
  // Another box size is cropped afresh (and correctly).
  auto c = proc->CheckAndCrop(png, cv::Size(100, 120));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(cv::norm(*c, plain->Crop(*checked, cv::Size(100, 120)), cv::NORM_INF), 0);
  // Refusals come back from the cache too.
  EXPECT_EQ(proc->CheckAndCrop(ReadFixture("chelsea.png"), box).status().code(),
            Code::kPhotoNoFace);
  EXPECT_EQ(proc->CheckAndCrop(ReadFixture("chelsea.png"), box).status().code(),
            Code::kPhotoNoFace);
  // A CheckedPhoto from Check() carries its key: CropCached fills the cache.
  auto fresh = std::make_shared<PhotoCheckCache>();
  auto proc2 = CachedProcessor(fresh);
  auto checked2 = proc2->Check(png);
  ASSERT_TRUE(checked2.ok());
  const cv::Mat c1 = proc2->CropCached(*checked2, box);
  EXPECT_EQ(cv::norm(c1, expected, cv::NORM_INF), 0);
  EXPECT_EQ(proc2->CropCached(*checked2, box).data, c1.data);
  // A photo without a key (or another processor's key) is cropped, not cached.
  CheckedPhoto unkeyed = *checked2;
  unkeyed.cache_key.clear();
  EXPECT_NE(proc2->CropCached(unkeyed, box).data, c1.data);
}

TEST(PhotoCacheTest, BoundedByEntriesAndCropBytes) {
  PhotoCheckCache cache(PhotoCheckCache::Limits{2, 1000});
  const PhotoMetrics m{cv::Rect(1, 2, 3, 4), 100, 200};
  cache.PutVerdict("a", Status::Ok(), m);
  cache.PutVerdict("b", Status::Ok(), m);
  ASSERT_TRUE(cache.Find("a", {}).has_value());  // a is now the most recent
  cache.PutVerdict("c", Status(Code::kPhotoNoFace, "no face found", "photo"), {});
  EXPECT_FALSE(cache.Find("b", {}).has_value());  // least recently used went
  ASSERT_TRUE(cache.Find("a", {}).has_value());
  EXPECT_EQ(cache.Find("a", {})->metrics.face, m.face);
  EXPECT_EQ(cache.Find("c", {})->status.code(), Code::kPhotoNoFace);
  EXPECT_EQ(cache.stats().entries, 2u);
  // Crops: 20x10x3 = 600 bytes each; two do not fit in 1000 bytes, so the
  // older crop is dropped and its verdict kept. No crop on a refusal.
  const cv::Mat crop(10, 20, CV_8UC3, cv::Scalar(1, 2, 3));
  cache.PutCrop("c", cv::Size(20, 10), crop);
  EXPECT_EQ(cache.stats().crop_bytes, 0u);
  cache.PutCrop("a", cv::Size(20, 10), crop);
  EXPECT_EQ(cache.stats().crop_bytes, 600u);
  EXPECT_FALSE(cache.Find("a", cv::Size(20, 10))->crop.empty());
  EXPECT_TRUE(cache.Find("a", cv::Size(21, 10))->crop.empty());
  cache.PutVerdict("d", Status::Ok(), m);  // evicts c (a was just used)
  cache.PutCrop("d", cv::Size(20, 10), crop);
  EXPECT_EQ(cache.stats().crop_bytes, 600u);
  auto a = cache.Find("a", cv::Size(20, 10));
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->status.ok());
  EXPECT_TRUE(a->crop.empty());  // crop dropped, verdict kept
  EXPECT_FALSE(cache.Find("d", cv::Size(20, 10))->crop.empty());
  // A crop alone over the limit is not kept.
  cache.PutCrop("a", cv::Size(40, 20), cv::Mat(20, 40, CV_8UC3));
  EXPECT_EQ(cache.stats().crop_bytes, 600u);
  cache.Clear();
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().crop_bytes, 0u);
  EXPECT_FALSE(cache.Find("d", {}).has_value());
  // No entries allowed: nothing is kept.
  PhotoCheckCache off(PhotoCheckCache::Limits{0, 0});
  off.PutVerdict("a", Status::Ok(), m);
  EXPECT_FALSE(off.Find("a", {}).has_value());
}

TEST(PhotoCacheTest, ConcurrentUseFromSeveralProcessors) {
  auto cache = std::make_shared<PhotoCheckCache>(PhotoCheckCache::Limits{3, 1 << 20});
  const std::vector<Bytes> photos = {ReadFixture("astronaut.png"), ReadFixture("astronaut.jpg"),
                                     ReadFixture("astronaut-dark.png"), ReadFixture("coffee.png")};
  const std::vector<Code> expected = {Code::kOk, Code::kOk, Code::kPhotoTooDark,
                                      Code::kPhotoNoFace};
  std::vector<std::thread> threads;
  std::vector<int> wrong(3, 0);
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      auto proc = CachedProcessor(cache);  // one processor per thread, as documented
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < photos.size(); ++i) {
          auto r = proc->CheckAndCrop(photos[(i + static_cast<size_t>(t)) % photos.size()],
                                      cv::Size(60, 80));
          const Code want = expected[(i + static_cast<size_t>(t)) % photos.size()];
          if ((r.ok() ? Code::kOk : r.status().code()) != want) ++wrong[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(3, 0));
  EXPECT_LE(cache->stats().entries, 3u);
}

}  // namespace
}  // namespace cardbureau::layout
