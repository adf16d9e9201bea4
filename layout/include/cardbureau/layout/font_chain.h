// A font chain: FreeType faces tried in order for every code point
// (Noto Sans CJK SC, then HanaMinA, HanaMinB for rare ideographs). Text is
// never drawn with a missing glyph: CheckRenderable() refuses it first.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cardbureau/core/status.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/layout/template.h"

namespace cardbureau::layout {

// Owns one FT_Library and one FT_Face per font file, plus a glyph cache.
// Thread-safe: every public method takes an internal mutex, so one chain may
// be shared, but workers that render in parallel should each own a chain
// (FontChain::Load is cheap: faces are opened lazily by FreeType streams).
// Not copyable or movable; held by unique_ptr.
class FontChain {
 public:
  // Opens every file (index = face inside a .ttc). Errors: INVALID_TEMPLATE
  // naming the file when FreeType cannot open it.
  static Result<std::unique_ptr<FontChain>> Load(const std::vector<FontFile>& files,
                                                 const Template* for_paths = nullptr);
  ~FontChain();
  FontChain(const FontChain&) = delete;
  FontChain& operator=(const FontChain&) = delete;

  // OK, or UNRENDERABLE_GLYPH listing every code point no font has
  // ("U+2A6D7"). Control characters are unrenderable too.
  Status CheckRenderable(std::u32string_view text) const;
  // Index in the chain of the first font with a glyph for cp, or -1.
  int FontFor(char32_t cp) const;
  size_t size() const { return faces_.size(); }

  // Advance width in pixels of `text` at an em size of `px` pixels.
  // Precondition: CheckRenderable(text) is OK.
  double MeasureWidth(std::u32string_view text, int px) const;

  // Alpha-blends `text` in `color` onto `bgr` (CV_8UC3) with the em box top
  // at `top_y` and the pen starting at `x`; when `k_mask` (CV_8UC1) is not
  // null, pixels with coverage >= 50% are set to 255 there too. Glyphs are
  // clipped to `clip` (pixels). Precondition: CheckRenderable(text) is OK.
  void Draw(cv::Mat& bgr, cv::Mat* k_mask, std::u32string_view text, int px, double x, double top_y,
            Rgb color, cv::Rect clip) const;

 private:
  struct Glyph {
    cv::Mat alpha;  // CV_8UC1 coverage
    int left = 0;   // bitmap offset from the pen x
    int top = 0;    // bitmap top above the baseline
    double advance = 0;
  };
  FontChain() = default;
  const Glyph& GlyphFor(char32_t cp, int px) const;  // requires mu_ held

  void* library_ = nullptr;   // FT_Library, owned
  std::vector<void*> faces_;  // FT_Face, owned
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, Glyph> cache_;
};

// A core GlyphCheck backed by `chain`. The chain must outlive the returned
// function. Thread-safe (the chain serialises).
GlyphCheck MakeGlyphCheck(const FontChain& chain);

}  // namespace cardbureau::layout
