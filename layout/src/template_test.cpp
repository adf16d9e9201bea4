#include "cardbureau/layout/template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace cardbureau::layout {
namespace {

using nlohmann::json;

json Minimal() {
  return json::parse(R"({
    "template": "t", "version": 1, "size_mm": [85.6, 53.98],
    "fonts": {"sans": [{"file": "/f.ttf"}]},
    "palettes": {"primary": {"accent": "#FF0000"}, "junior": {"accent": "#00FF00"},
                 "senior": {"accent": "#0000FF"}},
    "front": {"elements": [
      {"type": "block", "id": "band", "rect": [0, 0, 85.6, 9], "color": "$accent"},
      {"type": "text", "id": "name", "rect": [30, 17, 22, 6], "text": "姓名 {student.name}",
       "font": "sans", "size_pt": [5, 12], "align": "center", "color": "#000000", "k_panel": true},
      {"type": "photo", "id": "photo", "rect": [4, 11, 21, 27]},
      {"type": "qr", "id": "qr", "rect": [59, 11, 25, 25]}]},
    "back": {"elements": []}})");
}

Status Parse(const json& j) { return ParseTemplate(j.dump()).status(); }

TEST(TemplateTest, MinimalParses) {
  auto t = ParseTemplate(Minimal().dump());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->front.elements.size(), 4u);
  const Element& name = t->front.elements[1];
  EXPECT_EQ(name.type, ElementType::kText);
  EXPECT_EQ(name.align, Align::kCenter);
  EXPECT_TRUE(name.k_panel);
  EXPECT_DOUBLE_EQ(name.size_min_pt, 5);
  EXPECT_DOUBLE_EQ(name.size_max_pt, 12);
  ASSERT_NE(t->QrElement(), nullptr);
  EXPECT_EQ(t->QrElement()->id, "qr");
  const ColorRef& band = t->front.elements[0].color;
  EXPECT_EQ(t->Resolve(band, SchoolLevel::kPrimary), (Rgb{255, 0, 0}));
  EXPECT_EQ(t->Resolve(band, SchoolLevel::kJunior), (Rgb{0, 255, 0}));
  EXPECT_EQ(t->Resolve(band, SchoolLevel::kSenior), (Rgb{0, 0, 255}));
}

struct BadCase {
  const char* what;
  std::function<void(json&)> mutate;
  const char* field;
};

TEST(TemplateTest, MalformedTemplatesNameTheField) {
  const std::vector<BadCase> cases = {
      {"off the card",
       [](json& j) {
         j["front"]["elements"][1]["rect"] = {70, 17, 22, 6};
       },
       "front.elements[1].rect"},
      {"negative origin",
       [](json& j) {
         j["front"]["elements"][2]["rect"] = {-1, 11, 21, 27};
       },
       "front.elements[2].rect"},
      {"zero size",
       [](json& j) {
         j["front"]["elements"][2]["rect"] = {4, 11, 0, 27};
       },
       "front.elements[2].rect"},
      {"unknown font", [](json& j) { j["front"]["elements"][1]["font"] = "serif"; },
       "front.elements[1].font"},
      {"zero text size",
       [](json& j) {
         j["front"]["elements"][1]["size_pt"] = {0, 12};
       },
       "front.elements[1].size_pt"},
      {"min > max",
       [](json& j) {
         j["front"]["elements"][1]["size_pt"] = {12, 5};
       },
       "front.elements[1].size_pt"},
      {"bad colour", [](json& j) { j["front"]["elements"][1]["color"] = "#12345"; },
       "front.elements[1].color"},
      {"unknown palette colour", [](json& j) { j["front"]["elements"][0]["color"] = "$nope"; },
       "front.elements[0].color"},
      {"palette missing a level", [](json& j) { j["palettes"].erase("senior"); },
       "palettes.senior"},
      {"unknown placeholder",
       [](json& j) { j["front"]["elements"][1]["text"] = "{student.secret}"; },
       "front.elements[1].text"},
      {"unmatched brace", [](json& j) { j["front"]["elements"][1]["text"] = "{student.name"; },
       "front.elements[1].text"},
      {"bad align", [](json& j) { j["front"]["elements"][1]["align"] = "justify"; },
       "front.elements[1].align"},
      {"unknown type", [](json& j) { j["front"]["elements"][2]["type"] = "hologram"; },
       "front.elements[2].type"},
      {"duplicate id", [](json& j) { j["front"]["elements"][2]["id"] = "band"; },
       "front.elements[2].id"},
      {"qr not square",
       [](json& j) {
         j["front"]["elements"][3]["rect"] = {59, 11, 25, 20};
       },
       "front.elements[3].rect"},
      {"qr on back", [](json& j) { j["back"]["elements"].push_back(j["front"]["elements"][3]); },
       "back.elements[0].type"},
      {"version 2", [](json& j) { j["version"] = 2; }, "version"},
      {"not ID-1",
       [](json& j) {
         j["size_mm"] = {90, 55};
       },
       "size_mm"},
      {"no fonts", [](json& j) { j.erase("fonts"); }, "fonts"},
      {"empty chain", [](json& j) { j["fonts"]["sans"] = json::array(); }, "fonts.sans"},
      {"rect not numbers",
       [](json& j) {
         j["front"]["elements"][0]["rect"] = {"0", 0, 1, 1};
       },
       "front.elements[0].rect"},
      {"missing back", [](json& j) { j.erase("back"); }, "back"},
  };
  for (const auto& c : cases) {
    json j = Minimal();
    c.mutate(j);
    Status s = Parse(j);
    EXPECT_EQ(s.code(), Code::kInvalidTemplate) << c.what << ": " << s;
    EXPECT_EQ(s.field(), c.field) << c.what << ": " << s;
  }
}

TEST(TemplateTest, NotJsonOrTooLarge) {
  EXPECT_EQ(ParseTemplate("{\"template\":").status().code(), Code::kInvalidTemplate);
  EXPECT_EQ(ParseTemplate("[]").status().code(), Code::kInvalidTemplate);
  EXPECT_EQ(ParseTemplate("").status().code(), Code::kInvalidTemplate);
  EXPECT_EQ(ParseTemplate(std::string(kMaxTemplateBytes + 1, ' ')).status().code(),
            Code::kInputTooLarge);
}

TEST(TemplateTest, DefaultTemplateLoads) {
  auto t = LoadTemplate("bjt-student");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->name, "bjt-student");
  ASSERT_NE(t->QrElement(), nullptr);
  // QR box large enough for a version-12 M symbol at 0.33 mm/module + quiet zone.
  EXPECT_GE(t->QrElement()->rect.w, (65 + 8) * 0.33);
  bool has_photo = false, has_name = false, has_card_no = false, has_valid = false;
  for (const auto& e : t->front.elements) {
    has_photo |= e.type == ElementType::kPhoto;
    has_name |= e.text == "{student.name}";
    has_card_no |= e.text == "{card.card_no}";
    has_valid |= e.text == "{card.valid_until}";
  }
  EXPECT_TRUE(has_photo && has_name && has_card_no && has_valid);
  EXPECT_FALSE(t->back.elements.empty());
}

TEST(TemplateTest, LoadErrors) {
  EXPECT_EQ(LoadTemplate("no-such-template").status().code(), Code::kNotFound);
  EXPECT_EQ(LoadTemplate("/nonexistent/t.json").status().code(), Code::kIoError);
  EXPECT_EQ(LoadTemplate("Bad Name").status().code(), Code::kInvalidTemplate);
}

TEST(TemplateTest, ExpandText) {
  Job job;
  job.student.name = "张三";
  job.student.gender = Gender::kFemale;
  job.student.education_id = "12345678";
  job.student.level = SchoolLevel::kSenior;
  job.card.card_no = "1000751234567890";
  job.card.valid_until = CivilDate{2028, 9, 30};
  job.school.name = "北京一零一中学";
  job.school.code = "11010810";
  EXPECT_EQ(ExpandText("姓名 {student.name}", job), "姓名 张三");
  EXPECT_EQ(ExpandText("{student.gender}", job), "女");
  EXPECT_EQ(ExpandText("{student.level}/{school.code}", job), "高中/11010810");
  EXPECT_EQ(ExpandText("{card.valid_until}", job), "2028-09-30");
  EXPECT_EQ(ExpandText("{card.card_no}{student.education_id}", job), "100075123456789012345678");
  EXPECT_EQ(ExpandText("plain", job), "plain");
}

}  // namespace
}  // namespace cardbureau::layout
