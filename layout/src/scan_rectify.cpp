// Card finder and rectifier for scan QA (scan.h). Candidate quadrilaterals
// come from three detectors (edges, the bright card on a darker ground, and
// anything unlike the image border for flatbed scans); each is refined by
// fitting lines to its sides (cards have rounded corners), warped small in
// its four cyclic orders and scored against the expected face; the best one
// is refined by ECC on a half-size warp and warped to the target once.
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include "cardbureau/layout/scan.h"
#include "cardbureau/layout/scan_thresholds.h"

namespace cardbureau::layout {

namespace {

using Quad = std::array<cv::Point2f, 4>;

constexpr int kWorkLongSide = 1000;  // detection copy
constexpr int kScoreWidth = 256;     // candidate scoring warp width

Status Unusable(const std::string& why) { return Status(Code::kScanUnusable, why, "scan"); }

double Dist(cv::Point2f a, cv::Point2f b) { return std::hypot(a.x - b.x, a.y - b.y); }

// Clockwise (image coordinates: y down) order starting anywhere.
Quad Clockwise(const std::vector<cv::Point2f>& pts) {
  cv::Point2f c(0, 0);
  for (auto p : pts) c += p;
  c *= 0.25f;
  std::array<std::pair<double, cv::Point2f>, 4> a{};
  for (size_t i = 0; i < 4 && i < pts.size(); ++i) {
    a[i] = {std::atan2(pts[i].y - c.y, pts[i].x - c.x), pts[i]};
  }
  std::sort(a.begin(), a.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return {a[0].second, a[1].second, a[2].second, a[3].second};
}

bool Intersect(cv::Vec4f l1, cv::Vec4f l2, cv::Point2f& out) {
  // lines as (vx, vy, x0, y0)
  const double d = l1[0] * l2[1] - l1[1] * l2[0];
  if (std::abs(d) < 1e-6) return false;
  const double t = ((l2[2] - l1[2]) * l2[1] - (l2[3] - l1[3]) * l2[0]) / d;
  out = cv::Point2f(static_cast<float>(l1[2] + t * l1[0]), static_cast<float>(l1[3] + t * l1[1]));
  return true;
}

// Fits a line to the contour points near each side of `q` (middle 70 % of
// the side, within `tol` px) and intersects neighbours: corners of the
// sides' lines, not of the rounded corners.
Quad RefineBySides(const Quad& q, const std::vector<cv::Point>& contour, double tol) {
  std::array<cv::Vec4f, 4> lines;
  for (int i = 0; i < 4; ++i) {
    const cv::Point2f a = q[static_cast<size_t>(i)], b = q[static_cast<size_t>((i + 1) % 4)];
    const double len = Dist(a, b);
    if (len < 4) return q;
    const cv::Point2f u = (b - a) / static_cast<float>(len);
    std::vector<cv::Point2f> near;
    for (const cv::Point& p : contour) {
      const cv::Point2f v = cv::Point2f(static_cast<float>(p.x), static_cast<float>(p.y)) - a;
      const double along = v.x * u.x + v.y * u.y;
      const double across = std::abs(v.x * u.y - v.y * u.x);
      if (along > 0.15 * len && along < 0.85 * len && across < tol) near.push_back(cv::Point2f(p));
    }
    if (near.size() < 8) {
      lines[static_cast<size_t>(i)] = cv::Vec4f(u.x, u.y, a.x, a.y);
    } else {
      cv::fitLine(near, lines[static_cast<size_t>(i)], cv::DIST_HUBER, 0, 0.01, 0.01);
    }
  }
  Quad out;
  for (int i = 0; i < 4; ++i) {
    cv::Point2f p;
    if (!Intersect(lines[static_cast<size_t>((i + 3) % 4)], lines[static_cast<size_t>(i)], p)) {
      return q;
    }
    if (Dist(p, q[static_cast<size_t>(i)]) > 0.2 * Dist(q[0], q[2])) return q;
    out[static_cast<size_t>(i)] = p;
  }
  return out;
}

// Convex, not degenerate, corners between 35 and 145 degrees.
bool Plausible(const Quad& q) {
  double sign = 0;
  for (size_t i = 0; i < 4; ++i) {
    const cv::Point2f a = q[i], b = q[(i + 1) % 4], c = q[(i + 2) % 4];
    const cv::Point2f u = b - a, v = c - b;
    const double cross = u.x * v.y - u.y * v.x;
    if (sign == 0) sign = cross;
    if (cross * sign <= 0) return false;
    const double cosang =
        -(u.x * v.x + u.y * v.y) / (std::hypot(u.x, u.y) * std::hypot(v.x, v.y) + 1e-9);
    if (std::abs(cosang) > 0.82) return false;
  }
  return true;
}

void AddContourCandidates(const std::vector<std::vector<cv::Point>>& contours, double min_area,
                          std::vector<Quad>& quads) {
  for (const auto& c : contours) {
    if (c.size() < 20) continue;
    std::vector<cv::Point> hull;
    cv::convexHull(c, hull);
    const double area = cv::contourArea(hull);
    if (area < min_area) continue;
    const double peri = cv::arcLength(hull, true);
    std::vector<cv::Point> approx;
    for (double eps : {0.02, 0.035, 0.05}) {
      cv::approxPolyDP(hull, approx, eps * peri, true);
      if (approx.size() <= 8) break;
    }
    if (approx.size() >= 4 && approx.size() <= 8) {
      // Every 4 of the hull's vertices (in hull order): a card merged with
      // something touching it keeps its own corners among them.
      const size_t n = approx.size();
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = i + 1; j < n; ++j) {
          for (size_t k = j + 1; k < n; ++k) {
            for (size_t l = k + 1; l < n; ++l) {
              Quad q = Clockwise({cv::Point2f(approx[i]), cv::Point2f(approx[j]),
                                  cv::Point2f(approx[k]), cv::Point2f(approx[l])});
              if (cv::contourArea(std::vector<cv::Point2f>(q.begin(), q.end())) < min_area)
                continue;
              if (!Plausible(q)) continue;
              quads.push_back(q);
              if (n == 4) quads.push_back(RefineBySides(q, c, std::max(3.0, 0.01 * peri)));
            }
          }
        }
      }
    }
    // The minimum-area rectangle: robust to a clipped or rounded corner (no
    // perspective).
    cv::RotatedRect rr = cv::minAreaRect(c);
    cv::Point2f box[4];
    rr.points(box);
    const double rect_area = static_cast<double>(rr.size.area());
    if (rect_area > 0 && area / rect_area > 0.85) {
      quads.push_back(Clockwise({box[0], box[1], box[2], box[3]}));
    }
  }
}

void EdgeCandidates(const cv::Mat& gray, double min_area, std::vector<Quad>& quads) {
  cv::Mat blurred, edges;
  cv::GaussianBlur(gray, blurred, cv::Size(5, 5), 0);
  std::vector<uchar> v(blurred.begin<uchar>(), blurred.end<uchar>());
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  const double med = v[v.size() / 2];
  for (double k : {0.33, 0.66}) {
    cv::Canny(blurred, edges, std::max(10.0, (1 - k) * med * 0.5),
              std::max(30.0, (1 + k) * med * 0.5));
    cv::dilate(edges, edges, cv::Mat(), cv::Point(-1, -1), 1);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(edges, contours, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
    AddContourCandidates(contours, min_area, quads);
  }
}

void RegionCandidates(const cv::Mat& bgr, const cv::Mat& gray, double min_area,
                      std::vector<Quad>& quads) {
  const int k = std::max(3, gray.cols / 150) | 1;
  const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k));
  std::vector<cv::Mat> masks;
  // The bright card on a darker ground.
  cv::Mat blurred, bright;
  cv::GaussianBlur(gray, blurred, cv::Size(5, 5), 0);
  cv::threshold(blurred, bright, 0, 255, cv::THRESH_BINARY | cv::THRESH_OTSU);
  masks.push_back(bright);
  // Anything unlike the border's colour (a scanner's lid, a plain table).
  {
    const int b = std::max(2, std::min(gray.cols, gray.rows) / 50);
    cv::Mat border_mask = cv::Mat::zeros(gray.size(), CV_8UC1);
    border_mask.setTo(255);
    border_mask(cv::Rect(b, b, gray.cols - 2 * b, gray.rows - 2 * b)).setTo(0);
    cv::Scalar mean, stddev;
    cv::Mat small_bgr;
    cv::GaussianBlur(bgr, small_bgr, cv::Size(5, 5), 0);
    cv::meanStdDev(small_bgr, mean, stddev, border_mask);
    const double spread = std::max({stddev[0], stddev[1], stddev[2]});
    if (spread < 25) {
      cv::Mat diff;
      cv::absdiff(small_bgr, mean, diff);
      std::vector<cv::Mat> ch;
      cv::split(diff, ch);
      cv::Mat m = cv::max(cv::max(ch[0], ch[1]), ch[2]);
      cv::Mat fg;
      cv::threshold(m, fg, std::max(8.0, 3.0 * spread), 255, cv::THRESH_BINARY);
      // The card's white may equal the lid: close over the card's interior
      // (its colour bands span the full width at top and bottom).
      cv::Mat big = cv::getStructuringElement(cv::MORPH_RECT, cv::Size(k * 5, k * 5));
      cv::morphologyEx(fg, fg, cv::MORPH_CLOSE, big);
      masks.push_back(fg);
    }
  }
  for (cv::Mat& m : masks) {
    cv::morphologyEx(m, m, cv::MORPH_OPEN, kernel);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(m, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    AddContourCandidates(contours, min_area, quads);
    // Flatbed: the convex hull of everything that is not lid.
    std::vector<cv::Point> all;
    for (const auto& c : contours) {
      if (cv::contourArea(c) > min_area * 0.02) all.insert(all.end(), c.begin(), c.end());
    }
    if (all.size() > 20) AddContourCandidates({all}, min_area, quads);
  }
}

// Target corners of the card (TL, TR, BR, BL) scaled by `s`.
Quad CardCorners(const cv::Rect2d& card, double s) {
  const float x0 = static_cast<float>(card.x * s), y0 = static_cast<float>(card.y * s);
  const float x1 = static_cast<float>((card.x + card.width) * s);
  const float y1 = static_cast<float>((card.y + card.height) * s);
  return {cv::Point2f(x0, y0), cv::Point2f(x1, y0), cv::Point2f(x1, y1), cv::Point2f(x0, y1)};
}

cv::Mat ToGray(const cv::Mat& m) {
  if (m.channels() == 1) return m;
  cv::Mat g;
  cv::cvtColor(m, g, m.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  return g;
}

// Zero-mean, unit-variance float copy (inside mask), with its local
// lighting removed (divided by a heavy blur).
cv::Mat Normalised(const cv::Mat& gray, const cv::Mat& mask) {
  cv::Mat f, bg;
  gray.convertTo(f, CV_32F);
  const int k = std::max(9, f.cols / 8) | 1;
  cv::blur(f, bg, cv::Size(k, k), cv::Point(-1, -1), cv::BORDER_REPLICATE);
  f = f / (bg + 1.0f);
  cv::Scalar mean, sd;
  cv::meanStdDev(f, mean, sd, mask);
  f = (f - mean[0]) / (sd[0] + 1e-6);
  if (!mask.empty()) f.setTo(0, mask == 0);
  return f;
}

double Ncc(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
  const double n = mask.empty() ? static_cast<double>(a.total()) : cv::countNonZero(mask);
  return n > 0 ? a.dot(b) / n : 0;
}

// High-frequency energy of a grey image normalised by its ink contrast
// (2nd to 98th percentile).
double Sharpness(const cv::Mat& gray, const cv::Mat& mask) {
  cv::Mat lap;
  cv::Laplacian(gray, lap, CV_32F, 3);
  cv::Scalar mean, sd;
  cv::meanStdDev(lap, mean, sd, mask);
  int hist[256] = {};
  long n = 0;
  for (int y = 0; y < gray.rows; ++y) {
    const uchar* g = gray.ptr<uchar>(y);
    const uchar* m = mask.empty() ? nullptr : mask.ptr<uchar>(y);
    for (int x = 0; x < gray.cols; ++x) {
      if (!m || m[x]) {
        ++hist[g[x]];
        ++n;
      }
    }
  }
  if (n < 100) return 0;
  auto percentile = [&](double p) {
    long acc = 0;
    for (int i = 0; i < 256; ++i) {
      acc += hist[i];
      if (acc >= p * static_cast<double>(n)) return i;
    }
    return 255;
  };
  const double contrast = percentile(0.98) - percentile(0.02);
  return contrast > 1 ? sd[0] / contrast : 0;
}

}  // namespace

ScanTarget MakeScanTarget(const CardRenderer& renderer, const cv::Mat& expected_front) {
  ScanTarget t;
  const RasterProfile& p = renderer.profile();
  t.size = cv::Size(p.width_px, p.height_px);
  const double ppmm = p.dpi / 25.4;
  const double w = renderer.tmpl().width_mm * ppmm, h = renderer.tmpl().height_mm * ppmm;
  t.card = cv::Rect2d((p.width_px - w) / 2, (p.height_px - h) / 2, w, h);
  t.reference = expected_front;
  t.mask = cv::Mat(t.size, CV_8UC1, cv::Scalar(255));
  if (const Element* qr = renderer.tmpl().QrElement()) {
    t.mask(renderer.ToPx(qr->rect) & cv::Rect(cv::Point(), t.size)).setTo(0);
  }
  const Template& tm = renderer.tmpl();
  t.splits = {0.0, 1.0};
  for (const Element& e : tm.front.elements) {
    if (e.type != ElementType::kBlock || e.rect.x > 0.01 || e.rect.w < tm.width_mm - 0.01) continue;
    for (double y : {e.rect.y, e.rect.y + e.rect.h}) {
      const double f = y / tm.height_mm;
      if (f > 0.02 && f < 0.98) t.splits.push_back(f);
    }
  }
  std::sort(t.splits.begin(), t.splits.end());
  return t;
}

Result<RectifiedScan> RectifyScan(const cv::Mat& capture, const ScanTarget& target) {
  if (capture.empty()) return Unusable("no card found: the image is empty");
  if (target.reference.empty() || target.reference.size() != target.size) {
    return Status(Code::kInternal, "scan target without a reference face");
  }
  cv::Mat bgr = capture;
  if (capture.channels() == 1) cv::cvtColor(capture, bgr, cv::COLOR_GRAY2BGR);
  const double s = std::min(1.0, static_cast<double>(kWorkLongSide) / std::max(bgr.cols, bgr.rows));
  cv::Mat small;
  if (s < 1.0) {
    cv::resize(bgr, small, cv::Size(), s, s, cv::INTER_AREA);
  } else {
    small = bgr;
  }
  const cv::Mat gray = ToGray(small);
  {
    double lo = 0, hi = 0;
    cv::Mat g;
    cv::GaussianBlur(gray, g, cv::Size(5, 5), 0);
    cv::minMaxLoc(g, &lo, &hi);
    if (hi < scan::kMinWhiteLuma) {
      return Unusable("too dark: the brightest part of the image has luma " +
                      std::to_string(static_cast<int>(hi)));
    }
  }
  const double long_side = std::max(gray.cols, gray.rows);
  const double min_len = 0.12 * long_side;
  const double min_area = min_len * min_len / 1.586 * 0.5;

  std::vector<Quad> found;
  EdgeCandidates(gray, min_area, found);
  RegionCandidates(small, gray, min_area, found);
  // Near-duplicates go (corners within 1.5 % of the image's long side).
  std::vector<Quad> quads;
  const double tol = 0.015 * long_side;
  for (const Quad& q : found) {
    bool dup = false;
    for (const Quad& p : quads) {
      double worst = 0;
      for (const auto& c : q) {
        double nearest = 1e9;
        for (const auto& d : p) nearest = std::min(nearest, Dist(c, d));
        worst = std::max(worst, nearest);
      }
      if (worst < tol) {
        dup = true;
        break;
      }
    }
    if (!dup) quads.push_back(q);
  }

  // Score every candidate against the reference: in both orders that put a
  // long side on top, read as the whole card or as the part of it between
  // two full-width bands' edges (the card's edge may be lost in the ground).
  const double ss = static_cast<double>(kScoreWidth) / target.size.width;
  const cv::Size score_size(kScoreWidth, static_cast<int>(std::lround(target.size.height * ss)));
  cv::Mat ref_small, mask_small;
  cv::resize(ToGray(target.reference), ref_small, score_size, 0, 0, cv::INTER_AREA);
  if (!target.mask.empty()) {
    cv::resize(target.mask, mask_small, score_size, 0, 0, cv::INTER_NEAREST);
  } else {
    mask_small = cv::Mat(score_size, CV_8UC1, cv::Scalar(255));
  }
  const cv::Mat ref_n = Normalised(ref_small, mask_small);
  std::vector<double> splits = target.splits;
  if (splits.empty()) splits = {0.0, 1.0};
  struct Span {
    double a, b;
  };
  std::vector<Span> spans;
  for (size_t i = 0; i < splits.size(); ++i) {
    for (size_t j = i + 1; j < splits.size(); ++j) {
      if (splits[j] - splits[i] >= 0.5) spans.push_back({splits[i], splits[j]});
    }
  }
  const double card_ratio = target.card.width / target.card.height;
  double best = -2;
  cv::Mat best_h;
  for (const Quad& q : quads) {
    const double l1 = Dist(q[0], q[1]) + Dist(q[2], q[3]);
    const double l2 = Dist(q[1], q[2]) + Dist(q[3], q[0]);
    const double ratio = std::max(l1, l2) / std::max(1.0, std::min(l1, l2));
    for (const Span& span : spans) {
      const double want = card_ratio / (span.b - span.a);
      if (ratio < 0.7 * want || ratio > 1.5 * want || ratio < 1.1) continue;
      const cv::Rect2d sub(target.card.x, target.card.y + span.a * target.card.height,
                           target.card.width, (span.b - span.a) * target.card.height);
      const Quad dst_small = CardCorners(sub, ss);
      for (int r = 0; r < 4; ++r) {
        const bool long_top = (r % 2 == 0) == (l1 >= l2);
        if (!long_top) continue;
        Quad src;
        for (int i = 0; i < 4; ++i) {
          src[static_cast<size_t>(i)] = q[static_cast<size_t>((i + r) % 4)];
        }
        const cv::Mat h = cv::getPerspectiveTransform(src.data(), dst_small.data());
        cv::Mat warped;
        cv::warpPerspective(gray, warped, h, score_size, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
        const double ncc = Ncc(Normalised(warped, mask_small), ref_n, mask_small);
        if (ncc > best) {
          best = ncc;
          best_h = h;
        }
      }
    }
  }
  RectifiedScan out;
  out.match = best;
  if (best < scan::kMinCardMatch) {
    return Unusable(
        "no card found (best match " + std::to_string(std::max(0.0, best)).substr(0, 4) +
        " of the expected face, under " + std::to_string(scan::kMinCardMatch).substr(0, 4) + ")");
  }
  // The card's corners in the working copy, then in capture pixels.
  Quad best_quad;
  {
    const Quad card_small = CardCorners(target.card, ss);
    std::vector<cv::Point2f> c(card_small.begin(), card_small.end()), back;
    cv::perspectiveTransform(c, back, best_h.inv());
    for (size_t i = 0; i < 4; ++i) best_quad[i] = back[i];
  }
  // Back to capture pixels.
  Quad src_full;
  for (size_t i = 0; i < 4; ++i) src_full[i] = best_quad[i] * static_cast<float>(1.0 / s);
  out.corners = src_full;
  out.card_long_side_px = std::max(Dist(src_full[0], src_full[1]), Dist(src_full[3], src_full[2]));
  // Whether the card's top (TL->TR) is the bottom of its upright picture.
  out.rotated180 = (src_full[0].y + src_full[1].y) > (src_full[2].y + src_full[3].y);
  if (out.card_long_side_px < scan::kMinCardLongSidePx ||
      out.card_long_side_px < scan::kMinCardFraction * std::max(bgr.cols, bgr.rows)) {
    return Unusable("card too small: its longer side is about " +
                    std::to_string(static_cast<int>(out.card_long_side_px)) + " px, under " +
                    std::to_string(static_cast<int>(scan::kMinCardLongSidePx)));
  }
  const Quad dst = CardCorners(target.card, 1.0);
  cv::Mat h = cv::getPerspectiveTransform(src_full.data(), dst.data());

  // ECC refinement at half size (capture -> half target).
  {
    const double hs = 0.5;
    const cv::Size half(static_cast<int>(target.size.width * hs),
                        static_cast<int>(target.size.height * hs));
    cv::Mat scale = (cv::Mat_<double>(3, 3) << hs, 0, 0, 0, hs, 0, 0, 0, 1);
    cv::Mat h_half = scale * h;
    cv::Mat warped, ref_half, mask_half;
    cv::warpPerspective(bgr, warped, h_half, half, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    warped = ToGray(warped);
    cv::resize(ToGray(target.reference), ref_half, half, 0, 0, cv::INTER_AREA);
    cv::resize(target.mask.empty() ? cv::Mat(target.size, CV_8UC1, cv::Scalar(255)) : target.mask,
               mask_half, half, 0, 0, cv::INTER_NEAREST);
    cv::Mat wf, rf, wfb, rfb;
    warped.convertTo(wf, CV_32F);
    ref_half.convertTo(rf, CV_32F);
    // Lighting gradients: ECC is invariant to gain and offset only.
    cv::GaussianBlur(wf, wfb, cv::Size(), 20);
    cv::GaussianBlur(rf, rfb, cv::Size(), 20);
    wf = wf / (wfb + 1.0f);
    rf = rf / (rfb + 1.0f);
    cv::Mat warp = cv::Mat::eye(3, 3, CV_32F);
    try {
      cv::findTransformECC(
          rf, wf, warp, cv::MOTION_HOMOGRAPHY,
          cv::TermCriteria(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 40, 1e-4), mask_half,
          3);
      cv::Mat w64;
      warp.convertTo(w64, CV_64F);
      // warp maps reference (template) coords to warped-scan coords; the
      // refined capture->half map is warp^-1 * h_half.
      cv::Mat refined = w64.inv() * h_half;
      cv::Mat unscale = (cv::Mat_<double>(3, 3) << 1 / hs, 0, 0, 0, 1 / hs, 0, 0, 0, 1);
      cv::Mat candidate = unscale * refined;
      // Accept only a small correction (the corners move < 2 % of the card).
      std::vector<cv::Point2f> c0(dst.begin(), dst.end()), a, b;
      cv::perspectiveTransform(c0, a, h.inv());
      cv::perspectiveTransform(c0, b, candidate.inv());
      double moved = 0;
      for (size_t i = 0; i < 4; ++i) moved = std::max(moved, Dist(a[i], b[i]));
      if (moved < 0.04 * out.card_long_side_px) h = candidate;
    } catch (const cv::Exception&) {
      // ECC did not converge: keep the corner fit.
    }
  }
  out.homography = h;
  // A card larger than the target (a 12 MP photo, a 600 dpi scan) is first
  // reduced (INTER_AREA) to about the target's resolution: warping straight
  // from it would alias the text.
  const double k = out.card_long_side_px / target.card.width;
  if (k > 1.25) {
    cv::Mat reduced;
    cv::resize(bgr, reduced, cv::Size(), 1.0 / k, 1.0 / k, cv::INTER_AREA);
    cv::Mat up = cv::Mat::eye(3, 3, CV_64F);
    up.at<double>(0, 0) = k;
    up.at<double>(1, 1) = k;
    cv::warpPerspective(reduced, out.card, h * up, target.size, cv::INTER_LINEAR,
                        cv::BORDER_REPLICATE);
  } else {
    cv::warpPerspective(bgr, out.card, h, target.size, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  }

  // Usability: brightness and sharpness of the rectified card.
  const cv::Mat card_gray = ToGray(out.card);
  const cv::Mat ref_gray = ToGray(target.reference);
  cv::Mat white = ref_gray >= 250;
  cv::erode(white, white, cv::Mat(), cv::Point(-1, -1), 4);
  if (!target.mask.empty()) white &= target.mask;
  out.white_luma = cv::mean(card_gray, white)[0];
  if (out.white_luma < scan::kMinWhiteLuma) {
    return Unusable("too dark: the card's white reads " +
                    std::to_string(static_cast<int>(out.white_luma)) + " of 255");
  }
  const double ref_sharp = Sharpness(ref_gray, target.mask);
  out.sharpness = ref_sharp > 0 ? Sharpness(card_gray, target.mask) / ref_sharp : 0;
  if (out.sharpness < scan::kMinSharpnessRatio) {
    return Unusable("too blurred: sharpness " + std::to_string(out.sharpness).substr(0, 4) +
                    " of the expected face's, under " +
                    std::to_string(scan::kMinSharpnessRatio).substr(0, 4));
  }
  return out;
}

}  // namespace cardbureau::layout
