// A faster evaluator for OpenCV's stump-based Haar cascades that returns
// exactly what cv::CascadeClassifier::detectMultiScale returns.
//
// Why: face detection was most of the time of a photo check (and so of a
// card rendered from a photo never seen before). OpenCV evaluates the
// cascade one window at a time; this evaluates 8 neighbouring windows at
// once (AVX2 when the CPU has it, else the same code on SSE2), stage by
// stage, until all 8 are rejected.
//
// Exactness is the contract, not an approximation: the scales, the resized
// images (cv::resize INTER_LINEAR_EXACT), the integral images, the window
// grid (step 2 below scale 2, step 1 above, the next window skipped after a
// first-stage rejection, OpenCV's stripe rows), the variance normalisation
// and every float/double operation of a feature and a stage are those of
// OpenCV 4.6's cascadedetect.cpp, in the same order, so the candidate
// windows are bit-identical and cv::groupRectangles groups them into the
// same faces. Tests compare it with cv::CascadeClassifier on every fixture
// photo and on generated variants (haar_detector_test.cpp).
//
// Supported: the new XML format (opencv-data's haarcascade_frontalface_*),
// HAAR features without tilted rectangles, one node per tree (stumps), and
// leaf values whose sums are exact in double in any order (true of every
// opencv-data cascade; it lets the kernel add them in two chains).
// Anything else is refused at Load; callers fall back to OpenCV.
//
// OpenCV version: the mirror is of one OpenCV release (kMirroredOpenCv,
// 4.6.0, Debian 12's). Load refuses (INVALID_CONFIG) when the OpenCV this
// was compiled against or the one loaded at run time is another release, so
// PhotoProcessor falls back to cv::CascadeClassifier by itself: an OpenCV
// upgrade costs speed, never a verdict. Re-run haar_detector_test against
// the new release and move kMirroredOpenCv only when it passes.
//
// Private to layout (PhotoProcessor). Tests and bench_layout reach it
// through a private include directory.
#pragma once

#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "cardbureau/core/status.h"

namespace cardbureau::layout {

// An OpenCV release, e.g. {4, 6, 0}.
struct OpenCvVersion {
  int major = 0, minor = 0, revision = 0;
  // CV_VERSION_* of the headers this file was compiled with.
  static OpenCvVersion Compiled();
  // cv::getVersionMajor/Minor/Revision() of the library loaded.
  static OpenCvVersion Running();
  std::string ToString() const;
  friend bool operator==(const OpenCvVersion&, const OpenCvVersion&) = default;
};

// The release whose cascadedetect.cpp HaarCascade mirrors.
inline constexpr OpenCvVersion kMirroredOpenCv{4, 6, 0};

// How a HaarCascade is loaded (all defaults in production).
struct HaarOptions {
  // The AVX2 kernel when the CPU has it (false: the base-ISA kernel).
  bool best_kernel = true;
  // The OpenCV releases to check against kMirroredOpenCv; tests pass
  // others to see the fallback decision.
  OpenCvVersion compiled = OpenCvVersion::Compiled();
  OpenCvVersion running = OpenCvVersion::Running();
};

namespace haar {
struct Stump;
struct Stage;
struct Feature;
}  // namespace haar

class HaarCascade {
 public:
  // Whether HaarCascade gives OpenCV's result with these releases: both
  // equal to kMirroredOpenCv.
  static bool Mirrors(const OpenCvVersion& compiled, const OpenCvVersion& running);

  // Errors: INVALID_CONFIG (an OpenCV release other than the mirrored one,
  // unreadable file, not a stump-based HAAR cascade in the new format,
  // tilted features, out-of-window rectangles).
  static Result<std::unique_ptr<HaarCascade>> Load(const std::string& path,
                                                   const HaarOptions& options = {});
  ~HaarCascade();
  HaarCascade(const HaarCascade&) = delete;
  HaarCascade& operator=(const HaarCascade&) = delete;

  // As cv::CascadeClassifier::detectMultiScale(gray, *faces, scale_factor,
  // min_neighbors, 0, min_size) with no maximum size: `gray` is CV_8UC1.
  // min_neighbors 0 returns the ungrouped candidate windows. Not
  // thread-safe (scratch buffers): one cascade per thread.
  void Detect(const cv::Mat& gray, double scale_factor, int min_neighbors, cv::Size min_size,
              std::vector<cv::Rect>* faces);

  // Which kernel this cascade runs: "avx2" or "generic".
  const char* kernel() const { return avx2_ ? "avx2" : "generic"; }

 private:
  HaarCascade() = default;
  void PrepareOffsets(int stride1, int stride2, int plane2);

  bool avx2_ = false;
  cv::Size window_;
  std::vector<haar::Stage> stages_;
  std::vector<haar::Feature> features_;
  // Per stump (in evaluation order): feature, threshold, leaves, and the
  // corner offsets for the two plane layouts (step 1 and step 2 scales).
  std::vector<haar::Stump> stumps1_, stumps2_;
  int stride1_ = -1, stride2_ = -1, plane2_ = -1;
  // Scratch, reused between calls.
  std::vector<int32_t> plane1_, plane2buf_;
  cv::Mat resized_, sum_, sqsum_;
  std::vector<float> vnf_;
  std::vector<uint32_t> valid_, pass0_, visited_;  // per group of 8 windows: lane bits
};

}  // namespace cardbureau::layout
