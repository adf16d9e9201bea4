// Field-by-field comparison of a rectified scan with the re-rendered face
// (scan.h). The photometric model: scan = illumination(x, y) *
// (a * blur(reference) + b), the illumination a quadratic surface fitted to
// the card's white, (a, b) and the blur fitted over the text fields. A field
// is then judged by what that model cannot explain (docs/qa.md).
#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <opencv2/wechat_qrcode.hpp>

#include "cardbureau/layout/scan.h"
#include "cardbureau/layout/scan_thresholds.h"

namespace cardbureau::layout {

namespace {

enum class Kind { kText, kPhoto, kBand };

struct Region {
  std::string field;
  Kind kind;
  cv::Rect box;
  const Element* element = nullptr;
};

std::string FieldOfText(const std::string& text) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"{student.name}", "name"},     {"{school.name}", "school"},
      {"{student.gender}", "gender"}, {"{student.education_id}", "education_id"},
      {"{card.card_no}", "card_no"},  {"{card.valid_until}", "valid_until"},
      {"{student.level}", "level"},   {"{school.code}", "school"}};
  for (const auto& [ph, field] : kMap) {
    if (text.find(ph) != std::string::npos) return field;
  }
  return "";
}

std::vector<Region> Regions(const CardRenderer& r) {
  std::vector<Region> out;
  const Template& t = r.tmpl();
  const cv::Rect all(0, 0, r.profile().width_px, r.profile().height_px);
  for (const Element& e : t.front.elements) {
    Region reg;
    reg.element = &e;
    reg.box = r.ToPx(e.rect) & all;
    if (e.type == ElementType::kText) {
      reg.field = FieldOfText(e.text);
      reg.kind = Kind::kText;
    } else if (e.type == ElementType::kPhoto) {
      reg.field = "photo";
      reg.kind = Kind::kPhoto;
    } else if (e.type == ElementType::kBlock && !e.color.palette_key.empty()) {
      // A block whose colour tells the level apart (the accent bands).
      const Rgb a = t.Resolve(e.color, SchoolLevel::kPrimary);
      const Rgb b = t.Resolve(e.color, SchoolLevel::kJunior);
      const Rgb c = t.Resolve(e.color, SchoolLevel::kSenior);
      auto far = [](Rgb x, Rgb y) {
        return std::abs(x.r - y.r) + std::abs(x.g - y.g) + std::abs(x.b - y.b) > 60;
      };
      if (far(a, b) && far(b, c) && far(a, c)) {
        reg.field = "level";
        reg.kind = Kind::kBand;
      }
    }
    if (!reg.field.empty() && reg.box.area() > 0) out.push_back(reg);
  }
  return out;
}

// Least-squares quadratic surface through `img` at the nonzero pixels of
// `mask` (every 4th pixel).
cv::Mat FitSurface(const cv::Mat& img, const cv::Mat& mask) {
  std::vector<float> rows;
  std::vector<float> vals;
  const double sx = 1.0 / img.cols, sy = 1.0 / img.rows;
  for (int y = 0; y < img.rows; y += 4) {
    const uchar* m = mask.ptr<uchar>(y);
    const float* v = img.ptr<float>(y);
    for (int x = 0; x < img.cols; x += 4) {
      if (!m[x]) continue;
      const float fx = static_cast<float>(x * sx), fy = static_cast<float>(y * sy);
      rows.insert(rows.end(), {1.f, fx, fy, fx * fx, fx * fy, fy * fy});
      vals.push_back(v[x]);
    }
  }
  const int n = static_cast<int>(vals.size());
  if (n < 200) return cv::Mat(img.size(), CV_32F, cv::Scalar(std::max(1.0, cv::mean(img)[0])));
  cv::Mat a(n, 6, CV_32F, rows.data()), b(n, 1, CV_32F, vals.data()), coef;
  cv::solve(a, b, coef, cv::DECOMP_NORMAL | cv::DECOMP_CHOLESKY);
  cv::Mat out(img.size(), CV_32F);
  const float* c = coef.ptr<float>();
  for (int y = 0; y < img.rows; ++y) {
    float* o = out.ptr<float>(y);
    const float fy = static_cast<float>(y * sy);
    for (int x = 0; x < img.cols; ++x) {
      const float fx = static_cast<float>(x * sx);
      o[x] = std::max(
          1.f, c[0] + c[1] * fx + c[2] * fy + c[3] * fx * fx + c[4] * fx * fy + c[5] * fy * fy);
    }
  }
  return out;
}

struct Affine {
  double a = 1, b = 0, rss = 0;
};

// scan ~ a * ref + b over the mask.
Affine FitAffine(const cv::Mat& scan, const cv::Mat& ref, const cv::Mat& mask) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
  for (int y = 0; y < scan.rows; y += 2) {
    const float* s = scan.ptr<float>(y);
    const float* r = ref.ptr<float>(y);
    const uchar* m = mask.ptr<uchar>(y);
    for (int x = 0; x < scan.cols; x += 2) {
      if (!m[x]) continue;
      n += 1;
      sx += r[x];
      sy += s[x];
      sxx += r[x] * r[x];
      sxy += r[x] * s[x];
      syy += s[x] * s[x];
    }
  }
  Affine f;
  if (n < 10) return f;
  const double var = sxx - sx * sx / n;
  if (var < 1e-9) return f;
  f.a = (sxy - sx * sy / n) / var;
  f.b = (sy - f.a * sx) / n;
  f.rss = std::max(0.0, syy - 2 * f.a * sxy - 2 * f.b * sy + f.a * f.a * sxx + 2 * f.a * f.b * sx +
                            f.b * f.b * n) /
          n;
  return f;
}

// Best integer shift (|dx|, |dy| <= r) of `scan` over `box` to match `pred`.
cv::Rect BestShift(const cv::Mat& scan, const cv::Mat& pred, const cv::Rect& box, int r) {
  const cv::Rect all(0, 0, scan.cols, scan.rows);
  const cv::Rect padded = cv::Rect(box.x - r, box.y - r, box.width + 2 * r, box.height + 2 * r);
  if ((padded & all) != padded) return box;
  cv::Mat res;
  cv::matchTemplate(scan(padded), pred(box), res, cv::TM_SQDIFF);
  cv::Point at;
  cv::minMaxLoc(res, nullptr, nullptr, &at, nullptr);
  return cv::Rect(padded.x + at.x, padded.y + at.y, box.width, box.height);
}

// OpenCV's WeChat QR decoder (opencv_contrib; without its CNN models it
// finds the symbol by its finder patterns). Debian's OpenCV is built
// without quirc, so QRCodeDetector cannot decode.
Result<std::string> OpenCvQr(const cv::Mat& img) {
  try {
    cv::wechat_qrcode::WeChatQRCode det;
    std::vector<std::string> found = det.detectAndDecode(img);
    if (found.size() == 1 && !found[0].empty()) return found[0];
  } catch (const cv::Exception&) {
  }
  return Status(Code::kQrUnreadable, "no QR code found", "qr");
}

}  // namespace

bool ScanComparison::ok() const {
  for (const auto& f : fields) {
    if (!f.pass) return false;
  }
  return true;
}

Result<std::string> DecodeScanQr(const cv::Mat& face, const cv::Rect& qr_box,
                                 std::string* decoder) {
  const cv::Rect all(0, 0, face.cols, face.rows);
  const int m = qr_box.width / 8;
  const cv::Rect box =
      cv::Rect(qr_box.x - m, qr_box.y - m, qr_box.width + 2 * m, qr_box.height + 2 * m) & all;
  std::vector<cv::Mat> tries;
  if (box.area() > 0) {
    cv::Mat crop = face(box).clone(), up;
    tries.push_back(crop);
    cv::resize(crop, up, cv::Size(), 2, 2, cv::INTER_CUBIC);
    tries.push_back(up);
  }
  for (const cv::Mat& t : tries) {
    auto r = OpenCvQr(t);
    if (r.ok()) {
      if (decoder) *decoder = "opencv";
      return r;
    }
  }
  tries.push_back(face);
  for (const cv::Mat& t : tries) {
    auto r = DecodeQrFromImage(t);
    if (r.ok()) {
      if (decoder) *decoder = "zbar";
      return r;
    }
  }
  return Status(Code::kQrUnreadable, "no QR code could be read from the scan", "qr");
}

Result<ScanComparison> CompareScan(const cv::Mat& capture, const CardRenderer& renderer,
                                   const PreparedCard& expected) {
  ScanComparison out;
  const ScanTarget target = MakeScanTarget(renderer, expected.images.front);
  CB_ASSIGN_OR_RETURN(out.scan, RectifyScan(capture, target));
  const cv::Mat& card = out.scan.card;
  const double ppmm = renderer.profile().dpi / 25.4;

  cv::Mat sg, rg, s, r;
  cv::cvtColor(card, sg, cv::COLOR_BGR2GRAY);
  cv::cvtColor(expected.images.front, rg, cv::COLOR_BGR2GRAY);
  sg.convertTo(s, CV_32F);
  rg.convertTo(r, CV_32F, 1.0 / 255);

  // Illumination from the card's white (away from ink, outside the QR box).
  cv::Mat white = rg >= 250;
  cv::erode(white, white, cv::Mat(), cv::Point(-1, -1), 3);
  white &= target.mask;
  const cv::Mat illum = FitSurface(s, white);
  cv::Mat sn = s / illum;

  const std::vector<Region> regions = Regions(renderer);
  cv::Mat text_mask = cv::Mat::zeros(card.size(), CV_8UC1);
  for (const Region& reg : regions) {
    if (reg.kind == Kind::kText) text_mask(reg.box).setTo(255);
  }
  // The blur (and gain/offset) that best explain the text fields.
  double best_sigma = 0;
  Affine best{1, 0, 1e30};
  cv::Mat rb_best = r;
  for (double sigma : {0.0, 0.8, 1.2, 1.7, 2.3, 3.0}) {
    cv::Mat rb;
    if (sigma > 0) {
      cv::GaussianBlur(r, rb, cv::Size(), sigma);
    } else {
      rb = r;
    }
    Affine f = FitAffine(sn, rb, text_mask);
    if (f.rss < best.rss) {
      best = f;
      best_sigma = sigma;
      rb_best = rb;
    }
  }
  (void)best_sigma;
  const cv::Mat pred = rb_best * best.a + best.b;
  cv::Mat rmax, rmin;  // the render's 3x3 max / min: one pixel of misalignment
  const cv::Mat k3 = cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3));
  cv::dilate(rb_best, rmax, k3);
  cv::erode(rb_best, rmin, k3);
  const int win = std::max(5, static_cast<int>(std::lround(scan::kTextWindowMm * ppmm)));
  const int shift = std::max(2, static_cast<int>(std::lround(0.25 * ppmm)));

  // Per-channel white balance for the colour bands.
  std::vector<cv::Mat> ch;
  cv::split(card, ch);
  cv::Mat balanced[3];
  for (int c = 0; c < 3; ++c) {
    cv::Mat f;
    ch[static_cast<size_t>(c)].convertTo(f, CV_32F);
    balanced[c] = f / FitSurface(f, white);
  }

  std::map<std::string, FieldVerdict> verdicts;
  auto merge = [&](const std::string& field, double score, double threshold,
                   const std::string& detail) {
    auto [it, fresh] = verdicts.try_emplace(field);
    FieldVerdict& v = it->second;
    v.field = field;
    const bool pass = score <= threshold;
    // The worst region of a field decides (relative to its threshold).
    if (fresh || score / threshold > v.score / v.threshold) {
      v.score = score;
      v.threshold = threshold;
      if (!pass) v.detail = detail;
    }
    v.pass = (fresh ? true : v.pass) && pass;
    if (!pass && v.detail.empty()) v.detail = detail;
  };

  for (const Region& reg : regions) {
    if (reg.kind == Kind::kText) {
      const cv::Rect box =
          cv::Rect(reg.box.x - 2, reg.box.y - 2, reg.box.width + 4, reg.box.height + 4) &
          cv::Rect(0, 0, card.cols, card.rows);
      const cv::Rect at = BestShift(sn, pred, box, shift);
      cv::Mat sc = sn(at);
      // The field's own gain and offset (the tint under it is the level's),
      // within a third of the card's.
      cv::Mat ones(box.size(), CV_8UC1, cv::Scalar(255));
      Affine local = FitAffine(sc, rb_best(box), ones);
      const double a = std::clamp(local.a, 0.75 * best.a, 1.33 * best.a);
      const double b = cv::mean(sc)[0] - a * cv::mean(rb_best(box))[0];
      cv::Mat hi = rmax(box) * a + b, lo = rmin(box) * a + b;
      cv::Mat res = cv::max(sc - hi, 0) + cv::max(lo - sc, 0);
      res /= std::max(0.05, std::abs(a));
      cv::Mat avg;
      cv::blur(res, avg, cv::Size(win, win), cv::Point(-1, -1), cv::BORDER_REPLICATE);
      double worst = 0;
      cv::minMaxLoc(avg, nullptr, &worst);
      const double threshold =
          reg.field == "school" ? scan::kSchoolMaxResidual
          : (reg.field == "education_id" || reg.field == "card_no" || reg.field == "valid_until")
              ? scan::kDigitsMaxResidual
              : scan::kTextMaxResidual;
      merge(reg.field, worst, threshold,
            "the printed " + reg.element->id + " differs from the expected text");
    } else if (reg.kind == Kind::kPhoto) {
      const cv::Rect at = BestShift(sn, pred, reg.box, shift);
      cv::Mat a, b;
      cv::GaussianBlur(sn(at), a, cv::Size(), 2.0);
      cv::GaussianBlur(pred(reg.box), b, cv::Size(), 2.0);
      cv::Scalar ma, sa, mb, sb;
      cv::meanStdDev(a, ma, sa);
      cv::meanStdDev(b, mb, sb);
      double ncc = 0;
      if (sa[0] > 1e-6 && sb[0] > 1e-6) {
        ncc = (a - ma[0]).dot(b - mb[0]) / (static_cast<double>(a.total()) * sa[0] * sb[0]);
      }
      merge("photo", 1.0 - ncc, scan::kPhotoMaxDissimilarity,
            "the photo does not match the job's photo");
    } else {
      // Median colour of the band (shrunk away from its edges), in the
      // white-balanced scan, against each level's colour mapped through the
      // fitted gain/offset.
      const cv::Rect inner(reg.box.x + 4, reg.box.y + 4, reg.box.width - 8, reg.box.height - 8);
      if (inner.width <= 0 || inner.height <= 0) continue;
      double got[3];
      for (int c = 0; c < 3; ++c) {
        cv::Mat v = balanced[c](inner).clone().reshape(1, 1);
        std::vector<float> vals(v.begin<float>(), v.end<float>());
        std::nth_element(vals.begin(), vals.begin() + static_cast<long>(vals.size() / 2),
                         vals.end());
        got[c] = vals[vals.size() / 2];
      }
      auto dist = [&](SchoolLevel level) {
        const Rgb want = renderer.tmpl().Resolve(reg.element->color, level);
        const double w[3] = {want.b / 255.0, want.g / 255.0, want.r / 255.0};
        double d = 0;
        for (int c = 0; c < 3; ++c) {
          const double e = best.a * w[c] + best.b;
          d += (got[c] - e) * (got[c] - e);
        }
        return std::sqrt(d);
      };
      const SchoolLevel want_level = expected.summary.level;
      const double d_exp = dist(want_level);
      double d_other = 1e9;
      for (SchoolLevel l : {SchoolLevel::kPrimary, SchoolLevel::kJunior, SchoolLevel::kSenior}) {
        if (l != want_level) d_other = std::min(d_other, dist(l));
      }
      merge("level", d_exp / std::max(1e-9, d_exp + d_other), scan::kLevelMaxColorRatio,
            "the " + reg.element->id + " is not the level's colour");
    }
  }
  static const char* kOrder[] = {"name",    "school",      "gender", "education_id",
                                 "card_no", "valid_until", "level",  "photo"};
  for (const char* f : kOrder) {
    auto it = verdicts.find(f);
    if (it != verdicts.end()) out.fields.push_back(it->second);
  }
  if (const Element* qr = renderer.tmpl().QrElement()) {
    auto payload = DecodeScanQr(card, renderer.ToPx(qr->rect), &out.qr_decoder);
    if (payload.ok()) {
      out.qr_payload = *payload;
    } else {
      // The capture itself (more pixels than the rectified card).
      auto raw = DecodeQrFromImage(capture);
      if (raw.ok()) {
        out.qr_payload = *raw;
        out.qr_decoder = "zbar";
      }
    }
  }
  return out;
}

}  // namespace cardbureau::layout
