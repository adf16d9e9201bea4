// Genuine and tampered printed fronts for the scan QA tests and the
// evaluation tool (scan_eval). A tampered front changes ONE field: it is
// rendered from a modified job with the same UID, and carries the genuine
// card's QR (so QR and chip stay valid), except the "qr" tamper, which is
// the genuine front with another card's QR.
#pragma once

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <vector>

#include "capture_sim.h"
#include "cardbureau/layout/scan.h"
#include "layout_fixtures.h"

namespace cardbureau::layout::testing {

inline const std::vector<std::string>& TamperKinds() {
  static const std::vector<std::string> k = {"name",   "card_no", "education_id", "valid_until",
                                             "gender", "level",   "photo",        "qr"};
  return k;
}

inline Bytes PngBytes(const cv::Mat& m) {
  std::vector<uchar> v;
  cv::imencode(".png", m, v);
  return Bytes(v.begin(), v.end());
}

// The photos of "children": the astronaut and its mirror image.
inline const std::vector<Bytes>& ChildPhotos() {
  static const std::vector<Bytes> photos = [] {
    std::vector<Bytes> out;
    out.push_back(ReadPhoto("astronaut.png"));
    cv::Mat a = cv::imread(kSource + "/fixtures/photos/astronaut.png");
    cv::Mat m;
    cv::flip(a, m, 1);
    out.push_back(PngBytes(m));
    return out;
  }();
  return photos;
}

struct ScanCase {
  Job job;          // the job the chip names
  int photo = 0;    // index into ChildPhotos()
  std::string uid;  // chip UID
  int seq = 1;
  std::string tamper;  // "" genuine, else the field changed
  PreparedCard expected;
  cv::Mat printed;  // the printed front (profile raster)
  std::string payload;
};

inline Job RandomJob(std::mt19937_64& rng, const Job& base) {
  static const char* kNames[] = {"张三",   "李小明", "王芳",   "刘洋",   "陈静",
                                 "杨帆",   "赵雷",   "黄晓燕", "周杰",   "吴敏",
                                 "徐子涵", "孙悦",   "马丽",   "朱一龙", "胡歌",
                                 "郭晶晶", "何欣然", "高远",   "林书豪", "欧阳娜娜"};
  static const char* kSchools[] = {"北京市朝阳区实验小学", "北京市第四中学",
                                   "北京市海淀区中关村第一小学", "北京师范大学附属实验中学"};
  auto pick = [&](int n) {
    return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng));
  };
  auto digits = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + pick(10));
    if (s[0] == '0') s[0] = '1';
    return s;
  };
  Job j = base;
  j.student.name = kNames[pick(20)];
  j.student.gender = pick(2) ? Gender::kMale : Gender::kFemale;
  j.student.education_id = digits(8);
  j.student.level = static_cast<SchoolLevel>(pick(3));
  j.school.name = kSchools[pick(4)];
  j.card.card_no = "100075" + digits(10);
  j.card.valid_until = CivilDate{2027 + pick(7), 9, 30};
  return j;
}

inline std::string ChangeOneDigit(std::string s, std::mt19937_64& rng) {
  const size_t i = std::uniform_int_distribution<size_t>(0, s.size() - 1)(rng);
  const int d = s[i] - '0';
  const int nd = (d + 1 + std::uniform_int_distribution<int>(0, 8)(rng)) % 10;
  s[i] = static_cast<char>('0' + nd);
  return s;
}

// Renders the expected face and the printed front of case `seed` (`tamper`
// "" for a genuine card).
inline Result<ScanCase> MakeScanCase(CardRenderer& r, const QrSigner& signer, uint64_t seed,
                                     const std::string& tamper) {
  static const Job base = [] {
    auto j = LoadJob("valid-primary-new.json");
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? *j : Job{};
  }();
  std::mt19937_64 rng(seed * 1000003 + 11);
  ScanCase c;
  c.job = RandomJob(rng, base);
  c.photo = static_cast<int>(seed % 2);
  char uid[16];
  std::snprintf(uid, sizeof uid, "04%06X", static_cast<unsigned>(seed * 2654435761u) & 0xFFFFFFu);
  c.uid = uid;
  c.tamper = tamper;
  CB_ASSIGN_OR_RETURN(c.expected, r.Prepare(c.job, ChildPhotos()[static_cast<size_t>(c.photo)]));
  CB_ASSIGN_OR_RETURN(RenderedCard genuine, r.ComposeQr(c.expected, c.uid, c.seq, signer));
  c.payload = genuine.qr_payload;
  if (tamper.empty()) {
    c.printed = genuine.images.front.clone();
    return c;
  }
  Job t = c.job;
  int photo = c.photo;
  cv::Mat paste;  // a non-face picture pasted into the photo box
  if (tamper == "name") {
    std::string name = c.job.student.name;
    while (name == c.job.student.name) name = RandomJob(rng, c.job).student.name;
    t.student.name = name;
  } else if (tamper == "card_no") {
    t.card.card_no = ChangeOneDigit(t.card.card_no, rng);
  } else if (tamper == "education_id") {
    t.student.education_id = ChangeOneDigit(t.student.education_id, rng);
  } else if (tamper == "valid_until") {
    CivilDate d = t.ValidUntil();
    const int kind = std::uniform_int_distribution<int>(0, 2)(rng);
    if (kind == 0) d.year += (d.year < 2033 ? 1 : -1);
    if (kind == 1) d.month = 7, d.day = 31;
    if (kind == 2) d.day = 29;
    t.card.valid_until = d;
  } else if (tamper == "gender") {
    t.student.gender = t.student.gender == Gender::kMale ? Gender::kFemale : Gender::kMale;
  } else if (tamper == "level") {
    t.student.level = static_cast<SchoolLevel>(
        (static_cast<int>(t.student.level) + 1 + static_cast<int>(seed % 2)) % 3);
  } else if (tamper == "photo") {
    if (seed % 3 == 0) {
      paste = cv::imread(
          kSource + (seed % 2 ? "/fixtures/photos/chelsea.png" : "/fixtures/photos/coffee.png"));
    } else {
      photo = 1 - c.photo;
    }
  } else if (tamper != "qr") {
    return Status(Code::kInvalidField, "unknown tamper " + tamper);
  }
  CB_ASSIGN_OR_RETURN(PreparedCard tp, r.Prepare(t, ChildPhotos()[static_cast<size_t>(photo)]));
  CB_ASSIGN_OR_RETURN(RenderedCard tr, r.ComposeQr(tp, c.uid, c.seq, signer));
  c.printed = tr.images.front.clone();
  const Element* qr = r.tmpl().QrElement();
  const cv::Rect qr_box = r.ToPx(qr->rect);
  if (tamper == "qr") {
    // Another card's QR: another UID and that card's claims.
    std::mt19937_64 other(seed + 99991);
    Job o = RandomJob(other, base);
    CB_ASSIGN_OR_RETURN(PreparedCard op, r.Prepare(o, ChildPhotos()[0]));
    CB_ASSIGN_OR_RETURN(RenderedCard orc, r.ComposeQr(op, "04ABCDEF", 1, signer));
    c.printed = genuine.images.front.clone();
    orc.images.front(qr_box).copyTo(c.printed(qr_box));
  } else {
    genuine.images.front(qr_box).copyTo(c.printed(qr_box));
  }
  if (!paste.empty()) {
    for (const Element& e : r.tmpl().front.elements) {
      if (e.type != ElementType::kPhoto) continue;
      const cv::Rect box = r.ToPx(e.rect);
      cv::Mat crop = paste(cv::Rect(paste.cols / 6, 0, paste.cols * 2 / 3, paste.rows)), fit;
      cv::resize(crop, fit, box.size(), 0, 0, cv::INTER_AREA);
      fit.copyTo(c.printed(box));
    }
  }
  return c;
}

// Fields that failed, comma-separated ("" when all pass); the QR passes when
// the payload read is the genuine one.
inline std::string FailedFields(const ScanComparison& cmp, const std::string& genuine_payload) {
  std::string out;
  for (const auto& f : cmp.fields) {
    if (!f.pass) out += (out.empty() ? "" : ",") + f.field;
  }
  if (cmp.qr_payload != genuine_payload) out += (out.empty() ? "" : ",") + std::string("qr");
  return out;
}

}  // namespace cardbureau::layout::testing
