// Card templates: the card faces as data (JSON under layout/templates/).
//
// Every position and size is in millimetres on the ISO/IEC 7810 ID-1 card
// (85.60 x 53.98 mm, origin top-left, y down). A template never mentions
// pixels: the renderer maps millimetres to any raster profile (profile.h).
//
// JSON schema (version 1), see layout/templates/bjt-student.json:
//   {"template": "bjt-student", "version": 1,
//    "size_mm": [85.6, 53.98],
//    "fonts": {"sans": [{"file": "/abs/or/relative.ttc", "index": 2}, ...]},
//    "palettes": {"primary": {"accent": "#F5C400", ...},
//                 "junior": {...}, "senior": {...}},
//    "front": {"background": "#FFFFFF", "elements": [ELEMENT, ...]},
//    "back":  {...}}
//   ELEMENT is one of
//    {"type": "block", "id": .., "rect": [x, y, w, h], "color": COLOR}
//    {"type": "image", "id": .., "rect": [..], "file": "x.png"}
//    {"type": "photo", "id": .., "rect": [..]}
//    {"type": "qr",    "id": .., "rect": [..]}          (square, front only)
//    {"type": "text",  "id": .., "rect": [..], "text": "姓名 {student.name}",
//     "font": "sans", "size_pt": [min, max], "align": "left|center|right",
//     "color": COLOR, "k_panel": true|false}
//   COLOR is "#RRGGBB" or "$name" (a palette entry; every palette must
//   define every name used). Text placeholders: {student.name},
//   {student.gender} (男/女), {student.education_id}, {card.card_no},
//   {card.valid_until} (YYYY-MM-DD), {school.name}, {school.code},
//   {student.level} (小学/初中/高中). Text is one line; it is shrunk from
//   size_pt max towards min to fit the rect width, never clipped.
//   Stock lots (issue 21): {card.transit_no} is the card's transit card
//   number (市政交通一卡通卡号) from its stock lot, known only once the chip's
//   UID is read: a front text holding it is drawn by ComposeQr with the QR
//   (literal text around it allowed, no other placeholder), and left out
//   when the card has no lot row. {hotline} is the template's top-level
//   "hotline" string (the student card service hotline), substituted when
//   the template is parsed (INVALID_TEMPLATE when used without "hotline").
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"

namespace cardbureau::layout {

inline constexpr double kId1WidthMm = 85.60;
inline constexpr double kId1HeightMm = 53.98;
// Largest template file accepted.
inline constexpr size_t kMaxTemplateBytes = 256 * 1024;

struct RectMm {
  double x = 0, y = 0, w = 0, h = 0;
};

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// A colour as written in the template: a literal or a palette reference.
struct ColorRef {
  std::string palette_key;  // non-empty: "$accent" -> "accent"
  Rgb literal;
};

struct FontFile {
  std::string path;  // as written; relative paths resolve against the template dir
  int index = 0;     // face index inside a .ttc collection
};

enum class ElementType { kBlock, kImage, kPhoto, kQr, kText };
enum class Align { kLeft, kCenter, kRight };

struct Element {
  ElementType type = ElementType::kBlock;
  std::string id;
  RectMm rect;
  ColorRef color;          // block, text
  std::string file;        // image
  std::string text;        // text: literal with {placeholders}
  std::string font;        // text: key into Template::fonts
  double size_min_pt = 0;  // text
  double size_max_pt = 0;  // text
  Align align = Align::kLeft;
  bool k_panel = false;  // text: printed with the black resin panel
};

struct Face {
  ColorRef background;
  std::vector<Element> elements;
};

struct Template {
  std::string name;
  double width_mm = kId1WidthMm;
  double height_mm = kId1HeightMm;
  std::map<std::string, std::vector<FontFile>> fonts;  // chain name -> files in order
  // level ("primary"/"junior"/"senior") -> colour name -> colour.
  std::map<std::string, std::map<std::string, Rgb>> palettes;
  Face front;
  Face back;
  std::string base_dir;  // directory of the template file ("" when parsed from text)
  std::string hotline;   // top-level "hotline" ("" when absent)

  // Resolves a colour for a level. Precondition: the template was parsed
  // (every palette reference exists in every palette).
  Rgb Resolve(const ColorRef& c, SchoolLevel level) const;
  // The QR element of the front face, or nullptr.
  const Element* QrElement() const;
};

// Parses a template. Pure (no file access); thread-safe. Checks structure,
// types, that every element lies on the card, positive sizes, fonts and
// palette references, placeholders. Errors: INPUT_TOO_LARGE, INVALID_TEMPLATE
// with the field path ("front.elements[3].font").
Result<Template> ParseTemplate(std::string_view json_text);

// Loads a template by name (looked up as <dir>/<name>.json in
// $CARDBUREAU_TEMPLATE_DIR, then the source tree's layout/templates/) or by
// path (anything containing '/' or ending in ".json"). Also checks that every
// font and image file exists. Errors: NOT_FOUND, IO_ERROR, INPUT_TOO_LARGE,
// INVALID_TEMPLATE. Thread-safe.
Result<Template> LoadTemplate(std::string_view name_or_path);

// A text element drawn once the card's UID is known ({card.transit_no}).
bool IsLateText(const Element& el);
// Expands {card.transit_no} in a late text element. Pure.
std::string ExpandLateText(std::string_view text, std::string_view transit_no);

// Expands the placeholders of a text element for a job. Pure.
std::string ExpandText(std::string_view text, const Job& job);

// Resolves a font or image path of `t` (relative to t.base_dir).
std::string ResolvePath(const Template& t, const std::string& path);

}  // namespace cardbureau::layout
