#include "cardbureau/core/status.h"

#include <gtest/gtest.h>

#include <set>

namespace cardbureau {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ToStringHasCodeFieldAndMessage) {
  Status s(Code::kInvalidField, "must be exactly 8 digits", "student.education_id");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "INVALID_FIELD student.education_id: must be exactly 8 digits");
  Status t(Code::kCardRemoved, "card left the field");
  EXPECT_EQ(t.ToString(), "CARD_REMOVED card left the field");
}

TEST(StatusTest, WireNamesOfProtocolCatalogue) {
  // protocol.md's list, spelled as on the wire.
  const char* names[] = {"INVALID_FIELD",
                         "INVALID_CHECKSUM",
                         "EXPIRED",
                         "UNRENDERABLE_GLYPH",
                         "PHOTO_UNREADABLE",
                         "PHOTO_NO_FACE",
                         "PHOTO_MULTIPLE_FACES",
                         "PHOTO_TOO_SMALL",
                         "PHOTO_TOO_DARK",
                         "PHOTO_BLURRED",
                         "PHOTO_HASH_MISMATCH",
                         "RECORD_TOO_LARGE",
                         "CARD_STOCK_INVALID",
                         "CARD_ALREADY_PERSONALIZED",
                         "CARD_REMOVED",
                         "AUTH_FAILED",
                         "VERIFY_MISMATCH",
                         "PRINTER_JAM",
                         "READER_UNAVAILABLE",
                         "TOO_LATE",
                         "CANCELLED"};
  for (const char* n : names) {
    auto code = CodeFromName(n);
    ASSERT_TRUE(code.has_value()) << n;
    EXPECT_EQ(CodeName(*code), n);
  }
}

TEST(StatusTest, CodeNamesAreUniqueUpperSnakeAndRoundTrip) {
  std::set<std::string_view> seen;
  for (Code c : AllCodes()) {
    auto name = CodeName(c);
    EXPECT_TRUE(seen.insert(name).second) << name;
    for (char ch : name) EXPECT_TRUE((ch >= 'A' && ch <= 'Z') || ch == '_') << name;
    EXPECT_EQ(CodeFromName(name), c);
  }
  EXPECT_FALSE(CodeFromName("NO_SUCH_CODE").has_value());
}

TEST(StatusTest, FieldPrefix) {
  Status s(Code::kInvalidField, "bad", "name");
  EXPECT_EQ(s.WithFieldPrefix("student").field(), "student.name");
  EXPECT_TRUE(Status::Ok().WithFieldPrefix("x").ok());
}

Result<int> Half(int x) {
  if (x % 2) return Status(Code::kInvalidField, "odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  CB_ASSIGN_OR_RETURN(int h, Half(x));
  CB_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(ResultTest, ValueAndErrorPropagate) {
  auto r = Quarter(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 2);
  auto e = Quarter(6);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kInvalidField);
  EXPECT_EQ(e.value_or(-1), -1);
}

TEST(ResultTest, OkStatusBecomesInternal) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
}

}  // namespace
}  // namespace cardbureau
