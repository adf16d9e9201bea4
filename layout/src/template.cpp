#include "cardbureau/layout/template.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "cardbureau/core/file.h"
#include "cardbureau/core/share_dir.h"

namespace cardbureau::layout {
namespace {

using nlohmann::json;

const std::set<std::string, std::less<>>& Placeholders() {
  static const std::set<std::string, std::less<>> k = {
      "student.name",    "student.gender",   "student.education_id", "student.level",
      "card.card_no",    "card.valid_until", "school.name",          "school.code",
      "card.transit_no", "hotline"};
  return k;
}

const char* const kLevels[] = {"primary", "junior", "senior"};

Status Bad(const std::string& field, const std::string& msg) {
  return Status(Code::kInvalidTemplate, msg, field);
}

Result<Rgb> ParseHexColor(const std::string& s, const std::string& field) {
  if (s.size() != 7 || s[0] != '#') return Bad(field, "colour must be #RRGGBB");
  uint8_t v[3];
  for (int i = 0; i < 3; ++i) {
    int n = 0;
    for (int k = 0; k < 2; ++k) {
      char c = s[static_cast<size_t>(1 + 2 * i + k)];
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) return Bad(field, "colour must be #RRGGBB");
      n = n * 16 + d;
    }
    v[i] = static_cast<uint8_t>(n);
  }
  return Rgb{v[0], v[1], v[2]};
}

Result<ColorRef> ParseColor(const json& j, const std::string& field, const Template& t) {
  if (!j.is_string()) return Bad(field, "must be a string");
  const std::string s = j.get<std::string>();
  ColorRef c;
  if (!s.empty() && s[0] == '$') {
    c.palette_key = s.substr(1);
    if (c.palette_key.empty()) return Bad(field, "empty palette reference");
    for (const char* level : kLevels) {
      auto it = t.palettes.find(level);
      if (it == t.palettes.end() || !it->second.count(c.palette_key)) {
        return Bad(field,
                   "palette '" + std::string(level) + "' has no colour '" + c.palette_key + "'");
      }
    }
    return c;
  }
  CB_ASSIGN_OR_RETURN(c.literal, ParseHexColor(s, field));
  return c;
}

Result<std::string> String(const json& obj, const char* key, const std::string& field,
                           bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return Bad(field + "." + key, "missing");
    return std::string();
  }
  if (!it->is_string()) return Bad(field + "." + key, "must be a string");
  return it->get<std::string>();
}

Status CheckPlaceholders(const std::string& text, const std::string& field) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find('{', pos);
    size_t close_stray = text.find('}', pos);
    if (open == std::string::npos) {
      if (close_stray != std::string::npos) return Bad(field, "unmatched '}'");
      break;
    }
    if (close_stray < open) return Bad(field, "unmatched '}'");
    size_t close = text.find('}', open);
    if (close == std::string::npos) return Bad(field, "unmatched '{'");
    std::string_view key(text.data() + open + 1, close - open - 1);
    if (!Placeholders().count(key)) {
      return Bad(field, "unknown placeholder {" + std::string(key) + "}");
    }
    pos = close + 1;
  }
  return Status::Ok();
}

Result<Element> ParseElement(const json& e, const std::string& field, const Template& t,
                             bool is_front) {
  if (!e.is_object()) return Bad(field, "must be an object");
  Element el;
  CB_ASSIGN_OR_RETURN(std::string type, String(e, "type", field));
  if (type == "block") {
    el.type = ElementType::kBlock;
  } else if (type == "image") {
    el.type = ElementType::kImage;
  } else if (type == "photo") {
    el.type = ElementType::kPhoto;
  } else if (type == "qr") {
    el.type = ElementType::kQr;
  } else if (type == "text") {
    el.type = ElementType::kText;
  } else {
    return Bad(field + ".type", "unknown element type '" + type + "'");
  }
  CB_ASSIGN_OR_RETURN(el.id, String(e, "id", field));
  if (el.id.empty()) return Bad(field + ".id", "must not be empty");

  auto rect = e.find("rect");
  if (rect == e.end()) return Bad(field + ".rect", "missing");
  if (!rect->is_array() || rect->size() != 4) return Bad(field + ".rect", "must be [x, y, w, h]");
  double v[4];
  for (size_t i = 0; i < 4; ++i) {
    if (!(*rect)[i].is_number()) return Bad(field + ".rect", "must be [x, y, w, h] numbers");
    v[i] = (*rect)[i].get<double>();
    if (!std::isfinite(v[i])) return Bad(field + ".rect", "must be finite");
  }
  el.rect = {v[0], v[1], v[2], v[3]};
  if (el.rect.w <= 0 || el.rect.h <= 0) return Bad(field + ".rect", "zero or negative size");
  constexpr double kEps = 1e-6;
  if (el.rect.x < -kEps || el.rect.y < -kEps || el.rect.x + el.rect.w > t.width_mm + kEps ||
      el.rect.y + el.rect.h > t.height_mm + kEps) {
    return Bad(field + ".rect", "lies (partly) off the card");
  }

  switch (el.type) {
    case ElementType::kBlock: {
      auto c = e.find("color");
      if (c == e.end()) return Bad(field + ".color", "missing");
      CB_ASSIGN_OR_RETURN(el.color, ParseColor(*c, field + ".color", t));
      break;
    }
    case ElementType::kImage: {
      CB_ASSIGN_OR_RETURN(el.file, String(e, "file", field));
      if (el.file.empty()) return Bad(field + ".file", "must not be empty");
      break;
    }
    case ElementType::kPhoto:
      break;
    case ElementType::kQr:
      if (!is_front) return Bad(field + ".type", "the QR code belongs on the front");
      if (std::fabs(el.rect.w - el.rect.h) > 1e-6)
        return Bad(field + ".rect", "QR box must be square");
      break;
    case ElementType::kText: {
      CB_ASSIGN_OR_RETURN(el.text, String(e, "text", field));
      if (el.text.empty()) return Bad(field + ".text", "must not be empty");
      CB_RETURN_IF_ERROR(CheckPlaceholders(el.text, field + ".text"));
      CB_ASSIGN_OR_RETURN(el.font, String(e, "font", field));
      if (!t.fonts.count(el.font)) return Bad(field + ".font", "unknown font '" + el.font + "'");
      auto sz = e.find("size_pt");
      if (sz == e.end()) return Bad(field + ".size_pt", "missing");
      if (!sz->is_array() || sz->size() != 2 || !(*sz)[0].is_number() || !(*sz)[1].is_number()) {
        return Bad(field + ".size_pt", "must be [min, max]");
      }
      el.size_min_pt = (*sz)[0].get<double>();
      el.size_max_pt = (*sz)[1].get<double>();
      if (!std::isfinite(el.size_min_pt) || !std::isfinite(el.size_max_pt) || el.size_min_pt < 2 ||
          el.size_max_pt > 72 || el.size_min_pt > el.size_max_pt) {
        return Bad(field + ".size_pt", "must satisfy 2 <= min <= max <= 72");
      }
      CB_ASSIGN_OR_RETURN(std::string align, String(e, "align", field, false));
      if (align.empty() || align == "left") {
        el.align = Align::kLeft;
      } else if (align == "center") {
        el.align = Align::kCenter;
      } else if (align == "right") {
        el.align = Align::kRight;
      } else {
        return Bad(field + ".align", "must be left, center or right");
      }
      auto c = e.find("color");
      if (c == e.end()) {
        el.color.literal = Rgb{0, 0, 0};
      } else {
        CB_ASSIGN_OR_RETURN(el.color, ParseColor(*c, field + ".color", t));
      }
      auto k = e.find("k_panel");
      if (k != e.end()) {
        if (!k->is_boolean()) return Bad(field + ".k_panel", "must be true or false");
        el.k_panel = k->get<bool>();
      }
      break;
    }
  }
  return el;
}

Result<Face> ParseFace(const json& root, const char* name, const Template& t) {
  const std::string field = name;
  auto it = root.find(name);
  if (it == root.end()) return Bad(field, "missing");
  if (!it->is_object()) return Bad(field, "must be an object");
  Face face;
  auto bg = it->find("background");
  if (bg == it->end()) {
    face.background.literal = Rgb{255, 255, 255};
  } else {
    CB_ASSIGN_OR_RETURN(face.background, ParseColor(*bg, field + ".background", t));
  }
  auto els = it->find("elements");
  if (els == it->end()) return Bad(field + ".elements", "missing");
  if (!els->is_array()) return Bad(field + ".elements", "must be an array");
  if (els->size() > 256) return Bad(field + ".elements", "more than 256 elements");
  std::set<std::string> ids;
  for (size_t i = 0; i < els->size(); ++i) {
    const std::string ef = field + ".elements[" + std::to_string(i) + "]";
    CB_ASSIGN_OR_RETURN(Element el, ParseElement((*els)[i], ef, t, field == "front"));
    if (!ids.insert(el.id).second) return Bad(ef + ".id", "duplicate id '" + el.id + "'");
    face.elements.push_back(std::move(el));
  }
  return face;
}

}  // namespace

Rgb Template::Resolve(const ColorRef& c, SchoolLevel level) const {
  if (c.palette_key.empty()) return c.literal;
  auto p = palettes.find(std::string(ToString(level)));
  if (p == palettes.end()) return c.literal;
  auto it = p->second.find(c.palette_key);
  return it == p->second.end() ? c.literal : it->second;
}

const Element* Template::QrElement() const {
  for (const auto& e : front.elements) {
    if (e.type == ElementType::kQr) return &e;
  }
  return nullptr;
}

Result<Template> ParseTemplate(std::string_view json_text) {
  if (json_text.size() > kMaxTemplateBytes) {
    return Status(Code::kInputTooLarge,
                  "template is over " + std::to_string(kMaxTemplateBytes) + " bytes");
  }
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (root.is_discarded()) return Bad("", "not valid JSON");
  if (!root.is_object()) return Bad("", "must be a JSON object");
  Template t;
  CB_ASSIGN_OR_RETURN(t.name, String(root, "template", ""));
  if (t.name.empty()) return Bad("template", "must not be empty");
  auto ver = root.find("version");
  if (ver == root.end() || !ver->is_number_integer() || ver->get<int64_t>() != 1) {
    return Bad("version", "must be 1");
  }
  auto size = root.find("size_mm");
  if (size != root.end()) {
    if (!size->is_array() || size->size() != 2 || !(*size)[0].is_number() ||
        !(*size)[1].is_number()) {
      return Bad("size_mm", "must be [width, height]");
    }
    t.width_mm = (*size)[0].get<double>();
    t.height_mm = (*size)[1].get<double>();
    if (std::fabs(t.width_mm - kId1WidthMm) > 0.01 ||
        std::fabs(t.height_mm - kId1HeightMm) > 0.01) {
      return Bad("size_mm", "must be ID-1 [85.6, 53.98]");
    }
  }

  auto fonts = root.find("fonts");
  if (fonts == root.end()) return Bad("fonts", "missing");
  if (!fonts->is_object() || fonts->empty()) return Bad("fonts", "must be a non-empty object");
  for (auto it = fonts->begin(); it != fonts->end(); ++it) {
    const std::string ff = "fonts." + it.key();
    if (!it->is_array() || it->empty() || it->size() > 8) {
      return Bad(ff, "must be an array of 1 to 8 font files");
    }
    std::vector<FontFile> chain;
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string f = ff + "[" + std::to_string(i) + "]";
      const json& fj = (*it)[i];
      if (!fj.is_object()) return Bad(f, "must be an object");
      FontFile file;
      CB_ASSIGN_OR_RETURN(file.path, String(fj, "file", f));
      if (file.path.empty()) return Bad(f + ".file", "must not be empty");
      auto idx = fj.find("index");
      if (idx != fj.end()) {
        if (!idx->is_number_integer() || idx->get<int64_t>() < 0 || idx->get<int64_t>() > 255) {
          return Bad(f + ".index", "must be an integer 0..255");
        }
        file.index = static_cast<int>(idx->get<int64_t>());
      }
      chain.push_back(std::move(file));
    }
    t.fonts[it.key()] = std::move(chain);
  }

  auto pal = root.find("palettes");
  if (pal == root.end()) return Bad("palettes", "missing");
  if (!pal->is_object()) return Bad("palettes", "must be an object");
  for (const char* level : kLevels) {
    auto p = pal->find(level);
    const std::string pf = std::string("palettes.") + level;
    if (p == pal->end()) return Bad(pf, "missing");
    if (!p->is_object()) return Bad(pf, "must be an object");
    auto& out = t.palettes[level];
    for (auto c = p->begin(); c != p->end(); ++c) {
      if (!c->is_string()) return Bad(pf + "." + c.key(), "must be #RRGGBB");
      CB_ASSIGN_OR_RETURN(out[c.key()], ParseHexColor(c->get<std::string>(), pf + "." + c.key()));
    }
  }
  for (auto p = pal->begin(); p != pal->end(); ++p) {
    if (p.key() != "primary" && p.key() != "junior" && p.key() != "senior") {
      return Bad("palettes." + p.key(), "unknown level (primary, junior, senior)");
    }
  }

  auto hotline = root.find("hotline");
  if (hotline != root.end()) {
    if (!hotline->is_string() || hotline->get<std::string>().empty() ||
        hotline->get<std::string>().find_first_of("{}") != std::string::npos) {
      return Bad("hotline", "must be a non-empty string without braces");
    }
    t.hotline = hotline->get<std::string>();
  }
  CB_ASSIGN_OR_RETURN(t.front, ParseFace(root, "front", t));
  CB_ASSIGN_OR_RETURN(t.back, ParseFace(root, "back", t));
  // {hotline} is the template's own text; {card.transit_no} is drawn with
  // the QR, on the front, and stands alone among placeholders.
  for (bool is_front : {true, false}) {
    Face& face = is_front ? t.front : t.back;
    for (size_t i = 0; i < face.elements.size(); ++i) {
      Element& el = face.elements[i];
      if (el.type != ElementType::kText) continue;
      const std::string field =
          std::string(is_front ? "front" : "back") + ".elements[" + std::to_string(i) + "].text";
      for (size_t at = el.text.find("{hotline}"); at != std::string::npos;
           at = el.text.find("{hotline}", at)) {
        if (t.hotline.empty()) return Bad(field, "{hotline} needs the template's \"hotline\"");
        el.text.replace(at, 9, t.hotline);
        at += t.hotline.size();
      }
      if (el.text.find("{card.transit_no}") == std::string::npos) continue;
      if (!is_front) return Bad(field, "{card.transit_no} belongs on the front");
      if (std::count(el.text.begin(), el.text.end(), '{') != 1) {
        return Bad(field, "{card.transit_no} must be the text's only placeholder");
      }
    }
  }
  int qrs = 0;
  for (const auto& e : t.front.elements) qrs += e.type == ElementType::kQr;
  if (qrs > 1) return Bad("front.elements", "more than one QR box");
  return t;
}

bool IsLateText(const Element& el) {
  return el.type == ElementType::kText && el.text.find("{card.transit_no}") != std::string::npos;
}

std::string ExpandLateText(std::string_view text, std::string_view transit_no) {
  std::string out(text);
  const std::string_view key = "{card.transit_no}";
  for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at)) {
    out.replace(at, key.size(), transit_no);
    at += transit_no.size();
  }
  return out;
}

std::string ResolvePath(const Template& t, const std::string& path) {
  if (path.empty() || path[0] == '/' || t.base_dir.empty()) return path;
  return (std::filesystem::path(t.base_dir) / path).string();
}

Result<Template> LoadTemplate(std::string_view name_or_path) {
  namespace fs = std::filesystem;
  std::string path;
  const std::string arg(name_or_path);
  if (arg.find('/') != std::string::npos || arg.ends_with(".json")) {
    path = arg;
  } else {
    for (char c : arg) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
        return Status(Code::kInvalidTemplate, "bad template name '" + arg + "'", "card.template");
      }
    }
    std::vector<std::string> dirs;
    if (const char* env = std::getenv("CARDBUREAU_TEMPLATE_DIR"); env && *env) dirs.push_back(env);
    // <prefix>/share/cardbureau/templates, or the source tree's for a
    // binary in its build tree (core/share_dir.h).
    for (const auto& d : SharedCandidates(SharedItem::kTemplates, ShareLookupInputs::Current())) {
      dirs.push_back(d.string());
    }
    for (const auto& d : dirs) {
      std::error_code ec;
      if (fs::is_regular_file(fs::path(d) / (arg + ".json"), ec)) {
        path = (fs::path(d) / (arg + ".json")).string();
        break;
      }
    }
    if (path.empty())
      return Status(Code::kNotFound, "no template named '" + arg + "'", "card.template");
  }
  CB_ASSIGN_OR_RETURN(std::string text, ReadFileWithLimit(path, kMaxTemplateBytes));
  CB_ASSIGN_OR_RETURN(Template t, ParseTemplate(text));
  t.base_dir = fs::path(path).parent_path().string();
  for (const auto& [key, chain] : t.fonts) {
    for (size_t i = 0; i < chain.size(); ++i) {
      std::error_code ec;
      if (!fs::is_regular_file(ResolvePath(t, chain[i].path), ec)) {
        return Bad("fonts." + key + "[" + std::to_string(i) + "].file",
                   "font file not found: " + chain[i].path);
      }
    }
  }
  for (const Face* face : {&t.front, &t.back}) {
    for (size_t i = 0; i < face->elements.size(); ++i) {
      const Element& e = face->elements[i];
      std::error_code ec;
      if (e.type == ElementType::kImage && !fs::is_regular_file(ResolvePath(t, e.file), ec)) {
        return Bad(std::string(face == &t.front ? "front" : "back") + ".elements[" +
                       std::to_string(i) + "].file",
                   "image not found: " + e.file);
      }
    }
  }
  return t;
}

std::string ExpandText(std::string_view text, const Job& job) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find('{', pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, open - pos));
    size_t close = text.find('}', open);
    if (close == std::string_view::npos) {
      out.append(text.substr(open));
      break;
    }
    std::string_view key = text.substr(open + 1, close - open - 1);
    if (key == "student.name") {
      out += job.student.name;
    } else if (key == "student.gender") {
      out += job.student.gender == Gender::kMale ? "男" : "女";
    } else if (key == "student.education_id") {
      out += job.student.education_id;
    } else if (key == "student.level") {
      out += job.student.level == SchoolLevel::kPrimary  ? "小学"
             : job.student.level == SchoolLevel::kJunior ? "初中"
                                                         : "高中";
    } else if (key == "card.card_no") {
      out += job.card.card_no;
    } else if (key == "card.valid_until") {
      out += job.ValidUntil().ToIso();
    } else if (key == "school.name") {
      out += job.school.name;
    } else if (key == "school.code") {
      out += job.school.code;
    }
    pos = close + 1;
  }
  return out;
}

}  // namespace cardbureau::layout
