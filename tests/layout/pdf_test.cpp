// Integration: proof PDFs checked with poppler (pdftotext, pdffonts,
// pdfinfo, pdftoppm).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cardbureau/layout/proof_pdf.h"
#include "layout_fixtures.h"

namespace cardbureau::layout {
namespace {

using namespace cardbureau::layout::testing;

// Runs a command and returns its stdout (stderr discarded).
std::string RunTool(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

// The "Pages:" line of pdfinfo output, or -1.
int PageCount(const std::string& info) {
  const size_t at = info.find("Pages:");
  if (at == std::string::npos) return -1;
  return std::atoi(info.c_str() + at + 6);
}

class PdfTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = MakeRenderer();
    QrSigner signer = TestSigner();
    const Bytes photo = ReadPhoto("astronaut.png");
    const char* files[] = {"valid-primary-new.json", "valid-junior-reissue.json",
                           "valid-uyghur-middle-dot.json", "valid-senior-4k.json",
                           "valid-latin-diacritics.json", "valid-one-character.json",
                           "valid-check-char-x.json"};
    cards_ = new std::vector<RenderedCard>();
    for (const char* f : files) {
      auto job = LoadJob(f, r.get());
      ASSERT_TRUE(job.ok()) << f << job.status();
      auto p = r->Prepare(*job, photo);
      ASSERT_TRUE(p.ok()) << f << p.status();
      auto c = r->ComposeQr(std::move(p).value(), "04A1B2C3", 1, signer);
      ASSERT_TRUE(c.ok()) << f << c.status();
      cards_->push_back(std::move(c).value());
    }
    dir_ = std::string(CARDBUREAU_BINARY_DIR) + "/layout-test-out/pdf";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  static void TearDownTestSuite() {
    delete cards_;
    cards_ = nullptr;
  }
  static std::vector<RenderedCard>* cards_;
  static std::string dir_;
};
std::vector<RenderedCard>* PdfTest::cards_ = nullptr;
std::string PdfTest::dir_;

TEST_F(PdfTest, CardProofIsTrueSizeSearchableAndEmbedsFonts) {
  ASSERT_NE(cards_, nullptr);
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  const RenderedCard& uyghur = (*cards_)[2];
  ASSERT_TRUE(pdf->AddCardProof((*cards_)[0]).ok());
  ASSERT_TRUE(pdf->AddCardProof(uyghur).ok());
  const std::string path = dir_ + "/proof.pdf";
  Status s = pdf->SaveToFile(path);
  ASSERT_TRUE(s.ok()) << s;

  const std::string text = RunTool("pdftotext -enc UTF-8 " + path + " -");
  EXPECT_NE(text.find((*cards_)[0].summary.student_name), std::string::npos) << text;
  EXPECT_NE(text.find(uyghur.summary.student_name), std::string::npos) << text;
  EXPECT_NE(text.find(uyghur.summary.card_no), std::string::npos);
  EXPECT_NE(text.find(uyghur.summary.school_name), std::string::npos);
  EXPECT_NE(text.find("北京市中小学生学生卡"), std::string::npos);  // face text layer
  EXPECT_NE(text.find("挂失"), std::string::npos);                  // back notes

  const std::string fonts = RunTool("pdffonts " + path);
  EXPECT_NE(fonts.find("WenQuanYi"), std::string::npos) << fonts;
  EXPECT_EQ(fonts.find(" no "), std::string::npos) << "every font embedded:\n" << fonts;

  const std::string info = RunTool("pdfinfo " + path);
  EXPECT_EQ(PageCount(info), 2) << info;
  EXPECT_NE(info.find("595.276 x 841.89"), std::string::npos) << info;  // A4

  // Rasterise page 1 at 254 dpi (10 px/mm): the front face is 856 x 540 px
  // at (62.2 mm, 45 mm) and looks like the raster.
  RunTool("pdftoppm -r 254 -f 1 -l 1 -png " + path + " " + dir_ + "/page");
  cv::Mat page = cv::imread(dir_ + "/page-1.png", cv::IMREAD_COLOR);
  ASSERT_FALSE(page.empty());
  const cv::Rect card_px(622, 450, 856, 540);
  cv::Mat face;
  const cv::Mat& src = (*cards_)[0].images.front;
  // Crop the raster's bleed away: card = centre 1011 x 638 px of 1016 x 648.
  cv::resize(src(cv::Rect(2, 5, 1011, 638)), face, card_px.size(), 0, 0, cv::INTER_AREA);
  cv::Mat diff;
  cv::absdiff(page(card_px), face, diff);
  EXPECT_LT(cv::mean(diff)[0], 25.0);
  // Crop marks: dark pixels just outside the top-left corner, on the card's edge line.
  cv::Mat gray;
  cv::cvtColor(page, gray, cv::COLOR_BGR2GRAY);
  EXPECT_GT(cv::countNonZero(gray(cv::Rect(560, 448, 40, 5)) < 128), 10);
}

TEST_F(PdfTest, BatchSheetsAndManifestGroupedBySchool) {
  ASSERT_NE(cards_, nullptr);
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  std::vector<const RenderedCard*> batch;
  for (const auto& c : *cards_) batch.push_back(&c);
  ASSERT_TRUE(pdf->AddBatch(batch).ok());
  auto bytes = pdf->Save();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_GT(bytes->size(), 1000u);
  EXPECT_EQ(std::string(bytes->begin(), bytes->begin() + 5), "%PDF-");
  const std::string path = dir_ + "/batch.pdf";
  {
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(bytes->data(), 1, bytes->size(), f);
    fclose(f);
  }
  const std::string info = RunTool("pdfinfo " + path);
  // 7 cards at 5 per sheet = 2 sheets, then 1 manifest page.
  EXPECT_EQ(PageCount(info), 3) << info;
  const std::string manifest = RunTool("pdftotext -enc UTF-8 -f 3 -l 3 " + path + " -");
  std::map<std::string, std::vector<const RenderedCard*>> by_school;
  for (const auto& c : *cards_) by_school[c.summary.school_code].push_back(&c);
  ASSERT_GE(by_school.size(), 1u);
  size_t last_header = 0;
  for (const auto& [code, cards] : by_school) {
    const size_t header = manifest.find("(" + code + ")");
    ASSERT_NE(header, std::string::npos) << code << "\n" << manifest;
    EXPECT_GE(header, last_header);
    last_header = header;
    for (const RenderedCard* c : cards) {
      EXPECT_NE(manifest.find(c->summary.job_id), std::string::npos) << c->summary.job_id;
      EXPECT_NE(manifest.find(c->summary.card_no), std::string::npos);
      EXPECT_NE(manifest.find(c->summary.student_name), std::string::npos)
          << c->summary.student_name;
    }
  }
}

TEST_F(PdfTest, CardsAtARecycledAddressGetTheirOwnImages) {
  ASSERT_NE(cards_, nullptr);
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  RenderedCard slot = (*cards_)[0];
  ASSERT_TRUE(pdf->AddCardProof(slot).ok());
  slot = (*cards_)[3];  // same address, another card (senior, green)
  ASSERT_TRUE(pdf->AddCardProof(slot).ok());
  const std::string path = dir_ + "/recycled.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  // 2 pages x 2 faces = 4 embedded images, not 2 reused ones.
  const std::string list = RunTool("pdfimages -list " + path);
  int images = 0;
  for (size_t at = list.find(" image "); at != std::string::npos; at = list.find(" image ", at + 1)) {
    ++images;
  }
  EXPECT_EQ(images, 4) << list;
}

TEST_F(PdfTest, ErrorsAreStatusNotCrashes) {
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  ASSERT_TRUE(pdf->AddCardProof((*cards_)[0]).ok());
  EXPECT_EQ(pdf->SaveToFile("/proc/no/such/dir/x.pdf").code(), Code::kIoError);
  // The document is still usable after a recorded error.
  EXPECT_TRUE(pdf->Save().ok());
  // Moved-from and closed documents refuse politely.
  ProofPdf moved = std::move(pdf).value();
  moved.Close();
  moved.Close();  // idempotent
  EXPECT_EQ(moved.Save().status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(ProofPdf::Create({{"/nonexistent.ttf", 0}}).status().code(), Code::kInvalidConfig);
}

}  // namespace
}  // namespace cardbureau::layout
