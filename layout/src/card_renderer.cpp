#include "cardbureau/layout/card_renderer.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <utility>

#include "cardbureau/layout/photo.h"
#include "direct_writer.h"

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

class StaticFaceOutputs {
 public:
  struct Encoded {
    Status status;
    Bytes png, k_png, k_packed;
  };
  StaticFaceOutputs(cv::Mat bgr, cv::Mat k) : bgr_(std::move(bgr)), k_(std::move(k)) {}
  // The encoded outputs when `bgr` and `k` are still this face's pixels
  // (the same buffers, which this object keeps alive, so an address cannot
  // have been recycled); nullptr otherwise. Encodes on first use.
  const Encoded* For(const cv::Mat& bgr, const cv::Mat& k) const {
    if (bgr.data != bgr_.data || k.data != k_.data || bgr.size() != bgr_.size() ||
        k.size() != k_.size() || bgr.type() != bgr_.type() || k.type() != k_.type() ||
        bgr.step != bgr_.step || k.step != k_.step) {
      return nullptr;
    }
    std::call_once(once_, [this] {
      encoded_.status = EncodePngTo(bgr_, encoded_.png);
      if (encoded_.status.ok()) encoded_.status = EncodePngTo(k_, encoded_.k_png);
      encoded_.k_packed = PackMask(k_);
    });
    return &encoded_;
  }

 private:
  const cv::Mat bgr_, k_;
  mutable std::once_flag once_;
  mutable Encoded encoded_;
};

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
      if (el.type != ElementType::kPhoto) continue;
      const cv::Size box = r->ToPx(el.rect).size();
      if (std::find(r->photo_boxes_.begin(), r->photo_boxes_.end(), box) == r->photo_boxes_.end()) {
        r->photo_boxes_.push_back(box);
      }
    }
  }
  for (const Face* face : {&tmpl.front, &tmpl.back}) {
    for (const auto& el : face->elements) {
      if (el.type != ElementType::kImage) continue;
      auto read = ReadImageFile(ResolvePath(tmpl, el.file), "template");
      if (!read.ok()) {
        return Status(Code::kInvalidTemplate,
                      "cannot decode image " + el.file + ": " + read.status().message(),
                      std::string(face == &tmpl.front ? "front." : "back.") + el.id);
      }
      const cv::Mat& img = *read;
      cv::Mat scaled;
      cv::resize(img, scaled, r->ToPx(el.rect).size(), 0, 0, cv::INTER_AREA);
      r->images_[el.id] = scaled;
    }
  }
  CB_RETURN_IF_ERROR(r->BuildStaticLayers());
  return r;
}

CardRenderer::~CardRenderer() = default;

GlyphCheck CardRenderer::glyph_check() const { return MakeGlyphCheck(*fonts_.at(name_font_)); }

Status CardRenderer::DrawText(const Element& el, const std::string& utf8, bool front, cv::Mat& bgr,
                              cv::Mat& k, Rgb color, std::vector<PlacedText>& texts,
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
                        " mm box even at the minimum size " + std::to_string(el.size_min_pt) +
                        " pt",
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
            Status s =
                DrawText(el, el.text, front, layer.bgr, layer.k, tmpl_.Resolve(el.color, level),
                         layer.texts, std::string(front ? "front." : "back.") + el.id);
            if (!s.ok()) return Status(Code::kInvalidTemplate, s.message(), s.field());
            break;
          }
          default:
            break;
        }
      }
      if (std::none_of(face.elements.begin(), face.elements.end(), IsDynamic)) {
        layer.outputs = std::make_shared<const StaticFaceOutputs>(layer.bgr, layer.k);
      }
      (front ? front_layers_ : back_layers_)[static_cast<int>(level)] = std::move(layer);
    }
  }
  return Status::Ok();
}

Result<PreparedCard> CardRenderer::Prepare(const Job& job, ByteView photo) {
  // The photo first (its refusal wins over text errors, as before), one
  // crop per photo box size; with a cache, a photo seen before is neither
  // decoded nor detected again.
  std::vector<std::pair<cv::Size, cv::Mat>> crops;
  for (const cv::Size& box : photo_boxes_) {
    CB_ASSIGN_OR_RETURN(cv::Mat crop, photos_->CheckAndCrop(photo, box));
    crops.emplace_back(box, std::move(crop));
  }
  if (photo_boxes_.empty()) CB_RETURN_IF_ERROR(photos_->Check(photo).status());
  return Compose(job, crops);
}

Result<PreparedCard> CardRenderer::PrepareWithPhoto(const Job& job, const CheckedPhoto& photo) {
  std::vector<std::pair<cv::Size, cv::Mat>> crops;
  for (const cv::Size& box : photo_boxes_) crops.emplace_back(box, photos_->CropCached(photo, box));
  return Compose(job, crops);
}

cv::Mat CardRenderer::CopyToPooled(const cv::Mat& src, std::vector<cv::Mat>& pool) {
  for (cv::Mat& m : pool) {
    // Only the pool holds it: no card uses this buffer any more. Other
    // threads release their references with an acq_rel atomic decrement,
    // so this acquire load orders their last use before our writes; once
    // at 1 it stays there, as only this (owning) thread hands out buffers.
    if (m.u && std::atomic_ref<int>(m.u->refcount).load(std::memory_order_acquire) == 1 &&
        m.size() == src.size() && m.type() == src.type()) {
      src.copyTo(m);  // same size and type: no reallocation
      return m;
    }
  }
  cv::Mat fresh = src.clone();
  if (pool.size() < kPoolSize) pool.push_back(fresh);
  return fresh;
}

Result<PreparedCard> CardRenderer::Compose(const Job& job,
                                           const std::vector<std::pair<cv::Size, cv::Mat>>& crops) {
  PreparedCard card;
  card.profile = profile_;
  card.summary = CardSummary{
      job.job_id,       job.student.name,         job.school.name,          job.school.code,
      job.card.card_no, job.student.education_id, job.ValidUntil().ToIso(), job.student.level};
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
    // by contract). A face with job data starts as a copy of its static
    // layer in a buffer reused from an earlier card that has been released
    // (fresh multi-megabyte buffers cost a page fault per 4 kB).
    cv::Mat bgr = dynamic ? CopyToPooled(layer.bgr, bgr_pool_) : layer.bgr;
    cv::Mat k = dynamic ? CopyToPooled(layer.k, k_pool_) : layer.k;
    card.texts.insert(card.texts.end(), layer.texts.begin(), layer.texts.end());
    for (const auto& el : face.elements) {
      if (!IsDynamic(el) || IsLateText(el)) continue;  // late texts: ComposeQr
      const cv::Rect box = ToPx(el.rect);
      if (el.type == ElementType::kText) {
        CB_RETURN_IF_ERROR(DrawText(el, ExpandText(el.text, job), front, bgr, k,
                                    tmpl_.Resolve(el.color, job.student.level), card.texts,
                                    FieldOf(el, front)));
      } else if (el.type == ElementType::kPhoto) {
        for (const auto& [size, crop] : crops) {
          if (size == box.size()) {
            crop.copyTo(bgr(box));
            break;
          }
        }
      } else if (el.type == ElementType::kQr) {
        card.qr_box = box;
      }
    }
    if (front) {
      card.images.front = std::move(bgr);
      card.images.front_k = std::move(k);
      if (!dynamic) card.images.front_static = layer.outputs;
    } else {
      card.images.back = std::move(bgr);
      card.images.back_k = std::move(k);
      if (!dynamic) card.images.back_static = layer.outputs;
    }
  }
  return card;
}

Result<RenderedCard> CardRenderer::ComposeQr(PreparedCard card, std::string_view uid_hex, int seq,
                                             const QrSigner& signer,
                                             std::string_view transit_no) const {
  auto uid = FromHex(uid_hex);
  if (!uid.ok() || uid->size() < 4 || uid->size() > 10) {
    return Status(Code::kInvalidField, "must be 4 to 10 bytes of hex", "uid");
  }
  card.claims.uid = ToHex(*uid);
  card.claims.seq = seq;
  CB_ASSIGN_OR_RETURN(std::string payload, signer.Sign(card.claims));
  RenderedCard out;
  if (!card.qr_box.empty()) {
    CB_ASSIGN_OR_RETURN(
        QrSymbol sym,
        EncodeQr(payload, std::min(card.qr_box.width, card.qr_box.height), card.profile.dpi));
    DrawQr(sym, card.images.front, &card.images.front_k, card.qr_box);
    out.qr_ec_level = sym.ec_level;
    out.qr_version = sym.version;
  }
  // The card's transit number (its stock lot), known with the UID. The
  // box is restored from the static layer first: a prepared card composed
  // again for a fresh card must not keep the previous card's number.
  const Layer& layer = front_layers_.at(static_cast<int>(card.summary.level));
  for (const auto& el : tmpl_.front.elements) {
    if (!IsLateText(el)) continue;
    const cv::Rect box = ToPx(el.rect) & cv::Rect(0, 0, layer.bgr.cols, layer.bgr.rows);
    layer.bgr(box).copyTo(card.images.front(box));
    layer.k(box).copyTo(card.images.front_k(box));
    if (transit_no.empty()) continue;
    CB_RETURN_IF_ERROR(DrawText(el, ExpandLateText(el.text, transit_no), true, card.images.front,
                                card.images.front_k, tmpl_.Resolve(el.color, card.summary.level),
                                card.texts, "card.transit_no"));
  }
  out.summary = std::move(card.summary);
  out.images = std::move(card.images);
  out.texts = std::move(card.texts);
  out.qr_payload = std::move(payload);
  out.profile = std::move(card.profile);
  return out;
}

namespace {

// 1 bit per pixel into `out` (resized; its capacity is reused). Eight
// pixels at a time: each nonzero byte of a 64-bit load is reduced to its
// top bit, and one multiply gathers the eight bits, the first pixel (the
// lowest byte on a little-endian machine) into the MSB.
void PackMaskInto(const cv::Mat& mask, Bytes& out) {
  static_assert(std::endian::native == std::endian::little);
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7full, kHigh = 0x8080808080808080ull;
  constexpr uint64_t kGather = 0x8040201008040201ull;
  const size_t cols = static_cast<size_t>(mask.cols);
  const size_t stride = (cols + 7) / 8;
  out.resize(stride * static_cast<size_t>(mask.rows));
  for (int y = 0; y < mask.rows; ++y) {
    const uint8_t* row = mask.ptr<uint8_t>(y);
    uint8_t* dst = out.data() + stride * static_cast<size_t>(y);
    size_t x = 0;
    for (; x + 8 <= cols; x += 8) {
      uint64_t w;
      std::memcpy(&w, row + x, 8);
      const uint64_t nonzero = ((((w & kLow7) + kLow7) | w) & kHigh) >> 7;
      dst[x / 8] = static_cast<uint8_t>((nonzero * kGather) >> 56);
    }
    if (x < cols) {
      uint8_t b = 0;
      for (size_t i = x; i < cols; ++i) {
        if (row[i]) b = static_cast<uint8_t>(b | (0x80 >> (i - x)));
      }
      dst[x / 8] = b;
    }
  }
}

using output::DirectWriter;
using output::kDirectIoMin;
using output::WriteBytes;

// Per-thread scratch buffers for WriteCardOutputs: a card's outputs are
// ~5 MB, and fresh buffers of that size cost a page fault per 4 kB.
struct WriteScratch {
  Bytes png;
  Bytes packed;
  DirectWriter direct;  // the large files: both panel buffers, both colour PNGs (direct_writer.h)
};

WriteScratch& ThreadScratch() {
  thread_local WriteScratch scratch;
  return scratch;
}

// Whether a file goes by DirectWriter.
bool Direct(const OutputOptions& options, size_t n) {
  return options.direct_io && n >= kDirectIoMin;
}

}  // namespace

Bytes PackMask(const cv::Mat& mask) {
  Bytes out;
  PackMaskInto(mask, out);
  return out;
}

Status WritePng(const cv::Mat& image, const std::string& path) {
  Bytes png;
  CB_RETURN_IF_ERROR(EncodePngTo(image, png));
  return WriteBytes(path, png.data(), png.size());
}

Status WriteOutputFile(const std::string& path, ByteView data, const OutputOptions& options) {
  if (!Direct(options, data.size())) return WriteBytes(path, data.data(), data.size());
  DirectWriter& w = ThreadScratch().direct;
  std::memcpy(w.Buffer(0, data.size()), data.data(), data.size());
  CB_RETURN_IF_ERROR(w.Submit(0, path, data.size(), options.aio));
  return w.Finish();
}

Status WriteCardOutputs(const RenderedCard& card, const std::string& dir,
                        const OutputOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(Code::kIoError, "cannot create " + dir + ": " + ec.message());
  WriteScratch& scratch = ThreadScratch();
  const std::string d = dir + "/";
  // With direct_io, the four large files (both panel buffers, both colour
  // PNGs, one slot each) go to the device asynchronously while the rest is
  // encoded; an early error return waits for them before the buffers can
  // be reused.
  struct Drain {
    DirectWriter& w;
    ~Drain() { w.Drain(); }
  } drain{scratch.direct};
  size_t next_slot = 0;
  // `fill` puts the n bytes of the file into the aligned memory it is given.
  auto write_via_slot = [&](const std::string& name, size_t n, auto&& fill) -> Status {
    uint8_t* buf = scratch.direct.Buffer(next_slot, n);
    fill(buf);
    if (!Direct(options, n)) return WriteBytes(d + name, buf, n);
    return scratch.direct.Submit(next_slot++, d + name, n, options.aio);
  };
  auto write_large = [&](const std::string& name, const Bytes& bytes) {
    if (!Direct(options, bytes.size())) return WriteBytes(d + name, bytes.data(), bytes.size());
    return write_via_slot(name, bytes.size(),
                          [&](uint8_t* buf) { std::memcpy(buf, bytes.data(), bytes.size()); });
  };
  auto write = [&](const std::string& name, const Bytes& bytes) {
    return WriteBytes(d + name, bytes.data(), bytes.size());
  };
  static_assert(DirectWriter::kSlots == 4);
  for (bool front : {true, false}) {
    const std::string side = front ? "front" : "back";
    const cv::Mat& bgr = front ? card.images.front : card.images.back;
    if (bgr.type() != CV_8UC3) return Status(Code::kInternal, "face is not 8-bit BGR");
    // The panel buffer first, converted straight into aligned memory.
    CB_RETURN_IF_ERROR(
        write_via_slot(side + ".rgb", bgr.total() * bgr.elemSize(), [&](uint8_t* buf) {
          cv::Mat rgb(bgr.rows, bgr.cols, CV_8UC3, buf);
          cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);  // same size and type: writes in place
        }));
  }
  for (bool front : {true, false}) {
    const std::string side = front ? "front" : "back";
    const cv::Mat& bgr = front ? card.images.front : card.images.back;
    const cv::Mat& k = front ? card.images.front_k : card.images.back_k;
    const StaticFaceOutputs* pre =
        (front ? card.images.front_static : card.images.back_static).get();
    const StaticFaceOutputs::Encoded* enc = pre ? pre->For(bgr, k) : nullptr;
    if (enc) {
      CB_RETURN_IF_ERROR(enc->status);
      CB_RETURN_IF_ERROR(write_large(side + ".png", enc->png));
      CB_RETURN_IF_ERROR(write(side + "-k.png", enc->k_png));
      CB_RETURN_IF_ERROR(write(side + "-k.bin", enc->k_packed));
    } else {
      CB_RETURN_IF_ERROR(EncodePngTo(bgr, scratch.png));
      CB_RETURN_IF_ERROR(write_large(side + ".png", scratch.png));
      CB_RETURN_IF_ERROR(EncodePngTo(k, scratch.png));
      CB_RETURN_IF_ERROR(write(side + "-k.png", scratch.png));
      PackMaskInto(k, scratch.packed);
      CB_RETURN_IF_ERROR(write(side + "-k.bin", scratch.packed));
    }
  }
  return scratch.direct.Finish();
}

}  // namespace cardbureau::layout
