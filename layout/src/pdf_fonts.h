// Internal to layout: the PDF's text fonts, written by us through
// libharu's object layer instead of libharu's own TrueType font code.
//
// Why not libharu's fonts: libharu 2.3 encodes text as UCS-2 only (no code
// point above U+FFFF can be shown or mapped), writes a ToUnicode CMap that
// poppler rejects ("Invalid 'begincidrange' operator"), embeds TrueType only
// (the card faces use Noto Sans CJK, a CFF font) and copies the whole font
// file into every document (16.8 MB for a TTC, ~180 ms per proof).
//
// What we write instead, per font file of the chain (the card faces' chain:
// Noto Sans CJK SC, HanaMinA for Ext-A, HanaMinB for Ext-B):
//   Type0 font, /Encoding /Identity-H (2-byte CIDs in the content stream),
//   our own ToUnicode CMap (bfchar, UTF-16BE with surrogate pairs, so
//   U+20001 maps as <D840DC01>), and a CIDFont whose program is a subset
//   built with HarfBuzz's hb-subset (Debian 12: libharfbuzz-dev 6.0, which
//   has the hb_subset_plan_* API used here) holding only the glyphs the
//   document shows:
//   - TrueType (glyf) fonts: CIDFontType2 + FontFile2; CIDs are assigned in
//     order of first use and a /CIDToGIDMap stream maps them to the glyph
//     ids of the subset (hb_subset_plan_old_to_new_glyph_mapping).
//   - CFF fonts (OpenType/CFF, e.g. Noto Sans CJK): CIDFontType0 +
//     FontFile3 /CIDFontType0C (the subset's bare CFF table). A CID-keyed CFF
//     selects glyphs by CID through its charset, and hb-subset keeps every
//     glyph's CID, so the content stream uses the source font's CIDs (read
//     from its charset); Finish() checks the subset's charset agrees.
// A CID shows one glyph but maps to one Unicode string, so two code points
// drawn with the same glyph (e.g. a compatibility ideograph) get separate
// Type0 "views" sharing the CIDFont, each with its own ToUnicode: text then
// extracts exactly as it was given.
//
// The source fonts are opened once per process (mmap via hb_blob, hb_face
// and hb_font are immutable and thread-safe); a CidFontSet belongs to one
// document (not thread-safe).
#pragma once

#include <hpdf.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/status.h"
#include "cardbureau/layout/template.h"

namespace cardbureau::layout::pdf {

class CidFontSet {
 public:
  // Opens (or finds in the process-wide cache) every font file. Errors:
  // INVALID_CONFIG naming the file (missing, not a font, CFF2, no glyphs).
  static Result<std::unique_ptr<CidFontSet>> Create(HPDF_Doc doc,
                                                    const std::vector<FontFile>& files);
  ~CidFontSet();
  CidFontSet(const CidFontSet&) = delete;
  CidFontSet& operator=(const CidFontSet&) = delete;

  // Appends text-showing operators for `text` at `size_pt` (for use inside
  // BT ... ET; the pen advances by the glyph widths) to `ops`, and makes the
  // fonts it uses resources of `page`. Each code point uses the first font of
  // the chain that has it (font 0's .notdef when none has; validation
  // refuses such text before it gets here).
  Status AppendShowText(HPDF_Page page, std::u32string_view text, double size_pt, std::string* ops);
  // Advance width of `text` in points at `size_pt`.
  double Width(std::u32string_view text, double size_pt) const;
  // Subsets the used fonts and writes font programs, widths, ToUnicode and
  // CIDToGIDMap streams. Call before saving; may be called again after more
  // text was added (the streams are rewritten). Errors: INTERNAL.
  Status Finish();

 private:
  struct Font;
  CidFontSet() = default;
  HPDF_Doc doc_ = nullptr;
  std::vector<std::unique_ptr<Font>> fonts_;
};

// Parses a CFF (bare 'CFF ' table) and returns the CID of every glyph when
// the font is CID-keyed, an empty vector when it is name-keyed. Exposed for
// tests. Errors: INVALID_CONFIG (malformed CFF).
Result<std::vector<uint16_t>> CffGlyphCids(std::string_view cff);

}  // namespace cardbureau::layout::pdf
