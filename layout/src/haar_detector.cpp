#include "haar_detector.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/version.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "haar_kernel.h"

// Every float operation here mirrors OpenCV's scalar code; a fused
// multiply-add would round differently (CMake also builds this file and the
// kernels with -ffp-contract=off).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace cardbureau::layout {

namespace haar {
struct Feature {
  cv::Rect rect[3];
  float weight[3] = {0, 0, 0};
};
}  // namespace haar

namespace {

Status Refuse(const std::string& path, const std::string& why) {
  return Status(Code::kInvalidConfig, "face cascade " + path + ": " + why, "cascade_path");
}

bool HasAvx2() {
#ifdef CB_HAAR_AVX2
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

void EvalRow(const haar::RowArgs& a, bool avx2) {
#ifdef CB_HAAR_AVX2
  if (avx2) {
    haar::EvalRowAvx2(a);
    return;
  }
#else
  (void)avx2;
#endif
  haar::EvalRowGeneric(a);
}

// True when every partial sum of the stage's leaves, in any order, is
// exactly representable in double: all are multiples of the smallest leaf
// ulp and bounded by the sum of the largest magnitudes. Then the kernel's
// order of additions gives OpenCV's sum bit for bit.
bool LeafSumsAreExact(const std::vector<haar::Stump>& stumps, int first, int count) {
  double bound = 0;
  int min_exp = 1 << 20;
  for (int i = first; i < first + count; ++i) {
    const haar::Stump& s = stumps[static_cast<size_t>(i)];
    for (float v : {s.left, s.right}) {
      if (!std::isfinite(v)) return false;
      if (v == 0.0f) continue;
      int e = 0;
      std::frexp(v, &e);  // v = m * 2^e, 0.5 <= |m| < 1; ulp = 2^(e - 24)
      min_exp = std::min(min_exp, std::max(e - 24, -149));
    }
    bound +=
        std::max(std::fabs(static_cast<double>(s.left)), std::fabs(static_cast<double>(s.right)));
  }
  if (bound == 0) return true;
  return bound < std::ldexp(1.0, min_exp + 53);
}

int AlignUp(int v, int a) { return (v + a - 1) / a * a; }

}  // namespace

HaarCascade::~HaarCascade() = default;

OpenCvVersion OpenCvVersion::Compiled() {
  return {CV_VERSION_MAJOR, CV_VERSION_MINOR, CV_VERSION_REVISION};
}

OpenCvVersion OpenCvVersion::Running() {
  return {cv::getVersionMajor(), cv::getVersionMinor(), cv::getVersionRevision()};
}

std::string OpenCvVersion::ToString() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(revision);
}

bool HaarCascade::Mirrors(const OpenCvVersion& compiled, const OpenCvVersion& running) {
  return compiled == kMirroredOpenCv && running == kMirroredOpenCv;
}

Result<std::unique_ptr<HaarCascade>> HaarCascade::Load(const std::string& path,
                                                       const HaarOptions& options) {
  if (!Mirrors(options.compiled, options.running)) {
    return Refuse(path, "HaarCascade mirrors OpenCV " + kMirroredOpenCv.ToString() +
                            " exactly; built with " + options.compiled.ToString() + ", running " +
                            options.running.ToString() + ": use cv::CascadeClassifier");
  }
  cv::FileStorage fs;
  try {
    if (!fs.open(path, cv::FileStorage::READ)) return Refuse(path, "cannot be opened");
  } catch (const cv::Exception&) {
    return Refuse(path, "is not a readable cascade file");
  }
  std::unique_ptr<HaarCascade> c(new HaarCascade());
  c->avx2_ = options.best_kernel && HasAvx2();
  try {
    const cv::FileNode root = fs.getFirstTopLevelNode();
    if (root.empty() || !root.isMap()) return Refuse(path, "no cascade");
    if (static_cast<std::string>(root["stageType"]) != "BOOST") {
      return Refuse(path, "not a boosted cascade in the new format");
    }
    if (static_cast<std::string>(root["featureType"]) != "HAAR") {
      return Refuse(path, "not a HAAR cascade");
    }
    c->window_ = cv::Size(static_cast<int>(root["width"]), static_cast<int>(root["height"]));
    if (c->window_.width < 4 || c->window_.height < 4 || c->window_.width > 256 ||
        c->window_.height > 256) {
      return Refuse(path, "window size out of range");
    }
    const cv::FileNode params = root["featureParams"];
    if (params.empty() || static_cast<int>(params["maxCatCount"]) != 0) {
      return Refuse(path, "categorical features are not supported");
    }
    const cv::FileNode stages = root["stages"];
    if (stages.empty() || !stages.isSeq()) return Refuse(path, "no stages");
    std::vector<haar::Stump> stumps;
    for (cv::FileNodeIterator it = stages.begin(); it != stages.end(); ++it) {
      const cv::FileNode sn = *it;
      haar::Stage stage;
      // As OpenCV: the stage threshold is lowered by THRESHOLD_EPS.
      stage.threshold = static_cast<float>(sn["stageThreshold"]) - 1e-5f;
      const cv::FileNode weak = sn["weakClassifiers"];
      if (weak.empty() || !weak.isSeq()) return Refuse(path, "a stage without classifiers");
      stage.first = static_cast<int>(stumps.size());
      for (cv::FileNodeIterator wt = weak.begin(); wt != weak.end(); ++wt) {
        const cv::FileNode nodes = (*wt)["internalNodes"];
        const cv::FileNode leaves = (*wt)["leafValues"];
        if (nodes.size() != 4 || leaves.size() != 2) {
          return Refuse(path, "only one-node trees (stumps) are supported");
        }
        haar::Stump s;
        s.feature = static_cast<int>(nodes[2]);
        s.threshold = static_cast<float>(nodes[3]);
        s.left = static_cast<float>(leaves[0]);
        s.right = static_cast<float>(leaves[1]);
        stumps.push_back(s);
      }
      stage.count2 = static_cast<int>(stumps.size()) - stage.first;  // split below
      c->stages_.push_back(stage);
    }
    const cv::FileNode features = root["features"];
    if (features.empty() || !features.isSeq()) return Refuse(path, "no features");
    for (cv::FileNodeIterator it = features.begin(); it != features.end(); ++it) {
      haar::Feature f;
      const cv::FileNode rects = (*it)["rects"];
      if (rects.empty() || rects.size() > 3) return Refuse(path, "a feature with bad rectangles");
      int ri = 0;
      for (cv::FileNodeIterator rt = rects.begin(); rt != rects.end(); ++rt, ++ri) {
        const cv::FileNode rn = *rt;
        if (rn.size() != 5) return Refuse(path, "a rectangle is not x y w h weight");
        cv::FileNodeIterator v = rn.begin();
        v >> f.rect[ri].x >> f.rect[ri].y >> f.rect[ri].width >> f.rect[ri].height >> f.weight[ri];
        const cv::Rect& r = f.rect[ri];
        if (r.x < 0 || r.y < 0 || r.width < 0 || r.height < 0 || r.x >= c->window_.width ||
            r.y >= c->window_.height || r.x + r.width > c->window_.width ||
            r.y + r.height > c->window_.height) {
          return Refuse(path, "a rectangle outside the window");
        }
      }
      if (static_cast<int>((*it)["tilted"]) != 0) return Refuse(path, "tilted features");
      c->features_.push_back(f);
    }
    for (haar::Stump& s : stumps) {
      if (s.feature < 0 || s.feature >= static_cast<int>(c->features_.size())) {
        return Refuse(path, "a classifier names a feature that does not exist");
      }
      const haar::Feature& f = c->features_[static_cast<size_t>(s.feature)];
      for (int i = 0; i < 3; ++i) s.weight[i] = f.weight[i];
    }
    // Each stage: two-rectangle stumps first, then three-rectangle ones
    // (OpenCV adds the third rectangle only when its weight is not 0).
    for (haar::Stage& stage : c->stages_) {
      const int n = stage.count2;
      if (!LeafSumsAreExact(stumps, stage.first, n)) {
        return Refuse(path, "leaf values whose sums are not exact in double");
      }
      auto b = stumps.begin() + stage.first;
      auto mid =
          std::stable_partition(b, b + n, [](const haar::Stump& s) { return s.weight[2] == 0.0f; });
      stage.count2 = static_cast<int>(mid - b);
      stage.count3 = n - stage.count2;
    }
    c->stumps1_ = stumps;
    c->stumps2_ = std::move(stumps);
  } catch (const cv::Exception&) {
    return Refuse(path, "malformed cascade");
  }
  if (c->stages_.empty()) return Refuse(path, "no stages");
  return c;
}

void HaarCascade::PrepareOffsets(int stride1, int stride2, int plane2) {
  stride1_ = stride1;
  stride2_ = stride2;
  plane2_ = plane2;
  auto corners = [](const cv::Rect& r, auto&& at, int32_t* out) {
    out[0] = at(r.x, r.y);
    out[1] = at(r.x + r.width, r.y);
    out[2] = at(r.x, r.y + r.height);
    out[3] = at(r.x + r.width, r.y + r.height);
  };
  auto at1 = [&](int x, int y) { return y * stride1 + x; };
  // Step-2 scales: even columns in the first plane, odd ones in the second.
  auto at2 = [&](int x, int y) { return (x & 1) * plane2 + y * stride2 + (x >> 1); };
  for (size_t i = 0; i < stumps1_.size(); ++i) {
    const haar::Feature& f = features_[static_cast<size_t>(stumps1_[i].feature)];
    for (int r = 0; r < 3; ++r) {
      corners(f.rect[r], at1, stumps1_[i].ofs[r]);
      corners(f.rect[r], at2, stumps2_[i].ofs[r]);
    }
  }
}

void HaarCascade::Detect(const cv::Mat& gray, double scale_factor, int min_neighbors,
                         cv::Size min_size, std::vector<cv::Rect>* faces) {
  CV_Assert(gray.type() == CV_8UC1 && scale_factor > 1);
  faces->clear();
  const cv::Size img = gray.size();
  const cv::Size win = window_;
  if (img.height < win.height || img.width < win.width) return;

  // Scales exactly as detectMultiScaleNoGrouping (maxSize = the image).
  std::vector<float> all, scales;
  for (double factor = 1;; factor *= scale_factor) {
    const cv::Size ws(cvRound(win.width * factor), cvRound(win.height * factor));
    if (ws.width > img.width || ws.height > img.height) break;
    all.push_back(static_cast<float>(factor));
  }
  for (float f : all) {
    const cv::Size ws(cvRound(static_cast<float>(win.width) * f),
                      cvRound(static_cast<float>(win.height) * f));
    if (ws.width > img.width || ws.height > img.height) break;
    if (ws.width < min_size.width || ws.height < min_size.height) continue;
    scales.push_back(f);
  }
  if (scales.empty() && !all.empty()) {
    size_t best = 0;
    double best_d = 0;
    for (size_t v = 0; v < all.size(); ++v) {
      const cv::Size ws(cvRound(static_cast<float>(win.width) * all[v]),
                        cvRound(static_cast<float>(win.height) * all[v]));
      const double d = (min_size.width - ws.width) * (min_size.width - ws.width) +
                       (min_size.height - ws.height) * (min_size.height - ws.height);
      if (v == 0 || best_d > d) {
        best = v;
        best_d = d;
      }
    }
    scales.push_back(all[best]);
  }
  if (scales.empty()) return;

  struct ScaleData {
    float scale;
    int ystep;
    cv::Size sz, szi, szw;
  };
  std::vector<ScaleData> sd;
  int max_w1 = 0, max_w2 = 0, max_h = 0;
  for (float sc : scales) {
    ScaleData s;
    s.scale = sc;
    s.sz = cv::Size(cvRound(static_cast<float>(img.width) / sc),
                    cvRound(static_cast<float>(img.height) / sc));
    s.ystep = sc >= 2 ? 1 : 2;
    s.szi = cv::Size(s.sz.width + 1, s.sz.height + 1);
    s.szw = cv::Size(std::max(s.szi.width - win.width, 0), std::max(s.szi.height - win.height, 0));
    (s.ystep == 1 ? max_w1 : max_w2) = std::max(s.ystep == 1 ? max_w1 : max_w2, s.szi.width);
    max_h = std::max(max_h, s.szi.height);
    sd.push_back(s);
  }
  // OpenCV splits the rows into stripes from the first scale's width; with
  // some sizes the stripes end before the last row, which is then never
  // searched. Reproduced.
  const int nstripes = cvCeil(sd[0].szw.width / 32.);
  if (nstripes <= 0) return;

  const int stride1 = AlignUp(max_w1 + 16, 8);
  const int stride2 = AlignUp((max_w2 + 1) / 2 + 16, 8);
  const int plane2 = stride2 * (max_h + 1);
  if (stride1 != stride1_ || stride2 != stride2_ || plane2 != plane2_) {
    PrepareOffsets(stride1, stride2, plane2);
  }
  // Grown, never cleared: every value a live lane reads is written below;
  // padding and stale values are read only by dead lanes.
  if (max_w1 > 0)
    plane1_.resize(std::max(plane1_.size(), static_cast<size_t>(stride1) * (max_h + 1) + 64));
  if (max_w2 > 0)
    plane2buf_.resize(std::max(plane2buf_.size(), static_cast<size_t>(plane2) * 2 + stride2 + 64));

  std::vector<cv::Rect> candidates;
  const cv::Rect norm(1, 1, win.width - 2, win.height - 2);
  const double area = norm.area();
  for (const ScaleData& s : sd) {
    cv::resize(gray, resized_, s.sz, 1. / s.scale, 1. / s.scale, cv::INTER_LINEAR_EXACT);
    const bool step1 = s.ystep == 1;
    if (step1) {
      // The integral goes straight into the step-1 plane.
      sum_ = cv::Mat(s.szi, CV_32S, plane1_.data(), static_cast<size_t>(stride1) * sizeof(int32_t));
    } else {
      sum_.release();
    }
    cv::integral(resized_, sum_, sqsum_, CV_32S, CV_32S);
    if (!step1) {
      int32_t* even = plane2buf_.data();
      int32_t* odd = even + plane2;
      for (int y = 0; y < s.szi.height; ++y) {
        const int32_t* row = sum_.ptr<int32_t>(y);
        int32_t* e = even + static_cast<ptrdiff_t>(y) * stride2;
        int32_t* o = odd + static_cast<ptrdiff_t>(y) * stride2;
        for (int x = 0; x + 1 < s.szi.width; x += 2) {
          e[x >> 1] = row[x];
          o[x >> 1] = row[x + 1];
        }
        if (s.szi.width & 1) e[s.szi.width >> 1] = row[s.szi.width - 1];
      }
    }
    const int stripe = std::max((s.szw.height / s.ystep + nstripes - 1) / nstripes, 1) * s.ystep;
    const int y_end = std::min(nstripes * stripe, s.szw.height);
    const int n = (s.szw.width + s.ystep - 1) / s.ystep;
    if (n <= 0) continue;
    const int groups = (n + 7) / 8;
    vnf_.assign(static_cast<size_t>(groups) * 8, 1.0f);
    valid_.assign(static_cast<size_t>(groups), 0);
    pass0_.assign(static_cast<size_t>(groups), 0);
    const cv::Size win_size(cvRound(static_cast<float>(win.width) * s.scale),
                            cvRound(static_cast<float>(win.height) * s.scale));
    const haar::Stump* stumps = step1 ? stumps1_.data() : stumps2_.data();
    const int nstages = static_cast<int>(stages_.size());
    haar::RowArgs args;
    args.groups = groups;
    args.vnf = vnf_.data();
    args.stages = stages_.data();
    for (int y = 0; y < y_end; y += s.ystep) {
      // HaarEvaluator::setWindow for every window of the row.
      const int32_t* sr0 = sum_.ptr<int32_t>(y + norm.y);
      const int32_t* sr1 = sum_.ptr<int32_t>(y + norm.y + norm.height);
      const int32_t* qr0 = sqsum_.ptr<int32_t>(y + norm.y);
      const int32_t* qr1 = sqsum_.ptr<int32_t>(y + norm.y + norm.height);
      bool any = false;
      std::fill(valid_.begin(), valid_.end(), 0u);
      for (int k = 0; k < n; ++k) {
        const int x = k * s.ystep;
        const int a0 = x + norm.x, a1 = x + norm.x + norm.width;
        const int valsum = sr0[a0] - sr0[a1] - sr1[a0] + sr1[a1];
        const unsigned valsqsum = static_cast<unsigned>(qr0[a0]) - static_cast<unsigned>(qr0[a1]) -
                                  static_cast<unsigned>(qr1[a0]) + static_cast<unsigned>(qr1[a1]);
        double nf = area * valsqsum - static_cast<double>(valsum) * valsum;
        float vnf = 1.f;
        if (nf > 0.) {
          nf = std::sqrt(nf);
          vnf = static_cast<float>(1. / nf);
          if (area * vnf < 1e-1) {
            valid_[static_cast<size_t>(k >> 3)] |= 1u << (k & 7);
            any = true;
          }
        }
        vnf_[static_cast<size_t>(k)] = vnf;
      }
      if (!any) continue;
      args.base = step1 ? plane1_.data() + static_cast<ptrdiff_t>(y) * stride1
                        : plane2buf_.data() + static_cast<ptrdiff_t>(y) * stride2;
      // Stage 0 for every valid window of the row.
      pass0_ = valid_;
      args.stumps = stumps;
      args.first = 0;
      args.end = 1;
      args.alive = pass0_.data();
      EvalRow(args, avx2_);
      // The walk of CascadeClassifierInvoker: after a first-stage
      // rejection (runAt 0; an invalid window is -1) the next window is
      // skipped. Only visited windows that passed stage 0 go on.
      visited_.assign(static_cast<size_t>(groups), 0u);
      bool more = false;
      for (int k = 0; k < n;) {
        const uint32_t bit = 1u << (k & 7);
        const size_t g = static_cast<size_t>(k >> 3);
        if (pass0_[g] & bit) {
          visited_[g] |= bit;
          more = true;
        }
        const bool rejected0 = (valid_[g] & bit) && !(pass0_[g] & bit);
        k += rejected0 ? 2 : 1;
      }
      if (!more) continue;
      if (nstages > 1) {
        args.stumps = stumps;
        args.first = 1;
        args.end = nstages;
        args.alive = visited_.data();
        EvalRow(args, avx2_);
      }
      for (int g = 0; g < groups; ++g) {
        for (uint32_t m = visited_[static_cast<size_t>(g)]; m; m &= m - 1) {
          const int k = g * 8 + std::countr_zero(m);
          candidates.emplace_back(cvRound(static_cast<float>(k * s.ystep) * s.scale),
                                  cvRound(static_cast<float>(y) * s.scale), win_size.width,
                                  win_size.height);
        }
      }
    }
  }
  cv::groupRectangles(candidates, min_neighbors, 0.2);
  // CascadeClassifier::detectMultiScale then clips to the image (clipObjects).
  const cv::Rect frame(0, 0, img.width, img.height);
  for (const cv::Rect& r : candidates) {
    const cv::Rect clipped = frame & r;
    if (!clipped.empty()) faces->push_back(clipped);
  }
}

}  // namespace cardbureau::layout
