#include "cardbureau/layout/font_chain.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cardbureau::layout {
namespace {

FT_Face AsFace(void* f) { return static_cast<FT_Face>(f); }

std::string CodePointName(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp < 0xA0); }

// Above this many cached glyphs the cache is dropped (names vary without
// bound; the static text of a template is re-cached at once).
constexpr size_t kMaxCachedGlyphs = 20000;

}  // namespace

Result<std::unique_ptr<FontChain>> FontChain::Load(const std::vector<FontFile>& files,
                                                   const Template* for_paths) {
  if (files.empty()) return Status(Code::kInvalidTemplate, "empty font chain", "fonts");
  std::unique_ptr<FontChain> chain(new FontChain());
  FT_Library lib = nullptr;
  if (FT_Init_FreeType(&lib) != 0) return Status(Code::kInternal, "FT_Init_FreeType failed");
  chain->library_ = lib;
  for (const auto& f : files) {
    const std::string path = for_paths ? ResolvePath(*for_paths, f.path) : f.path;
    FT_Face face = nullptr;
    if (FT_New_Face(lib, path.c_str(), f.index, &face) != 0 || face == nullptr) {
      return Status(Code::kInvalidTemplate,
                    "cannot open font " + path + " index " + std::to_string(f.index), "fonts");
    }
    chain->faces_.push_back(face);
    if (FT_Select_Charmap(face, FT_ENCODING_UNICODE) != 0) {
      return Status(Code::kInvalidTemplate, "font " + path + " has no Unicode charmap", "fonts");
    }
  }
  return chain;
}

FontChain::~FontChain() {
  for (void* f : faces_) FT_Done_Face(AsFace(f));
  if (library_) FT_Done_FreeType(static_cast<FT_Library>(library_));
}

int FontChain::FontFor(char32_t cp) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < faces_.size(); ++i) {
    if (FT_Get_Char_Index(AsFace(faces_[i]), cp) != 0) return static_cast<int>(i);
  }
  return -1;
}

Status FontChain::CheckRenderable(std::u32string_view text) const {
  std::string missing;
  std::vector<char32_t> seen;
  for (char32_t cp : text) {
    bool ok = !IsControl(cp) && FontFor(cp) >= 0;
    if (!ok && std::find(seen.begin(), seen.end(), cp) == seen.end()) {
      seen.push_back(cp);
      if (!missing.empty()) missing += ", ";
      missing += CodePointName(cp);
    }
  }
  if (missing.empty()) return Status::Ok();
  return Status(Code::kUnrenderableGlyph, "no font in the chain has " + missing);
}

const FontChain::Glyph& FontChain::GlyphFor(char32_t cp, int px) const {
  const uint64_t key = (static_cast<uint64_t>(cp) << 16) | static_cast<uint64_t>(px & 0xFFFF);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  if (cache_.size() > kMaxCachedGlyphs) cache_.clear();
  Glyph g;
  for (void* fv : faces_) {
    FT_Face face = AsFace(fv);
    FT_UInt gi = FT_Get_Char_Index(face, cp);
    if (gi == 0) continue;
    if (FT_Set_Pixel_Sizes(face, 0, static_cast<FT_UInt>(px)) != 0) continue;
    if (FT_Load_Glyph(face, gi, FT_LOAD_RENDER | FT_LOAD_TARGET_LIGHT) != 0) continue;
    FT_GlyphSlot slot = face->glyph;
    const FT_Bitmap& bm = slot->bitmap;
    g.left = slot->bitmap_left;
    g.top = slot->bitmap_top;
    g.advance = static_cast<double>(slot->advance.x) / 64.0;
    if (bm.width > 0 && bm.rows > 0 && bm.pixel_mode == FT_PIXEL_MODE_GRAY) {
      cv::Mat view(static_cast<int>(bm.rows), static_cast<int>(bm.width), CV_8UC1, bm.buffer,
                   static_cast<size_t>(std::abs(bm.pitch)));
      g.alpha = view.clone();
    }
    break;
  }
  return cache_.emplace(key, std::move(g)).first->second;
}

double FontChain::MeasureWidth(std::u32string_view text, int px) const {
  std::lock_guard lock(mu_);
  double w = 0;
  for (char32_t cp : text) w += GlyphFor(cp, px).advance;
  return w;
}

void FontChain::Draw(cv::Mat& bgr, cv::Mat* k_mask, std::u32string_view text, int px, double x,
                     double top_y, Rgb color, cv::Rect clip) const {
  std::lock_guard lock(mu_);
  clip &= cv::Rect(0, 0, bgr.cols, bgr.rows);
  // CJK em box: the ideographic baseline sits 0.88 em below the top.
  const int baseline = static_cast<int>(std::lround(top_y + 0.88 * px));
  double pen = x;
  const int cb = color.b, cg = color.g, cr = color.r;
  for (char32_t cp : text) {
    const Glyph& g = GlyphFor(cp, px);
    if (!g.alpha.empty()) {
      const int ox = static_cast<int>(std::lround(pen)) + g.left;
      const int oy = baseline - g.top;
      for (int r = 0; r < g.alpha.rows; ++r) {
        const int y = oy + r;
        if (y < clip.y || y >= clip.y + clip.height) continue;
        const uint8_t* a = g.alpha.ptr<uint8_t>(r);
        uint8_t* d = bgr.ptr<uint8_t>(y);
        uint8_t* k = k_mask ? k_mask->ptr<uint8_t>(y) : nullptr;
        const int c0 = std::max(0, clip.x - ox);
        const int c1 = std::min(g.alpha.cols, clip.x + clip.width - ox);
        for (int c = c0; c < c1; ++c) {
          const int av = a[c];
          if (av == 0) continue;
          uint8_t* p = d + 3 * (ox + c);
          const int inv = 255 - av;
          p[0] = static_cast<uint8_t>((p[0] * inv + cb * av + 127) / 255);
          p[1] = static_cast<uint8_t>((p[1] * inv + cg * av + 127) / 255);
          p[2] = static_cast<uint8_t>((p[2] * inv + cr * av + 127) / 255);
          if (k && av >= 128) k[ox + c] = 255;
        }
      }
    }
    pen += g.advance;
  }
}

GlyphCheck MakeGlyphCheck(const FontChain& chain) {
  return [&chain](std::u32string_view text) { return chain.CheckRenderable(text); };
}

}  // namespace cardbureau::layout
