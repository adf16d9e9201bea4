// Capture simulator for scan QA tests: a rendered front as a phone or
// document camera, or a flatbed scanner, would see the printed card.
// Deterministic: the same parameters (drawn from a seed) give the same bytes.
//
// Photo: the card (rounded corners, a slight print gamma) is placed as a
// plane in front of a pinhole camera (focal length 0.8 x image width),
// rotated in its plane and tilted about a random axis (perspective), on a
// wood-like, cluttered or plain background; then a lighting gradient and
// vignette, exposure, a colour cast, Gaussian blur, sensor noise and JPEG.
// Flatbed: a near-white lid, the card at 300-600 dpi, a small rotation, a
// little noise, PNG or JPEG.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace cardbureau::layout::testing {

enum class Background { kWood, kClutter, kPlain, kLid };

struct CaptureParams {
  bool flatbed = false;
  int width = 2000, height = 1500;  // output image
  double card_fraction = 0.6;       // card's longer side / image width (before tilt)
  double rotation_deg = 0;          // in the card's plane
  double tilt_deg = 0;              // perspective: angle between card and image plane
  double tilt_axis_deg = 0;
  double cx = 0.5, cy = 0.5;  // card centre, fraction of the image
  Background background = Background::kWood;
  double gradient = 0;  // lighting: +-gradient across the card
  double gradient_dir_deg = 0;
  double exposure = 1.0;
  double cast_b = 1, cast_g = 1, cast_r = 1;
  double print_gamma = 1.0;
  double blur_sigma = 0;  // px in the output
  double noise_sigma = 0;
  int jpeg_quality = 0;  // 0: PNG
  double dpi = 300;      // flatbed
  uint64_t seed = 1;

  std::string Describe() const {
    std::ostringstream o;
    o << (flatbed ? "flatbed" : "photo") << " " << width << "x" << height << " card "
      << card_fraction << " rot " << rotation_deg << " tilt " << tilt_deg << " bg "
      << static_cast<int>(background) << " grad " << gradient << " exp " << exposure << " cast "
      << cast_b << "/" << cast_g << "/" << cast_r << " blur " << blur_sigma << " noise "
      << noise_sigma << " jpeg " << jpeg_quality << " dpi " << dpi << " seed " << seed;
    return o.str();
  }
};

// Parameters over the range the issue names, drawn from `seed`.
inline CaptureParams RandomCapture(uint64_t seed, bool flatbed, int max_width = 2400) {
  std::mt19937_64 rng(seed * 7919 + 17);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  CaptureParams p;
  p.seed = seed;
  p.flatbed = flatbed;
  if (flatbed) {
    p.dpi = uni(300, 600);
    p.rotation_deg = uni(-3, 3) + (uni(0, 1) < 0.5 ? 180 : 0);
    p.background = Background::kLid;
    p.noise_sigma = uni(0.5, 2.5);
    p.jpeg_quality = uni(0, 1) < 0.5 ? 0 : static_cast<int>(uni(80, 95));
    p.print_gamma = uni(0.9, 1.1);
    return p;
  }
  const int w = static_cast<int>(uni(1600, max_width));
  p.width = w;
  p.height = static_cast<int>(w * uni(0.7, 0.8));
  p.card_fraction = uni(0.42, 0.85);
  p.rotation_deg = uni(-180, 180);
  p.tilt_deg = uni(0, 30);
  p.tilt_axis_deg = uni(0, 180);
  p.cx = uni(0.4, 0.6);
  p.cy = uni(0.4, 0.6);
  const double b = uni(0, 1);
  p.background = b < 0.45   ? Background::kWood
                 : b < 0.85 ? Background::kClutter
                            : Background::kPlain;
  p.gradient = uni(0, 0.35);
  p.gradient_dir_deg = uni(0, 360);
  p.exposure = uni(0.75, 1.05);
  p.cast_b = uni(0.85, 1.15);
  p.cast_g = uni(0.9, 1.1);
  p.cast_r = uni(0.85, 1.15);
  p.print_gamma = uni(0.9, 1.1);
  p.blur_sigma = uni(0, 1.5);
  p.noise_sigma = uni(1, 5);
  p.jpeg_quality = static_cast<int>(uni(70, 95));
  return p;
}

namespace sim_detail {

inline cv::Mat SmoothNoise(cv::Size size, int cells, std::mt19937_64& rng) {
  cv::Mat small(cells, cells, CV_32F);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int y = 0; y < cells; ++y) {
    for (int x = 0; x < cells; ++x) small.at<float>(y, x) = u(rng);
  }
  cv::Mat big;
  cv::resize(small, big, size, 0, 0, cv::INTER_CUBIC);
  return big;
}

inline cv::Mat MakeBackground(const CaptureParams& p, std::mt19937_64& rng) {
  const cv::Size size(p.width, p.height);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  cv::Mat bg(size, CV_32FC3);
  if (p.background == Background::kWood) {
    const cv::Vec3f base(static_cast<float>(uni(40, 80)), static_cast<float>(uni(80, 120)),
                         static_cast<float>(uni(130, 180)));  // BGR brown
    const double a = uni(0, CV_PI), period = uni(6, 25);
    cv::Mat turb = SmoothNoise(size, 6, rng);
    cv::Mat grain = SmoothNoise(size, 200, rng);
    for (int y = 0; y < size.height; ++y) {
      for (int x = 0; x < size.width; ++x) {
        const double t = (x * std::cos(a) + y * std::sin(a)) / period + 4 * turb.at<float>(y, x);
        const float f = static_cast<float>(0.8 + 0.15 * std::sin(t) + 0.05 * grain.at<float>(y, x));
        bg.at<cv::Vec3f>(y, x) = base * f;
      }
    }
  } else if (p.background == Background::kLid) {
    bg.setTo(cv::Scalar::all(uni(222, 242)));
  } else {
    bg.setTo(cv::Scalar(uni(60, 170), uni(60, 170), uni(60, 170)));
    if (p.background == Background::kClutter) {
      const int n = static_cast<int>(uni(15, 40));
      for (int i = 0; i < n; ++i) {
        const cv::Scalar c(uni(0, 255), uni(0, 255), uni(0, 255));
        const cv::Point a(static_cast<int>(uni(0, p.width)), static_cast<int>(uni(0, p.height)));
        const int r = static_cast<int>(uni(20, p.width / 6.0));
        switch (static_cast<int>(uni(0, 4))) {
          case 0:
            cv::rectangle(bg, a, a + cv::Point(r, static_cast<int>(r * uni(0.3, 1.5))), c, -1);
            break;
          case 1:
            cv::circle(bg, a, r / 2, c, -1, cv::LINE_AA);
            break;
          case 2:
            cv::line(bg, a, a + cv::Point(r * 2, static_cast<int>(uni(-r, r))), c,
                     static_cast<int>(uni(2, 12)), cv::LINE_AA);
            break;
          default:
            cv::putText(bg, "receipt 12.80", a, cv::FONT_HERSHEY_SIMPLEX, uni(0.8, 3), c,
                        static_cast<int>(uni(1, 4)), cv::LINE_AA);
        }
      }
    }
  }
  return bg;
}

}  // namespace sim_detail

// The card front (a profile raster with its bleed, `card` the card's rect
// in it) captured per `p`, encoded (PNG or JPEG).
inline std::vector<uchar> SimulateCapture(const cv::Mat& front, const cv::Rect2d& card,
                                          const CaptureParams& p) {
  std::mt19937_64 rng(p.seed);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  CaptureParams q = p;
  // The physical card: the face without bleed, rounded corners, print gamma.
  cv::Mat face =
      front(cv::Rect(static_cast<int>(std::lround(card.x)), static_cast<int>(std::lround(card.y)),
                     static_cast<int>(std::lround(card.width)),
                     static_cast<int>(std::lround(card.height))))
          .clone();
  cv::Mat facef;
  face.convertTo(facef, CV_32FC3, 1.0 / 255);
  cv::pow(facef, p.print_gamma, facef);
  facef *= 255.0;
  cv::Mat alpha(face.size(), CV_32F, cv::Scalar(0));
  {
    const int r = static_cast<int>(face.cols * 3.18 / 85.6);
    cv::Mat m = cv::Mat::zeros(face.size(), CV_8UC1);
    cv::rectangle(m, cv::Point(r, 0), cv::Point(face.cols - 1 - r, face.rows - 1), 255, -1);
    cv::rectangle(m, cv::Point(0, r), cv::Point(face.cols - 1, face.rows - 1 - r), 255, -1);
    for (cv::Point c :
         {cv::Point(r, r), cv::Point(face.cols - 1 - r, r), cv::Point(r, face.rows - 1 - r),
          cv::Point(face.cols - 1 - r, face.rows - 1 - r)}) {
      cv::circle(m, c, r, 255, -1, cv::LINE_AA);
    }
    m.convertTo(alpha, CV_32F, 1.0 / 255);
  }
  // Where the card's corners land.
  std::vector<cv::Point2f> src = {{0, 0},
                                  {static_cast<float>(face.cols), 0},
                                  {static_cast<float>(face.cols), static_cast<float>(face.rows)},
                                  {0, static_cast<float>(face.rows)}};
  std::vector<cv::Point2f> dst(4);
  if (p.flatbed) {
    const double s = p.dpi / 300.0;
    const double cw = face.cols * s, ch = face.rows * s;
    q.width = static_cast<int>(cw * uni(1.25, 1.6));
    q.height = static_cast<int>(ch * uni(1.3, 1.8));
    const double a = p.rotation_deg * CV_PI / 180;
    const double cx = q.width / 2.0 + uni(-0.05, 0.05) * cw, cy = q.height / 2.0;
    for (size_t i = 0; i < 4; ++i) {
      const double x = (src[i].x - face.cols / 2.0) * s, y = (src[i].y - face.rows / 2.0) * s;
      dst[i] = cv::Point2f(static_cast<float>(cx + x * std::cos(a) - y * std::sin(a)),
                           static_cast<float>(cy + x * std::sin(a) + y * std::cos(a)));
    }
  } else {
    for (double fraction = p.card_fraction;; fraction *= 0.95) {
      const double f = 0.8 * q.width;
      const double w = fraction * q.width;  // card width in px at distance f
      const double k = w / face.cols;
      const double a = p.rotation_deg * CV_PI / 180, t = p.tilt_deg * CV_PI / 180;
      const double ax = std::cos(p.tilt_axis_deg * CV_PI / 180),
                   ay = std::sin(p.tilt_axis_deg * CV_PI / 180);
      bool inside = true;
      for (size_t i = 0; i < 4; ++i) {
        double x = (src[i].x - face.cols / 2.0) * k, y = (src[i].y - face.rows / 2.0) * k, z = 0;
        // in-plane rotation
        const double xr = x * std::cos(a) - y * std::sin(a), yr = x * std::sin(a) + y * std::cos(a);
        // tilt about the axis (ax, ay, 0): Rodrigues
        const double dot = xr * ax + yr * ay;
        const double cx = ay * 0 - 0 * yr, cy = 0 * xr - ax * 0, cz = ax * yr - ay * xr;
        x = xr * std::cos(t) + cx * std::sin(t) + ax * dot * (1 - std::cos(t));
        y = yr * std::cos(t) + cy * std::sin(t) + ay * dot * (1 - std::cos(t));
        z = cz * std::sin(t);
        const double zz = f + z;
        dst[i] = cv::Point2f(static_cast<float>(p.cx * q.width + f * x / zz),
                             static_cast<float>(p.cy * q.height + f * y / zz));
        if (dst[i].x < 4 || dst[i].y < 4 || dst[i].x > q.width - 5 || dst[i].y > q.height - 5) {
          inside = false;
        }
      }
      if (inside || fraction < 0.36) break;
    }
  }
  cv::Mat bg = sim_detail::MakeBackground(q, rng);
  const cv::Mat h = cv::getPerspectiveTransform(src, dst);
  cv::Mat warped, walpha;
  cv::warpPerspective(facef, warped, h, bg.size(), cv::INTER_AREA, cv::BORDER_CONSTANT);
  cv::warpPerspective(alpha, walpha, h, bg.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  cv::Mat a3;
  cv::merge(std::vector<cv::Mat>{walpha, walpha, walpha}, a3);
  cv::Mat img = warped.mul(a3) + bg.mul(cv::Scalar::all(1) - a3);
  // Lighting: gradient + vignette + exposure, colour cast.
  if (!p.flatbed) {
    cv::Mat light(img.size(), CV_32F);
    const double d = p.gradient_dir_deg * CV_PI / 180;
    const double half = std::max(q.width, q.height) / 2.0;
    for (int y = 0; y < img.rows; ++y) {
      float* l = light.ptr<float>(y);
      for (int x = 0; x < img.cols; ++x) {
        const double u =
            ((x - q.width / 2.0) * std::cos(d) + (y - q.height / 2.0) * std::sin(d)) / half;
        const double r2 =
            (std::pow(x - q.width / 2.0, 2) + std::pow(y - q.height / 2.0, 2)) / (half * half);
        l[x] = static_cast<float>(p.exposure * (1 + p.gradient * u) * (1 - 0.15 * r2));
      }
    }
    cv::Mat l3;
    cv::merge(std::vector<cv::Mat>{light, light, light}, l3);
    img = img.mul(l3);
    img = img.mul(cv::Scalar(p.cast_b, p.cast_g, p.cast_r));
  }
  if (p.blur_sigma > 0.05) cv::GaussianBlur(img, img, cv::Size(), p.blur_sigma);
  if (p.noise_sigma > 0) {
    cv::Mat noise(img.size(), CV_32FC3);
    cv::RNG cvrng(p.seed * 31 + 7);
    cvrng.fill(noise, cv::RNG::NORMAL, 0, p.noise_sigma);
    img += noise;
  }
  cv::Mat out;
  img.convertTo(out, CV_8UC3);
  std::vector<uchar> bytes;
  if (p.jpeg_quality > 0) {
    cv::imencode(".jpg", out, bytes, {cv::IMWRITE_JPEG_QUALITY, p.jpeg_quality});
  } else {
    cv::imencode(".png", out, bytes, {cv::IMWRITE_PNG_COMPRESSION, 1});
  }
  return bytes;
}

}  // namespace cardbureau::layout::testing
