#include "cardbureau/core/validation.h"

#include <gtest/gtest.h>

namespace cardbureau {
namespace {

// Valid as of 2026-11-25 (Beijing).
Job ValidJob() {
  Job j;
  j.job_id = "RJ20261123-000001";
  j.kind = JobKind::kReissue;
  j.student.name = "张三";
  j.student.gender = Gender::kMale;
  j.student.education_id = "12345678";
  j.student.student_no = "G110101201001011237";
  j.student.level = SchoolLevel::kJunior;
  j.student.graduation = {2028, 7};
  j.school.code = "11010810";
  j.school.name = "北京一零一中学";
  j.card.card_no = "1000751234567890";
  j.card.valid_until = CivilDate{2028, 9, 30};
  j.photo.sha256 = std::string(64, 'a');
  j.replaces = Replaces{"1000751200000001", "04A1B2C3"};
  return j;
}

class ValidationTest : public ::testing::Test {
 protected:
  ManualClock clock_ = ManualClock::AtBeijingDate({2026, 11, 25});
  Status Check(Job j) {
    ValidationOptions o;
    o.clock = &clock_;
    return ValidateJob(j, o);
  }
  void ExpectRefused(const Job& j, Code code, const std::string& field) {
    Status s = Check(j);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_EQ(s.field(), field) << s;
  }
};

TEST_F(ValidationTest, ValidJobPasses) { EXPECT_TRUE(Check(ValidJob()).ok()); }

TEST_F(ValidationTest, JobIdCharsetAndLength) {
  auto j = ValidJob();
  j.job_id = std::string(64, 'a');
  EXPECT_TRUE(Check(j).ok());
  j.job_id = std::string(65, 'a');
  ExpectRefused(j, Code::kInvalidField, "job_id");
  j.job_id = "";
  ExpectRefused(j, Code::kInvalidField, "job_id");
  j.job_id = "a.b_c-D9";
  EXPECT_TRUE(Check(j).ok());
  for (const char* bad : {"a b", "a/b", "a:b", "ä", "a\n"}) {
    j.job_id = bad;
    ExpectRefused(j, Code::kInvalidField, "job_id");
  }
}

TEST_F(ValidationTest, KindAndReplaces) {
  auto j = ValidJob();
  j.replaces.reset();
  ExpectRefused(j, Code::kInvalidField, "replaces");
  j.kind = JobKind::kNew;
  EXPECT_TRUE(Check(j).ok());
  j.replaces = Replaces{"1000751200000001", ""};
  ExpectRefused(j, Code::kInvalidField, "replaces");
  j = ValidJob();
  j.replaces->card_no = "123";
  ExpectRefused(j, Code::kInvalidField, "replaces.card_no");
  j = ValidJob();
  j.replaces->uid = "04A1B2C3D4E5F6";  // 7-byte UID
  EXPECT_TRUE(Check(j).ok());
  j.replaces->uid = "04A1B2";
  ExpectRefused(j, Code::kInvalidField, "replaces.uid");
}

TEST_F(ValidationTest, NameCharacterClassesAndLength) {
  auto j = ValidJob();
  for (const char* ok :
       {"张", "欧阳娜娜", "李䶮", "王𠀁", "阿卜杜热合曼·买买提依明", "Anna Müller", "赵𪛗"}) {
    j.student.name = ok;
    EXPECT_TRUE(Check(j).ok()) << ok;
  }
  std::string n32, n33;
  for (int i = 0; i < 32; ++i) n32 += "张";
  n33 = n32 + "张";
  j.student.name = n32;
  EXPECT_TRUE(Check(j).ok());
  j.student.name = n33;
  ExpectRefused(j, Code::kInvalidField, "student.name");
  for (const char* bad : {"", "张三3", "张三!", "张 ", " 张", "张··三", "张  三", "·张", "张三😀",
                          "\xe5\xbc", "Дмитрий", "张\t三"}) {
    j.student.name = bad;
    ExpectRefused(j, Code::kInvalidField, "student.name");
  }
}

TEST_F(ValidationTest, GlyphCheckIsConsultedForNameAndSchool) {
  auto j = ValidJob();
  ValidationOptions o;
  o.clock = &clock_;
  std::u32string seen;
  o.glyph_check = [&](std::u32string_view text) {
    seen += text;
    for (char32_t c : text) {
      if (c == 0x2A6D7) return Status(Code::kUnrenderableGlyph, "U+2A6D7");
    }
    return Status::Ok();
  };
  EXPECT_TRUE(ValidateJob(j, o).ok());
  EXPECT_NE(seen.find(U"张三"), std::u32string::npos);
  EXPECT_NE(seen.find(U"北京"), std::u32string::npos);
  j.student.name = "赵𪛗";
  Status s = ValidateJob(j, o);
  EXPECT_EQ(s.code(), Code::kUnrenderableGlyph);
  EXPECT_EQ(s.field(), "student.name");
}

TEST_F(ValidationTest, EducationIdIsExactlyEightDigits) {
  auto j = ValidJob();
  for (const char* bad : {"1234567", "123456789", "1234567A", "", "１２３４５６７８"}) {
    j.student.education_id = bad;
    ExpectRefused(j, Code::kInvalidField, "student.education_id");
  }
  j.student.education_id = "00000000";
  EXPECT_TRUE(Check(j).ok());
}

TEST_F(ValidationTest, StudentNumberForm) {
  auto j = ValidJob();
  for (const char* ok : {"G110101201001011237", "L110101201001011237", "J110101201001011237"}) {
    j.student.student_no = ok;
    EXPECT_TRUE(Check(j).ok()) << ok;
  }
  for (const char* bad : {"X110101201001011237", "G11010120100101123", "G1101012010010112377",
                          "g110101201001011237", "G11010120100101123A"}) {
    j.student.student_no = bad;
    ExpectRefused(j, Code::kInvalidField, "student.student_no");
  }
  j.student.student_no = "G110101201001011238";
  ExpectRefused(j, Code::kInvalidChecksum, "student.student_no");
}

TEST(CitizenNumberTest, Mod11_2IncludingX) {
  // GB 11643 sample number 11010519491231002X.
  EXPECT_EQ(Mod11_2CheckChar("11010519491231002"), 'X');
  EXPECT_TRUE(CheckCitizenNumber("11010519491231002X").ok());
  EXPECT_EQ(CheckCitizenNumber("110105194912310021").code(), Code::kInvalidChecksum);
  EXPECT_EQ(CheckCitizenNumber("11010519491231002x").code(), Code::kInvalidField);
  EXPECT_EQ(Mod11_2CheckChar("11010120100101123"), '7');
}

TEST(CitizenNumberTest, BirthDateMustBeReal) {
  auto with_birth = [](const std::string& birth) {
    std::string body = "110101" + birth + "123";
    return body + Mod11_2CheckChar(body);
  };
  EXPECT_TRUE(CheckCitizenNumber(with_birth("20120229")).ok());  // leap day
  EXPECT_EQ(CheckCitizenNumber(with_birth("20130229")).code(), Code::kInvalidField);
  EXPECT_EQ(CheckCitizenNumber(with_birth("20131301")).code(), Code::kInvalidField);
  EXPECT_EQ(CheckCitizenNumber(with_birth("20130100")).code(), Code::kInvalidField);
  EXPECT_EQ(CheckCitizenNumber(with_birth("18991231")).code(), Code::kInvalidField);
}

TEST_F(ValidationTest, GraduationNotInThePast) {
  auto j = ValidJob();
  j.card.valid_until.reset();
  j.student.graduation = {2026, 10};
  ExpectRefused(j, Code::kExpired, "student.graduation");
  j.student.graduation = {2026, 11};  // this month: not in the past, but 30 Sep is
  ExpectRefused(j, Code::kExpired, "card.valid_until");
  j.student.graduation = {2027, 7};
  EXPECT_TRUE(Check(j).ok());
}

TEST_F(ValidationTest, ValidUntilEdges) {
  auto j = ValidJob();  // graduation 2028-07
  j.card.valid_until = CivilDate{2028, 9, 30};
  EXPECT_TRUE(Check(j).ok());
  j.card.valid_until = CivilDate{2028, 10, 1};
  ExpectRefused(j, Code::kInvalidField, "card.valid_until");
  j.card.valid_until = CivilDate{2026, 11, 25};  // today: not after today
  ExpectRefused(j, Code::kExpired, "card.valid_until");
  j.card.valid_until = CivilDate{2026, 11, 26};
  EXPECT_TRUE(Check(j).ok());
}

TEST_F(ValidationTest, ValidUntilDerivedWhenAbsent) {
  Job j = ValidJob();
  j.card.valid_until.reset();
  ValidationOptions o;
  o.clock = &clock_;
  ASSERT_TRUE(ValidateJob(j, o).ok());
  EXPECT_EQ(j.card.valid_until, (CivilDate{2028, 9, 30}));
  // The day after 30 Sep of the graduation year, the derived date is expired.
  Job k = ValidJob();
  k.card.valid_until.reset();
  k.student.graduation = {2027, 7};
  ManualClock late = ManualClock::AtBeijingDate({2027, 9, 30});
  o.clock = &late;
  EXPECT_EQ(ValidateJob(k, o).code(), Code::kExpired);
  ManualClock earlier = ManualClock::AtBeijingDate({2027, 7, 1});
  o.clock = &earlier;
  k.card.valid_until.reset();
  EXPECT_TRUE(ValidateJob(k, o).ok());
}

TEST_F(ValidationTest, SchoolCodeAndName) {
  auto j = ValidJob();
  for (const char* ok : {"12345678", "123456789012"}) {
    j.school.code = ok;
    EXPECT_TRUE(Check(j).ok()) << ok;
  }
  for (const char* bad : {"1234567", "1234567890123", "1234567a"}) {
    j.school.code = bad;
    ExpectRefused(j, Code::kInvalidField, "school.code");
  }
  j = ValidJob();
  std::string forty, forty_one;
  for (int i = 0; i < 40; ++i) forty += "校";
  forty_one = forty + "校";
  j.school.name = forty;
  EXPECT_TRUE(Check(j).ok());
  j.school.name = forty_one;
  ExpectRefused(j, Code::kInvalidField, "school.name");
  j.school.name = "";
  ExpectRefused(j, Code::kInvalidField, "school.name");
  j.school.name = "北京\n中学";
  ExpectRefused(j, Code::kInvalidField, "school.name");
}

TEST_F(ValidationTest, CardNumberLength) {
  auto j = ValidJob();
  for (const char* ok : {"1234567890", "12345678901234567890"}) {
    j.card.card_no = ok;
    EXPECT_TRUE(Check(j).ok()) << ok;
  }
  for (const char* bad : {"123456789", "123456789012345678901", "12345678901234A"}) {
    j.card.card_no = bad;
    ExpectRefused(j, Code::kInvalidField, "card.card_no");
  }
}

TEST_F(ValidationTest, PhotoShaForm) {
  auto j = ValidJob();
  j.photo.sha256 = std::string(63, 'a');
  ExpectRefused(j, Code::kInvalidField, "photo.sha256");
  j.photo.sha256 = std::string(64, 'g');
  ExpectRefused(j, Code::kInvalidField, "photo.sha256");
}

TEST(PhotoBytesTest, SizeHashAndMagic) {
  Job j = ValidJob();
  Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3};
  j.photo.format = PhotoFormat::kPng;
  j.photo.sha256 = Sha256Hex(png);
  EXPECT_TRUE(ValidatePhotoBytes(j, png).ok());
  j.photo.format = PhotoFormat::kJpeg;
  EXPECT_EQ(ValidatePhotoBytes(j, png).code(), Code::kPhotoUnreadable);
  j.photo.format = PhotoFormat::kPng;
  Bytes other = png;
  other.back() ^= 1;
  EXPECT_EQ(ValidatePhotoBytes(j, other).code(), Code::kPhotoHashMismatch);
  EXPECT_EQ(ValidatePhotoBytes(j, Bytes{}).code(), Code::kPhotoUnreadable);
  Bytes big(kMaxPhotoBytes + 1, 0);
  j.photo.sha256 = Sha256Hex(big);
  EXPECT_EQ(ValidatePhotoBytes(j, big).code(), Code::kPhotoUnreadable);
  Bytes max(kMaxPhotoBytes, 0);
  std::copy(png.begin(), png.end(), max.begin());
  j.photo.sha256 = Sha256Hex(max);
  EXPECT_TRUE(ValidatePhotoBytes(j, max).ok());
}

TEST(Utf8Test, StrictDecoding) {
  EXPECT_EQ(*DecodeUtf8("王𠀁"), (std::u32string{U'王', U'\U00020001'}));
  EXPECT_EQ(EncodeUtf8(*DecodeUtf8("阿卜杜·买")), "阿卜杜·买");
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe4\xb8", "\x80"}) {
    EXPECT_FALSE(DecodeUtf8(bad).ok());
  }
}

TEST(HanTest, Blocks) {
  EXPECT_TRUE(IsHan(U'张'));
  EXPECT_TRUE(IsHan(0x4DAE));   // Ext-A
  EXPECT_TRUE(IsHan(0x20001));  // Ext-B
  EXPECT_TRUE(IsHan(0x2A6D7));  // Ext-B (Unicode 13)
  EXPECT_TRUE(IsHan(0x30000));  // Ext-G
  EXPECT_FALSE(IsHan(U'A'));
  EXPECT_FALSE(IsHan(0x3042));  // Hiragana
  EXPECT_FALSE(IsHan(0xB7));
}

}  // namespace
}  // namespace cardbureau
