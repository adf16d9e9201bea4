#include "cardbureau/layout/font_chain.h"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace cardbureau::layout {
namespace {

std::unique_ptr<FontChain> DefaultChain() {
  auto t = LoadTemplate("bjt-student");
  EXPECT_TRUE(t.ok()) << t.status();
  auto chain = FontChain::Load(t->fonts.at("sans"), &*t);
  EXPECT_TRUE(chain.ok()) << chain.status();
  return std::move(chain).value();
}

TEST(FontChainTest, CoverageFollowsTheChain) {
  auto chain = DefaultChain();
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ(chain->FontFor(U'张'), 0);          // Noto Sans CJK SC
  EXPECT_EQ(chain->FontFor(U'\u4DAE'), 0);      // 䶮 Ext-A is in Noto
  EXPECT_EQ(chain->FontFor(U'\U00020001'), 2);  // 𠀁 only in HanaMinB
  EXPECT_EQ(chain->FontFor(U'\U0002A6D7'), -1);
  EXPECT_EQ(chain->FontFor(U'ü'), 0);
}

TEST(FontChainTest, UnrenderableListsCodePoints) {
  auto chain = DefaultChain();
  EXPECT_TRUE(chain->CheckRenderable(U"王\U00020001").ok());
  EXPECT_TRUE(chain->CheckRenderable(U"Anna Müller").ok());
  Status s = chain->CheckRenderable(U"赵\U0002A6D7");
  EXPECT_EQ(s.code(), Code::kUnrenderableGlyph);
  EXPECT_NE(s.message().find("U+2A6D7"), std::string::npos) << s;
  EXPECT_EQ(s.message().find("U+8D75"), std::string::npos) << s;  // 赵 is fine
  EXPECT_EQ(chain->CheckRenderable(U"a\tb").code(), Code::kUnrenderableGlyph);
  // The GlyphCheck for core validation says the same.
  GlyphCheck check = MakeGlyphCheck(*chain);
  EXPECT_EQ(check(U"赵\U0002A6D7").code(), Code::kUnrenderableGlyph);
  EXPECT_TRUE(check(U"欧阳娜娜").ok());
}

TEST(FontChainTest, MeasureScalesWithSize) {
  auto chain = DefaultChain();
  const double w20 = chain->MeasureWidth(U"张三", 20);
  const double w40 = chain->MeasureWidth(U"张三", 40);
  EXPECT_NEAR(w20, 40, 2);  // two ideographs of 1 em each
  EXPECT_NEAR(w40, 2 * w20, 2);
  EXPECT_GT(chain->MeasureWidth(U"王\U00020001", 30), 50);  // fallback glyph has width
}

TEST(FontChainTest, DrawsInsideClipOnly) {
  auto chain = DefaultChain();
  cv::Mat img(100, 200, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::Mat k = cv::Mat::zeros(100, 200, CV_8UC1);
  const cv::Rect clip(10, 10, 60, 40);
  chain->Draw(img, &k, U"张三李四王五", 40, 10, 10, Rgb{0, 0, 0}, clip);
  cv::Mat outside = img.clone();
  outside(clip).setTo(cv::Scalar(255, 255, 255));
  EXPECT_EQ(cv::countNonZero(outside.reshape(1) != 255), 0);
  cv::Mat inside;
  cv::cvtColor(img(clip), inside, cv::COLOR_BGR2GRAY);
  EXPECT_GT(cv::countNonZero(inside < 128), 100);
  EXPECT_GT(cv::countNonZero(k(clip)), 100);
  EXPECT_EQ(cv::countNonZero(k), cv::countNonZero(k(clip)));
}

TEST(FontChainTest, MissingFontFileIsInvalidTemplate) {
  auto chain = FontChain::Load({{"/nonexistent/font.ttf", 0}});
  EXPECT_EQ(chain.status().code(), Code::kInvalidTemplate);
}

}  // namespace
}  // namespace cardbureau::layout
