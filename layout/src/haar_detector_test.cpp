#include "haar_detector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/version.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <random>
#include <tuple>
#include <vector>

#include "cardbureau/layout/photo.h"

namespace cardbureau::layout {
namespace {

const std::string kCascades = "/usr/share/opencv4/haarcascades/";

std::vector<cv::Rect> Sorted(std::vector<cv::Rect> v) {
  std::sort(v.begin(), v.end(), [](const cv::Rect& a, const cv::Rect& b) {
    return std::tie(a.x, a.y, a.width, a.height) < std::tie(b.x, b.y, b.width, b.height);
  });
  return v;
}

// The detection image PhotoProcessor makes (DetectionImage) of a BGR photo.
cv::Mat DetectionCopyOf(const cv::Mat& bgr, int max_side = 160) {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return layout::DetectionImage(gray, max_side);
}

// Fixture photos and variants of them that move faces across scales,
// positions and brightness, plus images with no structure at all.
std::vector<std::pair<std::string, cv::Mat>> Corpus() {
  std::vector<std::pair<std::string, cv::Mat>> out;
  const std::string dir = std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/photos/";
  for (const char* name :
       {"astronaut.png", "astronaut.jpg", "astronaut-small.png", "astronaut-dark.png",
        "astronaut-blurred.png", "astronaut-two.png", "chelsea.png", "coffee.png"}) {
    cv::Mat img = cv::imread(dir + name, cv::IMREAD_COLOR);
    EXPECT_FALSE(img.empty()) << name;
    if (!img.empty()) out.emplace_back(name, DetectionCopyOf(img));
  }
  const cv::Mat astro = cv::imread(dir + "astronaut.png", cv::IMREAD_COLOR);
  if (astro.empty()) return out;
  std::mt19937 rng(20261201);
  for (int i = 0; i < 10; ++i) {
    const double angle = std::uniform_real_distribution<double>(-12, 12)(rng);
    const double scale = std::uniform_real_distribution<double>(0.6, 1.3)(rng);
    const cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(256, 200), angle, scale);
    cv::Mat warped;
    cv::warpAffine(astro, warped, m, astro.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
    // Odd sizes and aspect ratios exercise the stripe and step edges.
    const int w = std::uniform_int_distribution<int>(300, 512)(rng);
    const int h = std::uniform_int_distribution<int>(300, 512)(rng);
    cv::Mat cropped = warped(cv::Rect(0, 0, w, h)).clone();
    out.emplace_back("variant-" + std::to_string(i), DetectionCopyOf(cropped, 120 + 9 * i));
  }
  cv::Mat noise(150, 170, CV_8UC1);
  cv::randu(noise, 0, 256);
  out.emplace_back("noise", noise);
  out.emplace_back("flat", cv::Mat(100, 90, CV_8UC1, cv::Scalar(128)));
  out.emplace_back("window-sized", DetectionCopyOf(astro, 25));
  return out;
}

TEST(HaarCascadeTest, RefusesWhatItCannotEvaluateExactly) {
  auto missing = HaarCascade::Load("/nonexistent/cascade.xml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kInvalidConfig);
  // LBP features, trees with more than one node: not for this evaluator.
  for (const std::string& path :
       {std::string("/usr/share/opencv4/lbpcascades/lbpcascade_frontalface.xml"),
        kCascades + "haarcascade_frontalface_alt2.xml"}) {
    auto r = HaarCascade::Load(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), Code::kInvalidConfig) << path;
  }
  const auto tmp = std::filesystem::temp_directory_path() / "cb_haar_bad.xml";
  {
    std::ofstream(tmp) << "<?xml version=\"1.0\"?>\n<opencv_storage><cascade>"
                          "<stageType>BOOST</stageType><featureType>HAAR</featureType>"
                          "<height>24</height><width>24</width>"
                          "<featureParams><maxCatCount>0</maxCatCount></featureParams>"
                          "<stages><_><stageThreshold>1</stageThreshold><weakClassifiers><_>"
                          "<internalNodes>0 -1 0 0.5</internalNodes><leafValues>1 2</leafValues>"
                          "</_></weakClassifiers></_></stages>"
                          "<features><_><rects><_>20 0 8 4 -1.</_><_>0 0 2 2 2.</_></rects>"
                          "<tilted>0</tilted></_></features></cascade></opencv_storage>\n";
  }
  auto outside = HaarCascade::Load(tmp.string());
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("outside the window"), std::string::npos);
  { std::ofstream(tmp) << "<?xml version=\"1.0\"?>\n<opencv_storage><cascade><stageType>BO"; }
  EXPECT_FALSE(HaarCascade::Load(tmp.string()).ok());
  std::filesystem::remove(tmp);
}

// The contract: the same candidate windows as OpenCV, bit for bit, for
// every image, cascade, scale factor and minimum size tried, with either
// kernel; and so the same grouped faces.
TEST(HaarCascadeTest, SameWindowsAsOpenCv) {
  const auto corpus = Corpus();
  ASSERT_GE(corpus.size(), 20u);
  for (const std::string name : {"haarcascade_frontalface_default.xml",
                                 "haarcascade_frontalface_alt.xml", "haarcascade_eye.xml"}) {
    auto fast = HaarCascade::Load(kCascades + name);
    ASSERT_TRUE(fast.ok()) << fast.status();
    // The same cascade on the base-ISA kernel (per instance: no process-wide
    // switch).
    auto generic = HaarCascade::Load(kCascades + name, {.best_kernel = false});
    ASSERT_TRUE(generic.ok()) << generic.status();
    EXPECT_STREQ((*generic)->kernel(), "generic");
    cv::CascadeClassifier ref;
    ASSERT_TRUE(ref.load(kCascades + name));
    int with_candidates = 0;
    for (const auto& [label, img] : corpus) {
      struct Setting {
        double scale_factor;
        int min_px;
      };
      for (const Setting s : {Setting{1.1, 26}, Setting{1.1, 0}, Setting{1.25, 40}}) {
        if (name != "haarcascade_frontalface_default.xml" && s.min_px != 26) continue;
        const cv::Size min_size(s.min_px, s.min_px);
        std::vector<cv::Rect> expected;
        ref.detectMultiScale(img, expected, s.scale_factor, 0, 0, min_size);
        for (HaarCascade* c : {fast->get(), generic->get()}) {
          std::vector<cv::Rect> got;
          c->Detect(img, s.scale_factor, 0, min_size, &got);
          ASSERT_EQ(Sorted(got), Sorted(expected))
              << name << " " << label << " sf " << s.scale_factor << " min " << s.min_px << " "
              << c->kernel();
        }
        with_candidates += !expected.empty();
        std::vector<cv::Rect> grouped_ref, grouped;
        ref.detectMultiScale(img, grouped_ref, s.scale_factor, 5, 0, min_size);
        (*fast)->Detect(img, s.scale_factor, 5, min_size, &grouped);
        EXPECT_EQ(Sorted(grouped), Sorted(grouped_ref)) << name << " " << label;
      }
    }
    // The comparison is not vacuous: most images give candidates.
    EXPECT_GE(with_candidates, 10) << name;
  }
}

// The OpenCV release check: HaarCascade is only used with the release it
// mirrors, compiled and running; any other makes Load refuse, and
// PhotoProcessor then detects with cv::CascadeClassifier by itself.
TEST(HaarCascadeTest, AnotherOpenCvReleaseFallsBackToCascadeClassifier) {
  EXPECT_EQ(kMirroredOpenCv, (OpenCvVersion{4, 6, 0}));
  EXPECT_TRUE(HaarCascade::Mirrors({4, 6, 0}, {4, 6, 0}));
  const std::string cascade = kCascades + "haarcascade_frontalface_default.xml";
  for (const OpenCvVersion other : {OpenCvVersion{4, 6, 1}, OpenCvVersion{4, 7, 0},
                                    OpenCvVersion{4, 5, 4}, OpenCvVersion{5, 0, 0}}) {
    EXPECT_FALSE(HaarCascade::Mirrors(other, kMirroredOpenCv)) << other.ToString();
    EXPECT_FALSE(HaarCascade::Mirrors(kMirroredOpenCv, other)) << other.ToString();
    for (const HaarOptions& o : {HaarOptions{.compiled = other, .running = kMirroredOpenCv},
                                 HaarOptions{.compiled = kMirroredOpenCv, .running = other}}) {
      auto r = HaarCascade::Load(cascade, o);
      ASSERT_FALSE(r.ok()) << other.ToString();
      EXPECT_EQ(r.status().code(), Code::kInvalidConfig);
      EXPECT_NE(r.status().message().find(other.ToString()), std::string::npos) << r.status();
    }
  }
  // This build: the versions are read from the headers and the library, and
  // PhotoProcessor's choice follows the decision.
  const OpenCvVersion compiled = OpenCvVersion::Compiled(), running = OpenCvVersion::Running();
  EXPECT_EQ(compiled, (OpenCvVersion{CV_VERSION_MAJOR, CV_VERSION_MINOR, CV_VERSION_REVISION}));
  EXPECT_EQ(cv::getVersionString().rfind(running.ToString(), 0), 0u) << cv::getVersionString();
  PhotoConfig cfg;
  cfg.cascade_path = cascade;
  cfg.cache = nullptr;
  auto p = PhotoProcessor::Create(cfg);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->detector().rfind("haar-", 0) == 0, HaarCascade::Mirrors(compiled, running))
      << (*p)->detector() << " with OpenCV " << compiled.ToString() << "/" << running.ToString();
  EXPECT_EQ(HaarCascade::Load(cascade).ok(), HaarCascade::Mirrors(compiled, running));
}

TEST(HaarCascadeTest, FindsTheAstronautsFace) {
  auto fast = HaarCascade::Load(kCascades + "haarcascade_frontalface_default.xml");
  ASSERT_TRUE(fast.ok());
  const cv::Mat img =
      cv::imread(std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/photos/astronaut.png");
  ASSERT_FALSE(img.empty());
  const cv::Mat det = DetectionCopyOf(img);
  std::vector<cv::Rect> faces;
  (*fast)->Detect(det, 1.1, 5, cv::Size(26, 26), &faces);
  ASSERT_EQ(faces.size(), 1u);
  // fixtures/README: the face is at about x 177, y 66, 95 px wide in the
  // 512 px photo; the detection copy is 160 px.
  const double s = 512.0 / 160.0;
  EXPECT_NEAR((faces[0].x + faces[0].width / 2.0) * s, 177 + 47.5, 12);
  EXPECT_NEAR((faces[0].y + faces[0].height / 2.0) * s, 66 + 47.5, 12);
  // The same call again (scratch buffers reused) gives the same face.
  std::vector<cv::Rect> again;
  (*fast)->Detect(det, 1.1, 5, cv::Size(26, 26), &again);
  EXPECT_EQ(again, faces);
}

}  // namespace
}  // namespace cardbureau::layout
