#include "cardbureau/layout/card_renderer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace cardbureau::layout {
namespace {

cv::Scalar ToScalar(Rgb c) { return cv::Scalar(c.b, c.g, c.r); }

// The single job field a text element shows, for error paths.
std::string FieldOf(const Element& el, bool front) {
  size_t open = el.text.find('{');
  size_t close = el.text.find('}', open == std::string::npos ? 0 : open);
  if (open != std::string::npos && close != std::string::npos &&
      el.text.find('{', open + 1) == std::string::npos) {
    return el.text.substr(open + 1, close - open - 1);
  }
  return std::string(front ? "front." : "back.") + el.id;
}

int PtToPx(double pt, int dpi) { return static_cast<int>(std::floor(pt / 72.0 * dpi + 1e-9)); }

}  // namespace

const std::vector<RasterProfile>& Profiles() {
  static const std::vector<RasterProfile> k = {{"evolis-300", 300, 1016, 648},
                                               {"evolis-600", 600, 2032, 1296}};
  return k;
}

Result<RasterProfile> FindProfile(std::string_view name) {
  for (const auto& p : Profiles()) {
    if (p.name == name) return p;
  }
  return Status(Code::kNotFound, "unknown raster profile '" + std::string(name) + "'", "profile");
}

bool CardRenderer::IsDynamic(const Element& el) {
  return el.type == ElementType::kPhoto || el.type == ElementType::kQr ||
         (el.type == ElementType::kText && el.text.find('{') != std::string::npos);
}

cv::Rect CardRenderer::ToPx(const RectMm& r) const {
  constexpr double kEdge = 1e-3;
  int x0 = static_cast<int>(std::lround(ox_ + r.x * ppmm_));
  int y0 = static_cast<int>(std::lround(oy_ + r.y * ppmm_));
  int x1 = static_cast<int>(std::lround(ox_ + (r.x + r.w) * ppmm_));
  int y1 = static_cast<int>(std::lround(oy_ + (r.y + r.h) * ppmm_));
  if (r.x < kEdge) x0 = 0;
  if (r.y < kEdge) y0 = 0;
  if (r.x + r.w > tmpl_.width_mm - kEdge) x1 = profile_.width_px;
  if (r.y + r.h > tmpl_.height_mm - kEdge) y1 = profile_.height_px;
  return cv::Rect(x0, y0, std::max(1, x1 - x0), std::max(1, y1 - y0)) &
         cv::Rect(0, 0, profile_.width_px, profile_.height_px);
}

Result<std::unique_ptr<CardRenderer>> CardRenderer::Create(const Template& tmpl,
                                                           const RasterProfile& profile,
                                                           const PhotoConfig& photo) {
  if (profile.dpi < 72 || profile.dpi > 1200 || profile.width_px < 100 || profile.height_px < 60 ||
      profile.width_px > 20000 || profile.height_px > 20000) {
    return Status(Code::kInvalidConfig, "raster profile out of range", "profile");
  }
  std::unique_ptr<CardRenderer> r(new CardRenderer(tmpl, profile));
  r->ppmm_ = profile.dpi / 25.4;
  r->ox_ = (profile.width_px - tmpl.width_mm * r->ppmm_) / 2.0;
  r->oy_ = (profile.height_px - tmpl.height_mm * r->ppmm_) / 2.0;
  for (const auto& [key, files] : tmpl.fonts) {
    auto chain = FontChain::Load(files, &tmpl);
    if (!chain.ok()) return chain.status().WithFieldPrefix("fonts." + key);
    r->fonts_[key] = std::move(chain).value();
  }
  for (const auto& el : tmpl.front.elements) {
    if (el.type == ElementType::kText && el.text.find("{student.name}") != std::string::npos) {
      r->name_font_ = el.font;
      break;
    }
  }
  if (r->name_font_.empty()) r->name_font_ = tmpl.fonts.begin()->first;
  CB_ASSIGN_OR_RETURN(r->photos_, PhotoProcessor::Create(photo));
  for (const Face* face : {&tmpl.front, &tmpl.back}) {
    for (const auto& el : face->elements) {
      if (el.type != ElementType::kImage) continue;
      cv::Mat img = cv::imread(ResolvePath(tmpl, el.file), cv::IMREAD_COLOR);
      if (img.empty()) {
        return Status(Code::kInvalidTemplate, "cannot decode image " + el.file,
                      std::string(face == &tmpl.front ? "front." : "back.") + el.id);
      }
      cv::Mat scaled;
      cv::resize(img, scaled, r->ToPx(el.rect).size(), 0, 0, cv::INTER_AREA);
      r->images_[el.id] = scaled;
    }
  }
  CB_RETURN_IF_ERROR(r->BuildStaticLayers());
  return r;
}

CardRenderer::~CardRenderer() = default;

GlyphCheck CardRenderer::glyph_check() const {
  return MakeGlyphCheck(*fonts_.at(name_font_));
}

Status CardRenderer::DrawText(const Element& el, const std::string& utf8, bool front,
                              cv::Mat& bgr, cv::Mat& k, Rgb color, std::vector<PlacedText>& texts,
                              const std::string& field) const {
  auto cps = DecodeUtf8(utf8);
  if (!cps.ok()) return Status(Code::kInvalidField, "is not valid UTF-8", field);
  const FontChain& chain = *fonts_.at(el.font);
  Status g = chain.CheckRenderable(*cps);
  if (!g.ok()) return Status(g.code(), g.message(), field);
  const cv::Rect box = ToPx(el.rect);
  int max_px = std::min(PtToPx(el.size_max_pt, profile_.dpi), box.height);
  const int min_px = std::max(1, PtToPx(el.size_min_pt, profile_.dpi));
  if (max_px < min_px) {
    return Status(Code::kInvalidTemplate, "box is lower than the minimum text size", field);
  }
  int px = max_px;
  double w = chain.MeasureWidth(*cps, px);
  if (w > box.width) {
    // Widths scale almost linearly with size: jump close, then step down.
    px = std::min(px - 1, static_cast<int>(std::floor(px * box.width / w)));
    if (px < min_px) px = min_px;
    w = chain.MeasureWidth(*cps, px);
    while (w > box.width && px > min_px) {
      --px;
      w = chain.MeasureWidth(*cps, px);
    }
    if (w > box.width) {
      return Status(Code::kInvalidField,
                    "text does not fit its " + std::to_string(el.rect.w) +
                        " mm box even at the minimum size " + std::to_string(el.size_min_pt) + " pt",
                    field);
    }
  }
  double x = box.x;
  if (el.align == Align::kCenter) x = box.x + (box.width - w) / 2.0;
  if (el.align == Align::kRight) x = box.x + box.width - w;
  const double top = box.y + (box.height - px) / 2.0;
  chain.Draw(bgr, el.k_panel ? &k : nullptr, *cps, px, x, top, color, box);
  PlacedText pt;
  pt.front = front;
  pt.rect = el.rect;
  pt.x_mm = (x - ox_) / ppmm_;
  pt.size_pt = px * 72.0 / profile_.dpi;
  pt.text = utf8;
  texts.push_back(std::move(pt));
  return Status::Ok();
}

Status CardRenderer::BuildStaticLayers() {
  for (SchoolLevel level : {SchoolLevel::kPrimary, SchoolLevel::kJunior, SchoolLevel::kSenior}) {
    for (bool front : {true, false}) {
      const Face& face = front ? tmpl_.front : tmpl_.back;
      Layer layer;
      layer.bgr = cv::Mat(profile_.height_px, profile_.width_px, CV_8UC3,
                          ToScalar(tmpl_.Resolve(face.background, level)));
      layer.k = cv::Mat::zeros(profile_.height_px, profile_.width_px, CV_8UC1);
      for (const auto& el : face.elements) {
        if (IsDynamic(el)) continue;
        const cv::Rect box = ToPx(el.rect);
        switch (el.type) {
          case ElementType::kBlock:
            cv::rectangle(layer.bgr, box, ToScalar(tmpl_.Resolve(el.color, level)), cv::FILLED);
            break;
          case ElementType::kImage:
            images_.at(el.id).copyTo(layer.bgr(box));
            break;
          case ElementType::kText: {
            Status s = DrawText(el, el.text, front, layer.bgr, layer.k,
                                tmpl_.Resolve(el.color, level), layer.texts,
                                std::string(front ? "front." : "back.") + el.id);
            if (!s.ok()) return Status(Code::kInvalidTemplate, s.message(), s.field());
            break;
          }
          default:
            break;
        }
      }
      (front ? front_layers_ : back_layers_)[static_cast<int>(level)] = std::move(layer);
    }
  }
  return Status::Ok();
}

Result<PreparedCard> CardRenderer::Prepare(const Job& job, ByteView photo) {
  CB_ASSIGN_OR_RETURN(CheckedPhoto checked, photos_->Check(photo));
  return PrepareWithPhoto(job, checked);
}

Result<PreparedCard> CardRenderer::PrepareWithPhoto(const Job& job, const CheckedPhoto& photo) {
  PreparedCard card;
  card.profile = profile_;
  card.summary = CardSummary{job.job_id,           job.student.name,     job.school.name,
                             job.school.code,      job.card.card_no,     job.student.education_id,
                             job.ValidUntil().ToIso(), job.student.level};
  card.claims.eid = job.student.education_id;
  card.claims.cno = job.card.card_no;
  card.claims.sch = job.school.code;
  card.claims.exp = job.ValidUntil().ToCompact();
  const int level = static_cast<int>(job.student.level);
  for (bool front : {true, false}) {
    const Layer& layer = (front ? front_layers_ : back_layers_).at(level);
    const Face& face = front ? tmpl_.front : tmpl_.back;
    const bool dynamic = std::any_of(face.elements.begin(), face.elements.end(), IsDynamic);
    // A face without job data is shared with the cached layer (read-only
    // by contract), which saves a 2 MB copy per card.
    cv::Mat bgr = dynamic ? layer.bgr.clone() : layer.bgr;
    cv::Mat k = dynamic ? layer.k.clone() : layer.k;
    card.texts.insert(card.texts.end(), layer.texts.begin(), layer.texts.end());
    for (const auto& el : face.elements) {
      if (!IsDynamic(el)) continue;
      const cv::Rect box = ToPx(el.rect);
      if (el.type == ElementType::kText) {
        CB_RETURN_IF_ERROR(DrawText(el, ExpandText(el.text, job), front, bgr, k,
                                    tmpl_.Resolve(el.color, job.student.level), card.texts,
                                    FieldOf(el, front)));
      } else if (el.type == ElementType::kPhoto) {
        photos_->Crop(photo, box.size()).copyTo(bgr(box));
      } else if (el.type == ElementType::kQr) {
        card.qr_box = box;
      }
    }
    if (front) {
      card.images.front = std::move(bgr);
      card.images.front_k = std::move(k);
    } else {
      card.images.back = std::move(bgr);
      card.images.back_k = std::move(k);
    }
  }
  return card;
}

Result<RenderedCard> CardRenderer::ComposeQr(PreparedCard card, std::string_view uid_hex, int seq,
                                             const QrSigner& signer) const {
  auto uid = FromHex(uid_hex);
  if (!uid.ok() || uid->size() < 4 || uid->size() > 10) {
    return Status(Code::kInvalidField, "must be 4 to 10 bytes of hex", "uid");
  }
  card.claims.uid = ToHex(*uid);
  card.claims.seq = seq;
  CB_ASSIGN_OR_RETURN(std::string payload, signer.Sign(card.claims));
  RenderedCard out;
  if (!card.qr_box.empty()) {
    CB_ASSIGN_OR_RETURN(QrSymbol sym,
                        EncodeQr(payload, std::min(card.qr_box.width, card.qr_box.height),
                                 card.profile.dpi));
    DrawQr(sym, card.images.front, &card.images.front_k, card.qr_box);
    out.qr_ec_level = sym.ec_level;
    out.qr_version = sym.version;
  }
  out.summary = std::move(card.summary);
  out.images = std::move(card.images);
  out.texts = std::move(card.texts);
  out.qr_payload = std::move(payload);
  out.profile = std::move(card.profile);
  return out;
}

Bytes PackMask(const cv::Mat& mask) {
  const size_t stride = (static_cast<size_t>(mask.cols) + 7) / 8;
  Bytes out(stride * static_cast<size_t>(mask.rows), 0);
  for (int y = 0; y < mask.rows; ++y) {
    const uint8_t* row = mask.ptr<uint8_t>(y);
    uint8_t* dst = out.data() + stride * static_cast<size_t>(y);
    for (int x = 0; x < mask.cols; ++x) {
      if (row[x]) dst[x >> 3] = static_cast<uint8_t>(dst[x >> 3] | (0x80 >> (x & 7)));
    }
  }
  return out;
}

Status WritePng(const cv::Mat& image, const std::string& path) {
  std::vector<int> params = {cv::IMWRITE_PNG_COMPRESSION, 1, cv::IMWRITE_PNG_STRATEGY,
                             cv::IMWRITE_PNG_STRATEGY_RLE};
  if (image.type() == CV_8UC1) {
    params.push_back(cv::IMWRITE_PNG_BILEVEL);
    params.push_back(1);
  }
  bool ok = false;
  try {
    ok = cv::imwrite(path, image, params);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) return Status(Code::kIoError, "cannot write " + path);
  return Status::Ok();
}

namespace {
Status WriteBytes(const std::string& path, const uint8_t* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
  out.close();
  if (!out) return Status(Code::kIoError, "cannot write " + path);
  return Status::Ok();
}
}  // namespace

Status WriteCardOutputs(const RenderedCard& card, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(Code::kIoError, "cannot create " + dir + ": " + ec.message());
  const std::string d = dir + "/";
  for (bool front : {true, false}) {
    const std::string side = front ? "front" : "back";
    const cv::Mat& bgr = front ? card.images.front : card.images.back;
    const cv::Mat& k = front ? card.images.front_k : card.images.back_k;
    CB_RETURN_IF_ERROR(WritePng(bgr, d + side + ".png"));
    CB_RETURN_IF_ERROR(WritePng(k, d + side + "-k.png"));
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    CB_RETURN_IF_ERROR(WriteBytes(d + side + ".rgb", rgb.data, rgb.total() * rgb.elemSize()));
    Bytes packed = PackMask(k);
    CB_RETURN_IF_ERROR(WriteBytes(d + side + "-k.bin", packed.data(), packed.size()));
  }
  return Status::Ok();
}

}  // namespace cardbureau::layout
