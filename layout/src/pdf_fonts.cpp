#include "pdf_fonts.h"

#include <hb-ot.h>
#include <hb-subset.h>
#include <hb.h>
#include <hpdf_doc.h>
#include <hpdf_objects.h>
#include <hpdf_pages.h>
#include <hpdf_streams.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>

namespace cardbureau::layout::pdf {
namespace {

Status BadFont(const std::string& what) { return Status(Code::kInvalidConfig, what, "pdf.fonts"); }

// One font file of the chain, opened once per process. Immutable after
// OpenSource() returns it; HarfBuzz faces and fonts are thread-safe.
struct SourceFont {
  std::string path;
  int index = 0;
  hb_blob_t* blob = nullptr;
  hb_face_t* face = nullptr;
  hb_font_t* font = nullptr;  // scale = units per em
  unsigned upem = 1000;
  bool cff = false;                  // else TrueType (glyf)
  std::vector<uint16_t> gid_to_cid;  // CID-keyed CFF only
  std::string ps_name;
  std::vector<hb_tag_t> drop_tables;  // every table a PDF font program does not need
  int bbox[4] = {0, 0, 1000, 1000};   // in 1/1000 em
  int ascent = 880, descent = -120, cap_height = 700;

  // Width in 1/1000 em, rounded as written to /W.
  int Width1000(hb_codepoint_t gid) const {
    return static_cast<int>(std::lround(hb_font_get_glyph_h_advance(font, gid) * 1000.0 / upem));
  }
};

std::string TableBytes(hb_face_t* face, hb_tag_t tag) {
  hb_blob_t* b = hb_face_reference_table(face, tag);
  unsigned len = 0;
  const char* d = hb_blob_get_data(b, &len);
  std::string out(d ? d : "", d ? len : 0);
  hb_blob_destroy(b);
  return out;
}

int16_t S16(std::string_view d, size_t at) {
  return static_cast<int16_t>((static_cast<uint8_t>(d[at]) << 8) | static_cast<uint8_t>(d[at + 1]));
}

Result<std::unique_ptr<SourceFont>> LoadSource(const FontFile& f) {
  auto src = std::make_unique<SourceFont>();
  src->path = f.path;
  src->index = f.index;
  const std::string where = f.path + " index " + std::to_string(f.index);
  src->blob = hb_blob_create_from_file_or_fail(f.path.c_str());
  if (!src->blob) return BadFont("cannot open font " + f.path);
  if (f.index < 0 || static_cast<unsigned>(f.index) >= hb_face_count(src->blob)) {
    hb_blob_destroy(src->blob);
    return BadFont("no face " + where);
  }
  src->face = hb_face_create(src->blob, static_cast<unsigned>(f.index));
  hb_face_make_immutable(src->face);
  auto fail = [&](const std::string& why) {
    hb_face_destroy(src->face);
    hb_blob_destroy(src->blob);
    return BadFont(why + ": " + where);
  };
  if (hb_face_get_glyph_count(src->face) == 0) return fail("font has no glyphs");
  src->upem = hb_face_get_upem(src->face);
  const std::string head = TableBytes(src->face, HB_TAG('h', 'e', 'a', 'd'));
  if (head.size() < 54 || src->upem == 0) return fail("font has no valid head table");
  hb_blob_t* cff_blob = hb_face_reference_table(src->face, HB_TAG('C', 'F', 'F', ' '));
  unsigned cff_len = 0;
  const char* cff_data = hb_blob_get_data(cff_blob, &cff_len);
  if (cff_len > 0) {
    src->cff = true;
    auto cids = CffGlyphCids(std::string_view(cff_data, cff_len));
    hb_blob_destroy(cff_blob);
    if (!cids.ok()) return fail(cids.status().message());
    src->gid_to_cid = std::move(cids).value();
  } else {
    hb_blob_destroy(cff_blob);
    hb_blob_t* glyf = hb_face_reference_table(src->face, HB_TAG('g', 'l', 'y', 'f'));
    const unsigned glyf_len = hb_blob_get_length(glyf);
    hb_blob_destroy(glyf);
    if (glyf_len == 0)
      return fail("font has neither glyf nor CFF outlines (CFF2 is not supported)");
  }
  {
    // Kept: the outlines and what a TrueType program needs to be loaded.
    const hb_tag_t keep[] = {HB_TAG('C', 'F', 'F', ' '), HB_TAG('g', 'l', 'y', 'f'),
                             HB_TAG('l', 'o', 'c', 'a'), HB_TAG('h', 'e', 'a', 'd'),
                             HB_TAG('h', 'h', 'e', 'a'), HB_TAG('h', 'm', 't', 'x'),
                             HB_TAG('m', 'a', 'x', 'p'), HB_TAG('c', 'm', 'a', 'p'),
                             HB_TAG('O', 'S', '/', '2'), HB_TAG('p', 'o', 's', 't')};
    hb_tag_t tags[64];
    unsigned offset = 0, count = 0;
    do {
      count = 64;
      hb_face_get_table_tags(src->face, offset, &count, tags);
      for (unsigned i = 0; i < count; ++i) {
        if (std::find(std::begin(keep), std::end(keep), tags[i]) == std::end(keep))
          src->drop_tables.push_back(tags[i]);
      }
      offset += count;
    } while (count == 64);
  }
  auto scaled = [&](int v) { return static_cast<int>(std::lround(v * 1000.0 / src->upem)); };
  src->bbox[0] = scaled(S16(head, 36));
  src->bbox[1] = scaled(S16(head, 38));
  src->bbox[2] = scaled(S16(head, 40));
  src->bbox[3] = scaled(S16(head, 42));
  src->font = hb_font_create(src->face);
  hb_font_make_immutable(src->font);
  hb_font_extents_t ext{};
  if (hb_font_get_h_extents(src->font, &ext)) {
    src->ascent = scaled(ext.ascender);
    src->descent = scaled(ext.descender);
  }
  hb_position_t cap = 0;
  src->cap_height = hb_ot_metrics_get_position(src->font, HB_OT_METRICS_TAG_CAP_HEIGHT, &cap)
                        ? scaled(cap)
                        : src->ascent;
  char name[128] = {};
  unsigned len = sizeof name;
  hb_ot_name_get_utf8(src->face, HB_OT_NAME_ID_POSTSCRIPT_NAME, HB_LANGUAGE_INVALID, &len, name);
  for (const char* p = name; *p; ++p) {
    const char c = *p;
    // PDF name: keep the PostScript name's safe characters only.
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_')
      src->ps_name += c;
  }
  if (src->ps_name.empty()) src->ps_name = "Font";
  return src;
}

// Process-wide cache: a proof per card must not re-read a 20 MB font.
Result<const SourceFont*> OpenSource(const FontFile& f) {
  static std::mutex mu;
  // Never freed: the fonts stay mapped for the life of the process.
  static auto* cache = new std::map<std::pair<std::string, int>, std::unique_ptr<SourceFont>>();
  std::lock_guard lock(mu);
  auto key = std::make_pair(f.path, f.index);
  auto it = cache->find(key);
  if (it != cache->end()) return static_cast<const SourceFont*>(it->second.get());
  CB_ASSIGN_OR_RETURN(auto src, LoadSource(f));
  const SourceFont* p = src.get();
  cache->emplace(key, std::move(src));
  return p;
}

void AppendHex4(std::string* s, unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04X", v & 0xFFFFu);
  *s += buf;
}

// UTF-16BE hex of one code point (a surrogate pair above U+FFFF).
std::string Utf16Hex(char32_t cp) {
  std::string s;
  if (cp > 0xFFFF) {
    const unsigned v = static_cast<unsigned>(cp) - 0x10000u;
    AppendHex4(&s, 0xD800u + (v >> 10));
    AppendHex4(&s, 0xDC00u + (v & 0x3FFu));
  } else {
    AppendHex4(&s, static_cast<unsigned>(cp));
  }
  return s;
}

std::string ToUnicodeCMap(const std::map<uint16_t, char32_t>& cid_to_cp) {
  std::string s =
      "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
      "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
      "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
      "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n";
  auto it = cid_to_cp.begin();
  while (it != cid_to_cp.end()) {
    // At most 100 entries per bfchar block (PDF 32000-1 9.10.3).
    const size_t n = std::min<size_t>(100, static_cast<size_t>(std::distance(it, cid_to_cp.end())));
    s += std::to_string(n) + " beginbfchar\n";
    for (size_t k = 0; k < n; ++k, ++it) {
      s += '<';
      AppendHex4(&s, it->first);
      s += "> <" + Utf16Hex(it->second) + ">\n";
    }
    s += "endbfchar\n";
  }
  s += "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// CFF charset reader (only what is needed: is the font CID-keyed, and the CID
// of every glyph).

Result<std::vector<uint16_t>> CffGlyphCids(std::string_view d) {
  auto bad = [](const char* what) {
    return Status(Code::kInvalidConfig, std::string("malformed CFF: ") + what, "pdf.fonts");
  };
  auto u8 = [&](size_t at) -> std::optional<unsigned> {
    if (at >= d.size()) return std::nullopt;
    return static_cast<uint8_t>(d[at]);
  };
  auto un = [&](size_t at, unsigned n) -> std::optional<size_t> {
    if (n == 0 || n > 4 || at + n > d.size()) return std::nullopt;
    size_t v = 0;
    for (unsigned i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(d[at + i]);
    return v;
  };
  // An INDEX at `off`: its items (start, end) and the offset after it.
  struct Index {
    std::vector<std::pair<size_t, size_t>> items;
    size_t end = 0;
  };
  auto index = [&](size_t off) -> std::optional<Index> {
    auto count = un(off, 2);
    if (!count) return std::nullopt;
    Index ix;
    if (*count == 0) {
      ix.end = off + 2;
      return ix;
    }
    auto osz = u8(off + 2);
    if (!osz || *osz < 1 || *osz > 4) return std::nullopt;
    const size_t offs = off + 3, base = offs + (*count + 1) * *osz - 1;
    size_t prev = 0;
    for (size_t i = 0; i <= *count; ++i) {
      auto o = un(offs + i * *osz, *osz);
      if (!o || *o < 1 || base + *o > d.size() || (i > 0 && *o < prev)) return std::nullopt;
      if (i > 0) ix.items.emplace_back(base + prev, base + *o);
      prev = *o;
    }
    ix.end = base + prev;
    return ix;
  };
  auto hdr = u8(2);
  if (!hdr) return bad("header");
  auto names = index(*hdr);
  if (!names) return bad("Name INDEX");
  auto tops = index(names->end);
  if (!tops || tops->items.empty()) return bad("Top DICT INDEX");
  // Top DICT: operands then operator; only integers matter here.
  long charset = 0, charstrings = -1;
  bool cid_keyed = false;
  std::vector<long> ops;
  for (size_t p = tops->items[0].first, e = tops->items[0].second; p < e;) {
    const unsigned b0 = static_cast<uint8_t>(d[p]);
    if (b0 <= 21) {
      unsigned op = b0;
      ++p;
      if (b0 == 12) {
        if (p >= e) return bad("Top DICT");
        op = 1200 + static_cast<uint8_t>(d[p++]);
      }
      if (op == 15 && !ops.empty()) charset = ops.back();
      if (op == 17 && !ops.empty()) charstrings = ops.back();
      if (op == 1230) cid_keyed = true;  // ROS
      ops.clear();
    } else if (b0 == 28) {
      if (p + 3 > e) return bad("Top DICT");
      ops.push_back(S16(d, p + 1));
      p += 3;
    } else if (b0 == 29) {
      if (p + 5 > e) return bad("Top DICT");
      ops.push_back(static_cast<int32_t>(*un(p + 1, 4)));
      p += 5;
    } else if (b0 == 30) {  // real: skip nibbles up to the 0xF terminator
      ++p;
      while (p < e) {
        const unsigned x = static_cast<uint8_t>(d[p++]);
        if ((x & 0x0F) == 0x0F || (x >> 4) == 0x0F) break;
      }
      ops.push_back(0);
    } else if (b0 >= 32 && b0 <= 246) {
      ops.push_back(static_cast<long>(b0) - 139);
      ++p;
    } else if (b0 >= 247 && b0 <= 254) {
      if (p + 2 > e) return bad("Top DICT");
      const long w = static_cast<long>(b0 >= 251 ? b0 - 251 : b0 - 247) * 256 +
                     static_cast<uint8_t>(d[p + 1]) + 108;
      ops.push_back(b0 >= 251 ? -w : w);
      p += 2;
    } else {
      return bad("Top DICT operand");
    }
  }
  if (charstrings <= 0) return bad("no CharStrings");
  auto nglyphs = un(static_cast<size_t>(charstrings), 2);
  if (!nglyphs || *nglyphs == 0) return bad("CharStrings INDEX");
  std::vector<uint16_t> cids;
  if (!cid_keyed) return cids;
  if (charset <= 2) return bad("CID-keyed font without a charset");
  cids.assign(*nglyphs, 0);
  size_t q = static_cast<size_t>(charset);
  auto fmt = u8(q++);
  if (!fmt || *fmt > 2) return bad("charset format");
  for (size_t g = 1; g < *nglyphs;) {
    if (*fmt == 0) {
      auto cid = un(q, 2);
      if (!cid) return bad("charset");
      cids[g++] = static_cast<uint16_t>(*cid);
      q += 2;
    } else {
      auto first = un(q, 2);
      auto left = un(q + 2, *fmt == 1 ? 1 : 2);
      if (!first || !left) return bad("charset");
      q += *fmt == 1 ? 3 : 4;
      for (size_t k = 0; k <= *left && g < *nglyphs; ++k) {
        cids[g++] = static_cast<uint16_t>(*first + k);
      }
    }
  }
  return cids;
}

// ---------------------------------------------------------------------------

struct CidFontSet::Font {
  struct View {
    HPDF_Dict type0 = nullptr;
    HPDF_Dict to_unicode = nullptr;
    std::map<uint16_t, char32_t> cid_to_cp;
    std::string resource;  // name in the pages' /Font resources
    std::set<HPDF_Page> on_pages;
  };
  const SourceFont* src = nullptr;
  int chain_index = 0;
  HPDF_Dict cidfont = nullptr;
  HPDF_Dict descriptor = nullptr;
  HPDF_Dict file = nullptr;        // FontFile2 / FontFile3 stream
  HPDF_Dict cid_to_gid = nullptr;  // TrueType only
  std::vector<View> views;
  std::map<hb_codepoint_t, uint16_t> gid_to_cid;  // glyphs used (source gid)
  uint16_t next_cid = 1;                          // TrueType: CIDs by first use
  bool dirty = false;                             // glyphs or views added since Finish
};

CidFontSet::~CidFontSet() = default;

Result<std::unique_ptr<CidFontSet>> CidFontSet::Create(HPDF_Doc doc,
                                                       const std::vector<FontFile>& files) {
  if (files.empty()) return BadFont("empty PDF font chain");
  std::unique_ptr<CidFontSet> set(new CidFontSet());
  set->doc_ = doc;
  for (size_t i = 0; i < files.size(); ++i) {
    CB_ASSIGN_OR_RETURN(const SourceFont* src, OpenSource(files[i]));
    auto f = std::make_unique<Font>();
    f->src = src;
    f->chain_index = static_cast<int>(i);
    set->fonts_.push_back(std::move(f));
  }
  return set;
}

namespace {

// The chain font and glyph for cp: first font with a glyph, else font 0's
// .notdef.
std::pair<size_t, hb_codepoint_t> Lookup(const std::vector<const SourceFont*>& chain, char32_t cp) {
  for (size_t i = 0; i < chain.size(); ++i) {
    hb_codepoint_t gid = 0;
    if (hb_font_get_nominal_glyph(chain[i]->font, cp, &gid) && gid != 0) return {i, gid};
  }
  return {0, 0};
}

}  // namespace

double CidFontSet::Width(std::u32string_view text, double size_pt) const {
  std::vector<const SourceFont*> chain;
  for (const auto& f : fonts_) chain.push_back(f->src);
  long units = 0;
  for (char32_t cp : text) {
    auto [fi, gid] = Lookup(chain, cp);
    units += chain[fi]->Width1000(gid);
  }
  return static_cast<double>(units) * size_pt / 1000.0;
}

Status CidFontSet::AppendShowText(HPDF_Page page, std::u32string_view text, double size_pt,
                                  std::string* ops) {
  HPDF_MMgr mmgr = doc_->mmgr;
  std::vector<const SourceFont*> chain;
  for (const auto& f : fonts_) chain.push_back(f->src);
  // The font view the pending hex string is in: (chain index, view index).
  std::pair<size_t, size_t> current{SIZE_MAX, SIZE_MAX};
  std::string hex;
  auto flush = [&] {
    if (!hex.empty()) *ops += "<" + hex + "> Tj\n";
    hex.clear();
  };
  char size_buf[32];
  std::snprintf(size_buf, sizeof size_buf, " %.3f Tf\n", size_pt);
  for (char32_t cp : text) {
    auto [fi, gid] = Lookup(chain, cp);
    Font& f = *fonts_[fi];
    const SourceFont& src = *f.src;
    if (!f.cidfont) {
      // First use in this document: the CIDFont, its descriptor and file
      // stream (filled by Finish).
      f.cidfont = HPDF_Dict_New(mmgr);
      f.descriptor = HPDF_Dict_New(mmgr);
      if (!f.cidfont || !f.descriptor || HPDF_Xref_Add(doc_->xref, f.cidfont) != HPDF_OK ||
          HPDF_Xref_Add(doc_->xref, f.descriptor) != HPDF_OK)
        return Status(Code::kInternal, "PDF font objects", "pdf");
      f.file = HPDF_DictStream_New(mmgr, doc_->xref);
      if (!f.file) return Status(Code::kInternal, "PDF font stream", "pdf");
      f.file->filter = HPDF_STREAM_FILTER_FLATE_DECODE;
      HPDF_Dict_AddName(f.cidfont, "Type", "Font");
      HPDF_Dict_AddName(f.cidfont, "Subtype", src.cff ? "CIDFontType0" : "CIDFontType2");
      HPDF_Dict info = HPDF_Dict_New(mmgr);
      HPDF_Dict_Add(info, "Registry", HPDF_String_New(mmgr, "Adobe", nullptr));
      HPDF_Dict_Add(info, "Ordering", HPDF_String_New(mmgr, "Identity", nullptr));
      HPDF_Dict_AddNumber(info, "Supplement", 0);
      HPDF_Dict_Add(f.cidfont, "CIDSystemInfo", info);
      HPDF_Dict_Add(f.cidfont, "FontDescriptor", f.descriptor);
      HPDF_Dict_AddNumber(f.cidfont, "DW", 1000);
      HPDF_Dict_AddName(f.descriptor, "Type", "FontDescriptor");
      HPDF_Dict_AddNumber(f.descriptor, "Flags", 4);  // symbolic
      HPDF_Array bbox = HPDF_Array_New(mmgr);
      for (int v : src.bbox) HPDF_Array_AddNumber(bbox, v);
      HPDF_Dict_Add(f.descriptor, "FontBBox", bbox);
      HPDF_Dict_AddNumber(f.descriptor, "ItalicAngle", 0);
      HPDF_Dict_AddNumber(f.descriptor, "Ascent", src.ascent);
      HPDF_Dict_AddNumber(f.descriptor, "Descent", src.descent);
      HPDF_Dict_AddNumber(f.descriptor, "CapHeight", src.cap_height);
      HPDF_Dict_AddNumber(f.descriptor, "StemV", 80);
      if (src.cff) {
        HPDF_Dict_AddName(f.file, "Subtype", "CIDFontType0C");
        HPDF_Dict_Add(f.descriptor, "FontFile3", f.file);
      } else {
        HPDF_Dict_Add(f.descriptor, "FontFile2", f.file);
        f.cid_to_gid = HPDF_DictStream_New(mmgr, doc_->xref);
        if (!f.cid_to_gid) return Status(Code::kInternal, "PDF CIDToGIDMap stream", "pdf");
        f.cid_to_gid->filter = HPDF_STREAM_FILTER_FLATE_DECODE;
        HPDF_Dict_Add(f.cidfont, "CIDToGIDMap", f.cid_to_gid);
      }
    }
    // The glyph's CID.
    uint16_t cid = 0;
    if (auto it = f.gid_to_cid.find(gid); it != f.gid_to_cid.end()) {
      cid = it->second;
    } else {
      if (!src.cff) {
        if (f.next_cid == 0xFFFF)
          return Status(Code::kInternal, "too many glyphs in one PDF font", "pdf");
        cid = f.next_cid++;
      } else if (src.gid_to_cid.empty()) {
        cid = static_cast<uint16_t>(gid);  // name-keyed CFF: CID = GID (subset keeps GIDs)
      } else {
        cid = gid < src.gid_to_cid.size() ? src.gid_to_cid[gid] : 0;
      }
      f.gid_to_cid.emplace(gid, cid);
      f.dirty = true;
    }
    // A view whose ToUnicode maps this CID to cp (or not yet at all).
    size_t vi = 0;
    for (; vi < f.views.size(); ++vi) {
      auto it = f.views[vi].cid_to_cp.find(cid);
      if (it == f.views[vi].cid_to_cp.end() || it->second == cp) break;
    }
    if (vi == f.views.size()) {
      Font::View v;
      v.type0 = HPDF_Dict_New(mmgr);
      if (!v.type0 || HPDF_Xref_Add(doc_->xref, v.type0) != HPDF_OK)
        return Status(Code::kInternal, "PDF font object", "pdf");
      v.to_unicode = HPDF_DictStream_New(mmgr, doc_->xref);
      if (!v.to_unicode) return Status(Code::kInternal, "PDF ToUnicode stream", "pdf");
      v.to_unicode->filter = HPDF_STREAM_FILTER_FLATE_DECODE;
      HPDF_Dict_AddName(v.type0, "Type", "Font");
      HPDF_Dict_AddName(v.type0, "Subtype", "Type0");
      HPDF_Dict_AddName(v.type0, "Encoding", "Identity-H");
      HPDF_Array desc = HPDF_Array_New(mmgr);
      HPDF_Array_Add(desc, f.cidfont);
      HPDF_Dict_Add(v.type0, "DescendantFonts", desc);
      HPDF_Dict_Add(v.type0, "ToUnicode", v.to_unicode);
      v.resource = "CB" + std::to_string(f.chain_index) + "v" + std::to_string(vi);
      f.views.push_back(std::move(v));
      f.dirty = true;
    }
    Font::View& view = f.views[vi];
    if (view.cid_to_cp.emplace(cid, cp).second) f.dirty = true;
    if (view.on_pages.insert(page).second) {
      HPDF_PageAttr attr = static_cast<HPDF_PageAttr>(page->attr);
      if (!attr->fonts) {
        HPDF_Dict resources = static_cast<HPDF_Dict>(
            HPDF_Page_GetInheritableItem(page, "Resources", HPDF_OCLASS_DICT));
        HPDF_Dict fonts = HPDF_Dict_New(mmgr);
        if (!resources || !fonts || HPDF_Dict_Add(resources, "Font", fonts) != HPDF_OK)
          return Status(Code::kInternal, "PDF page resources", "pdf");
        attr->fonts = fonts;
      }
      if (HPDF_Dict_Add(attr->fonts, view.resource.c_str(), view.type0) != HPDF_OK)
        return Status(Code::kInternal, "PDF page font resource", "pdf");
    }
    if (current != std::make_pair(fi, vi)) {
      flush();
      current = {fi, vi};
      *ops += "/" + view.resource + size_buf;
    }
    AppendHex4(&hex, cid);
  }
  flush();
  return Status::Ok();
}

Status CidFontSet::Finish() {
  HPDF_MMgr mmgr = doc_->mmgr;
  for (auto& fp : fonts_) {
    Font& f = *fp;
    if (!f.cidfont || !f.dirty) continue;
    const SourceFont& src = *f.src;
    // Subset: exactly the used glyphs (plus .notdef and, for TrueType,
    // composite components), no hinting, only the tables a PDF font program
    // needs. The glyphs are requested by code point: every glyph we show is
    // a code point's nominal glyph (.notdef is always kept). Requesting glyph
    // ids instead makes hb-subset 6.0 walk the whole cmap (~5 ms for Noto
    // Sans CJK, ~0.5 ms by code point); below, every used glyph is checked
    // to be in the subset.
    hb_subset_input_t* input = hb_subset_input_create_or_fail();
    if (!input) return Status(Code::kInternal, "hb_subset_input_create_or_fail", "pdf");
    hb_set_t* unicodes = hb_subset_input_unicode_set(input);
    for (const auto& v : f.views) {
      for (const auto& [cid, cp] : v.cid_to_cp) hb_set_add(unicodes, cp);
    }
    hb_set_t* drop = hb_subset_input_set(input, HB_SUBSET_SETS_DROP_TABLE_TAG);
    for (hb_tag_t tag : src.drop_tables) hb_set_add(drop, tag);
    // Desubroutinized CFF: the few glyphs' charstrings are expanded instead
    // of subsetting the font's large subroutine INDEXes (smaller and faster).
    unsigned flags = HB_SUBSET_FLAGS_NO_HINTING | HB_SUBSET_FLAGS_DESUBROUTINIZE;
    if (src.cff && src.gid_to_cid.empty()) flags |= HB_SUBSET_FLAGS_RETAIN_GIDS;
    hb_subset_input_set_flags(input, flags);
    hb_subset_plan_t* plan = hb_subset_plan_create_or_fail(src.face, input);
    hb_subset_input_destroy(input);
    if (!plan) return Status(Code::kInternal, "hb-subset plan failed for " + src.ps_name, "pdf");
    const hb_map_t* old_to_new = hb_subset_plan_old_to_new_glyph_mapping(plan);
    std::map<uint16_t, hb_codepoint_t> cid_to_new;
    for (const auto& [gid, cid] : f.gid_to_cid) {
      const hb_codepoint_t ngid = hb_map_get(old_to_new, gid);
      if (ngid == HB_MAP_VALUE_INVALID) {
        hb_subset_plan_destroy(plan);
        return Status(Code::kInternal, "hb-subset dropped a glyph of " + src.ps_name, "pdf");
      }
      cid_to_new[cid] = ngid;
    }
    hb_face_t* sub = hb_subset_plan_execute_or_fail(plan);
    hb_subset_plan_destroy(plan);
    if (!sub) return Status(Code::kInternal, "hb-subset failed for " + src.ps_name, "pdf");
    std::string program;
    if (src.cff) {
      program = TableBytes(sub, HB_TAG('C', 'F', 'F', ' '));
    } else {
      hb_blob_t* whole = hb_face_reference_blob(sub);
      unsigned len = 0;
      const char* data = hb_blob_get_data(whole, &len);
      program.assign(data ? data : "", data ? len : 0);
      hb_blob_destroy(whole);
    }
    hb_face_destroy(sub);
    if (program.empty())
      return Status(Code::kInternal, "empty font subset for " + src.ps_name, "pdf");
    if (src.cff && !src.gid_to_cid.empty()) {
      // The content stream selects glyphs by the source's CIDs: the subset
      // must give every glyph the CID it had.
      auto sub_cids = CffGlyphCids(program);
      if (!sub_cids.ok()) return Status(Code::kInternal, sub_cids.status().message(), "pdf");
      for (const auto& [cid, ngid] : cid_to_new) {
        if (ngid >= sub_cids->size() || (*sub_cids)[ngid] != cid)
          return Status(Code::kInternal, "font subset changed a glyph's CID in " + src.ps_name,
                        "pdf");
      }
    }
    // Subset tag: six capitals from a hash of the glyph set (same glyphs,
    // same tag: the output is deterministic).
    uint64_t h = 1469598103934665603ull ^ static_cast<uint64_t>(f.chain_index);
    for (const auto& [gid, cid] : f.gid_to_cid) h = (h ^ gid) * 1099511628211ull;
    std::string tag;
    for (int i = 0; i < 6; ++i, h /= 26) tag += static_cast<char>('A' + h % 26);
    const std::string base = tag + "+" + src.ps_name;
    HPDF_Dict_AddName(f.cidfont, "BaseFont", base.c_str());
    HPDF_Dict_AddName(f.descriptor, "FontName", base.c_str());
    HPDF_MemStream_FreeData(f.file->stream);
    HPDF_Stream_Write(f.file->stream, reinterpret_cast<const HPDF_BYTE*>(program.data()),
                      static_cast<HPDF_UINT>(program.size()));
    if (!src.cff) HPDF_Dict_AddNumber(f.file, "Length1", static_cast<HPDF_INT32>(program.size()));
    // Widths: runs of consecutive CIDs, "c [w1 w2 ...]".
    HPDF_Array w = HPDF_Array_New(mmgr);
    HPDF_Array run = nullptr;
    int prev = -2;
    std::map<uint16_t, int> widths;
    for (const auto& [gid, cid] : f.gid_to_cid) widths[cid] = src.Width1000(gid);
    for (const auto& [cid, width] : widths) {
      if (static_cast<int>(cid) != prev + 1) {
        HPDF_Array_AddNumber(w, cid);
        run = HPDF_Array_New(mmgr);
        HPDF_Array_Add(w, run);
      }
      HPDF_Array_AddNumber(run, width);
      prev = cid;
    }
    HPDF_Dict_Add(f.cidfont, "W", w);
    if (f.cid_to_gid) {
      std::string map(2 * (static_cast<size_t>(cid_to_new.rbegin()->first) + 1), '\0');
      for (const auto& [cid, ngid] : cid_to_new) {
        map[2 * cid] = static_cast<char>((ngid >> 8) & 0xFF);
        map[2 * cid + 1] = static_cast<char>(ngid & 0xFF);
      }
      HPDF_MemStream_FreeData(f.cid_to_gid->stream);
      HPDF_Stream_Write(f.cid_to_gid->stream, reinterpret_cast<const HPDF_BYTE*>(map.data()),
                        static_cast<HPDF_UINT>(map.size()));
    }
    for (auto& v : f.views) {
      HPDF_Dict_AddName(v.type0, "BaseFont", base.c_str());
      const std::string cmap = ToUnicodeCMap(v.cid_to_cp);
      HPDF_MemStream_FreeData(v.to_unicode->stream);
      HPDF_Stream_Write(v.to_unicode->stream, reinterpret_cast<const HPDF_BYTE*>(cmap.data()),
                        static_cast<HPDF_UINT>(cmap.size()));
    }
    f.dirty = false;
  }
  return Status::Ok();
}

}  // namespace cardbureau::layout::pdf
