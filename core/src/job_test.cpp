#include "cardbureau/core/job.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace cardbureau {
namespace {

using nlohmann::json;

json Sample() {
  return json::parse(R"({
    "type": "job", "v": 1, "job_id": "RJ20261123-000001", "kind": "reissue",
    "confirmed_at": "2026-11-20T10:04:00+08:00",
    "student": {"name": "张三", "gender": "M", "education_id": "12345678",
                "student_no": "G110101201001011237", "level": "junior", "graduation": "2028-07"},
    "school": {"code": "11010810", "name": "北京一零一中学", "district": "海淀区"},
    "card": {"card_no": "1000751234567890", "valid_until": "2028-09-30",
             "template": "bjt-student", "card_type": "mifare-classic-1k"},
    "photo": {"format": "jpeg", "sha256": "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},
    "replaces": {"card_no": "1000751200000001", "uid": "04A1B2C3"},
    "some_future_field": {"ignored": true}
  })");
}

TEST(JobParseTest, ParsesEveryField) {
  auto job = ParseJobJson(Sample());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->job_id, "RJ20261123-000001");
  EXPECT_EQ(job->kind, JobKind::kReissue);
  EXPECT_EQ(job->student.name, "张三");
  EXPECT_EQ(job->student.gender, Gender::kMale);
  EXPECT_EQ(job->student.level, SchoolLevel::kJunior);
  EXPECT_EQ(job->student.graduation, (YearMonth{2028, 7}));
  EXPECT_EQ(job->school.district, "海淀区");
  EXPECT_EQ(job->card.valid_until, (CivilDate{2028, 9, 30}));
  EXPECT_EQ(job->card.card_type, CardType::kMifareClassic1K);
  EXPECT_EQ(job->photo.format, PhotoFormat::kJpeg);
  // sha256 is normalised to lower case.
  EXPECT_EQ(job->photo.sha256.substr(0, 6), "abcdef");
  ASSERT_TRUE(job->replaces.has_value());
  EXPECT_EQ(job->replaces->uid, "04A1B2C3");
}

TEST(JobParseTest, RoundTripsThroughJson) {
  auto job = ParseJobJson(Sample());
  ASSERT_TRUE(job.ok());
  auto again = ParseJob(JobToJsonString(*job));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(JobToJson(*again), JobToJson(*job));
}

TEST(JobParseTest, MalformedJsonIsInvalidJson) {
  for (const char* text : {"", "{", "[]", "null", "42", "{\"job_id\": }", "\xff\xfe"}) {
    auto job = ParseJob(text);
    ASSERT_FALSE(job.ok()) << text;
    EXPECT_EQ(job.status().code(), Code::kInvalidJson) << text;
  }
}

TEST(JobParseTest, OversizeInputIsRefusedBeforeParsing) {
  std::string big(kMaxJobJsonBytes + 1, ' ');
  auto job = ParseJob(big);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), Code::kInputTooLarge);
}

TEST(JobParseTest, VersionAndType) {
  auto j = Sample();
  j["v"] = 2;
  EXPECT_EQ(ParseJobJson(j).status().code(), Code::kUnsupportedVersion);
  j["v"] = "1";
  EXPECT_EQ(ParseJobJson(j).status().code(), Code::kUnsupportedVersion);
  j = Sample();
  j["type"] = "ack";
  EXPECT_EQ(ParseJobJson(j).status().code(), Code::kUnknownType);
}

TEST(JobParseTest, MissingAndMistypedFieldsNameThePath) {
  struct Case {
    const char* pointer;
    json value;  // null = remove
    Code code;
    const char* field;
  };
  const Case cases[] = {
      {"/job_id", nullptr, Code::kInvalidJson, "job_id"},
      {"/job_id", 7, Code::kInvalidJson, "job_id"},
      {"/student", "x", Code::kInvalidJson, "student"},
      {"/student/name", nullptr, Code::kInvalidJson, "student.name"},
      {"/student/education_id", 12345678, Code::kInvalidJson, "student.education_id"},
      {"/student/gender", "male", Code::kInvalidField, "student.gender"},
      {"/student/level", "college", Code::kInvalidField, "student.level"},
      {"/student/graduation", "2028-7", Code::kInvalidField, "student.graduation"},
      {"/student/graduation", "2028-00", Code::kInvalidField, "student.graduation"},
      {"/school/code", nullptr, Code::kInvalidJson, "school.code"},
      {"/card/card_type", "mifare-ultralight", Code::kInvalidField, "card.card_type"},
      {"/card/valid_until", "2028-02-30", Code::kInvalidField, "card.valid_until"},
      {"/card/valid_until", 20280930, Code::kInvalidJson, "card.valid_until"},
      {"/photo/format", "gif", Code::kInvalidField, "photo.format"},
      {"/kind", "renew", Code::kInvalidField, "kind"},
      {"/replaces", "x", Code::kInvalidJson, "replaces"},
  };
  for (const auto& c : cases) {
    auto j = Sample();
    json::json_pointer ptr(c.pointer);
    if (c.value.is_null()) {
      j[ptr.parent_pointer()].erase(ptr.back());
    } else {
      j[ptr] = c.value;
    }
    auto job = ParseJobJson(j);
    ASSERT_FALSE(job.ok()) << c.pointer;
    EXPECT_EQ(job.status().code(), c.code) << c.pointer << " " << job.status();
    EXPECT_EQ(job.status().field(), c.field) << c.pointer;
  }
}

TEST(JobParseTest, OptionalFieldsMayBeAbsent) {
  auto j = Sample();
  j["card"].erase("valid_until");
  j["card"].erase("template");
  j["school"].erase("district");
  j.erase("confirmed_at");
  auto job = ParseJobJson(j);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_FALSE(job->card.valid_until.has_value());
  EXPECT_EQ(job->card.template_name, "bjt-student");
}

}  // namespace
}  // namespace cardbureau
