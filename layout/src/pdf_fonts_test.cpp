// Unit tests of the PDF font layer's parts that need no poppler: the CFF
// charset reader (on the real Noto Sans CJK table, truncated and corrupted
// copies of it) and the font loading errors. The PDF output is checked with
// poppler in tests/layout/pdf_test.cpp.
#include "pdf_fonts.h"

#include <gtest/gtest.h>
#include <hb.h>

#include <random>
#include <string>

namespace cardbureau::layout::pdf {
namespace {

const char* kNoto = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

std::string NotoCff() {
  hb_blob_t* blob = hb_blob_create_from_file_or_fail(kNoto);
  EXPECT_NE(blob, nullptr) << kNoto;
  if (!blob) return "";
  hb_face_t* face = hb_face_create(blob, 2);
  hb_blob_t* cff = hb_face_reference_table(face, HB_TAG('C', 'F', 'F', ' '));
  unsigned len = 0;
  const char* data = hb_blob_get_data(cff, &len);
  std::string out(data ? data : "", data ? len : 0);
  hb_blob_destroy(cff);
  hb_face_destroy(face);
  hb_blob_destroy(blob);
  return out;
}

TEST(CffGlyphCids, NotoSansCjkIsCidKeyedWithACidPerGlyph) {
  const std::string cff = NotoCff();
  ASSERT_GT(cff.size(), 1000000u);
  auto cids = CffGlyphCids(cff);
  ASSERT_TRUE(cids.ok()) << cids.status();
  ASSERT_EQ(cids->size(), 65535u);
  EXPECT_EQ((*cids)[0], 0);
  // Noto Sans CJK's ordering is Adobe-Identity-0 with CID = GID: 张 (gid
  // 17195 in the SC face) has CID 17195.
  EXPECT_EQ((*cids)[17195], 17195);
  EXPECT_EQ((*cids)[65534], 65534);
}

TEST(CffGlyphCids, TruncatedOrCorruptTablesAreErrorsNotCrashes) {
  const std::string cff = NotoCff();
  ASSERT_FALSE(cff.empty());
  for (size_t len : {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size_t{10}, size_t{64},
                     size_t{200}, size_t{1000}, size_t{4096}, cff.size() / 2}) {
    auto r = CffGlyphCids(std::string_view(cff).substr(0, len));
    if (len < 64) {
      EXPECT_EQ(r.status().code(), Code::kInvalidConfig) << len;
    }
  }
  // The header and first INDEXes with random bytes flipped (the reader only
  // looks at the first few kB plus the charset).
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::string bad = cff.substr(0, 8192);
    for (int k = 0; k < 6; ++k) {
      bad[rng() % 64] = static_cast<char>(rng() & 0xFF);
    }
    auto r = CffGlyphCids(bad);  // any result, within bounds (ASan checks)
    if (r.ok()) {
      EXPECT_LE(r->size(), 65536u);
    }
  }
  std::string noise(2048, '\0');
  for (char& c : noise) c = static_cast<char>(rng() & 0xFF);
  (void)CffGlyphCids(noise);
}

TEST(CidFontSet, UnusableFontFilesAreInvalidConfig) {
  EXPECT_EQ(CidFontSet::Create(nullptr, {}).status().code(), Code::kInvalidConfig);
  EXPECT_EQ(CidFontSet::Create(nullptr, {{"/nonexistent.ttf", 0}}).status().code(),
            Code::kInvalidConfig);
  EXPECT_EQ(CidFontSet::Create(nullptr, {{kNoto, 99}}).status().code(), Code::kInvalidConfig);
  EXPECT_EQ(CidFontSet::Create(nullptr, {{"/etc/os-release", 0}}).status().code(),
            Code::kInvalidConfig);
}

TEST(CidFontSet, WidthsComeFromTheChain) {
  auto set = CidFontSet::Create(
      nullptr, {{kNoto, 2}, {"/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", 0}});
  ASSERT_TRUE(set.ok()) << set.status();
  // CJK ideographs are 1 em wide in both fonts: 王 from Noto, 𠀁 from HanaMinB.
  EXPECT_DOUBLE_EQ((*set)->Width(U"王\U00020001", 10), 20.0);
  EXPECT_GT((*set)->Width(U"Anna", 10), 10.0);
  EXPECT_LT((*set)->Width(U"Anna", 10), 30.0);
}

}  // namespace
}  // namespace cardbureau::layout::pdf
