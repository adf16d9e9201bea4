// Integration: proof PDFs checked with poppler (pdftotext, pdffonts,
// pdfinfo, pdftoppm).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

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

struct ToolOutput {
  std::string out, err;
  int rc = -1;
};
// Runs a command; stdout and stderr apart (poppler's warnings go to stderr).
ToolOutput RunToolFull(const std::string& cmd, const std::string& err_file) {
  ToolOutput r;
  FILE* p = popen((cmd + " 2>" + err_file).c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.rc = pclose(p);
  std::ifstream in(err_file, std::ios::binary);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\f') l.pop_back();
    if (!l.empty() && l.front() == '\f') l.erase(0, 1);
    lines.push_back(l);
  }
  return lines;
}
bool HasLine(const std::vector<std::string>& lines, const std::string& want) {
  return std::find(lines.begin(), lines.end(), want) != lines.end();
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
    const char* files[] = {"valid-primary-new.json",       "valid-junior-reissue.json",
                           "valid-uyghur-middle-dot.json", "valid-senior-4k.json",
                           "valid-latin-diacritics.json",  "valid-one-character.json",
                           "valid-check-char-x.json"};
    cards_ = new std::vector<RenderedCard>();
    reissue_ = new std::vector<bool>();
    // Then every other fixture job that validates (王𠀁 needs HanaMinB).
    std::vector<std::string> names(std::begin(files), std::end(files));
    std::vector<std::string> rest;
    for (const auto& e : std::filesystem::directory_iterator(kSource + "/fixtures/jobs")) {
      const std::string n = e.path().filename().string();
      if (n.ends_with(".json") && std::find(names.begin(), names.end(), n) == names.end())
        rest.push_back(n);
    }
    std::sort(rest.begin(), rest.end());
    for (size_t i = 0; i < names.size() + rest.size(); ++i) {
      const bool listed = i < names.size();
      const std::string f = listed ? names[i] : rest[i - names.size()];
      auto job = LoadJob(f, r.get());
      if (!listed && !job.ok()) continue;  // an invalid job has no card
      ASSERT_TRUE(job.ok()) << f << job.status();
      auto p = r->Prepare(*job, photo);
      ASSERT_TRUE(p.ok()) << f << p.status();
      char uid[16];
      std::snprintf(uid, sizeof uid, "04A1B2%02X", static_cast<unsigned>(0xC3 + cards_->size()));
      auto c = r->ComposeQr(std::move(p).value(), uid, 1, signer);
      ASSERT_TRUE(c.ok()) << f << c.status();
      cards_->push_back(std::move(c).value());
      reissue_->push_back(job->kind == JobKind::kReissue);
    }
    dir_ = std::string(CARDBUREAU_BINARY_DIR) + "/layout-test-out/pdf";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  static void TearDownTestSuite() {
    delete cards_;
    cards_ = nullptr;
    delete reissue_;
    reissue_ = nullptr;
  }
  static std::vector<RenderedCard>* cards_;
  static std::vector<bool>* reissue_;  // per card: the job is a reissue
  static std::string dir_;
};
std::vector<RenderedCard>* PdfTest::cards_ = nullptr;
std::vector<bool>* PdfTest::reissue_ = nullptr;
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
  EXPECT_NE(fonts.find("NotoSansCJKsc-Regular"), std::string::npos) << fonts;
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
  std::map<std::string, std::vector<const RenderedCard*>> by_school;
  for (const auto& c : *cards_) by_school[c.summary.school_code].push_back(&c);
  ASSERT_GE(by_school.size(), 2u);
  // Cards at 5 per sheet, then one manifest page per school.
  const int sheets = static_cast<int>((cards_->size() + 4) / 5);
  EXPECT_EQ(PageCount(info), sheets + static_cast<int>(by_school.size())) << info;
  const std::string manifest =
      RunTool("pdftotext -enc UTF-8 -f " + std::to_string(sheets + 1) + " " + path + " -");
  size_t last_header = 0;
  for (const auto& [code, cards] : by_school) {
    const size_t header = manifest.find("(" + code + ")");
    ASSERT_NE(header, std::string::npos) << code << "\n" << manifest;
    EXPECT_GE(header, last_header);
    last_header = header;
    for (const RenderedCard* c : cards) {
      EXPECT_NE(manifest.find(c->summary.job_id), std::string::npos) << c->summary.job_id;
      EXPECT_NE(manifest.find(c->summary.card_no), std::string::npos);
      EXPECT_TRUE(HasLine(Lines(manifest), c->summary.student_name)) << c->summary.student_name;
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
  for (size_t at = list.find(" image "); at != std::string::npos;
       at = list.find(" image ", at + 1)) {
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

// U+20001 (Ext-B) and U+4DAE (Ext-A) as UTF-8: the names the issue names.
const std::string kExtBName = "王\xF0\xA0\x80\x81";
const std::string kExtAName = "李\xE4\xB6\xAE";

// A PDF checked the way a school's auditor would: text extracted by
// pdftotext, fonts listed by pdffonts; poppler must print nothing on stderr.
struct Extracted {
  std::vector<std::string> lines;  // pdftotext (reading order), per line
  std::string layout;              // pdftotext -layout
  std::string fonts;               // pdffonts
};
Extracted Extract(const std::string& path, const std::string& pages = "") {
  Extracted e;
  const std::string err = path + ".stderr";
  ToolOutput t = RunToolFull("pdftotext -enc UTF-8 " + pages + " " + path + " -", err);
  EXPECT_EQ(t.rc, 0) << path;
  EXPECT_EQ(t.err, "") << "pdftotext warned on " << path;
  e.lines = Lines(t.out);
  ToolOutput l = RunToolFull("pdftotext -layout -enc UTF-8 " + pages + " " + path + " -", err);
  EXPECT_EQ(l.err, "") << "pdftotext -layout warned on " << path;
  e.layout = l.out;
  // Rendering loads every embedded font program: poppler must not complain.
  ToolOutput r =
      RunToolFull("pdftoppm -r 36 -png " + pages + " " + path + " " + path + "-render", err);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.err, "") << "pdftoppm warned on " << path;
  ToolOutput f = RunToolFull("pdffonts " + path, err);
  EXPECT_EQ(f.rc, 0);
  EXPECT_EQ(f.err, "") << "pdffonts warned on " << path;
  e.fonts = f.out;
  return e;
}

// Every font row of pdffonts: embedded, a subset ("ABCDEF+" name), with a
// ToUnicode map; returns the font names.
std::vector<std::string> CheckFontsAreEmbeddedSubsets(const std::string& pdffonts) {
  std::vector<std::string> names;
  const auto lines = Lines(pdffonts);
  for (size_t i = 2; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty()) continue;
    std::istringstream in(l);
    std::string name;
    in >> name;
    names.push_back(name);
    EXPECT_EQ(name.size() > 7 ? name[6] : ' ', '+') << "not a subset: " << l;
    EXPECT_NE(l.find("Identity-H       yes yes yes"), std::string::npos) << "emb/sub/uni: " << l;
  }
  return names;
}

bool HasFont(const std::vector<std::string>& names, const std::string& ps_name) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return n.size() > 7 && n.substr(7) == ps_name; });
}

TEST_F(PdfTest, FixturesIncludeTheRareCharacterNames) {
  ASSERT_NE(cards_, nullptr);
  std::set<std::string> names;
  for (const auto& c : *cards_) names.insert(c.summary.student_name);
  EXPECT_TRUE(names.count(kExtBName)) << "fixtures/jobs lost 王𠀁";
  EXPECT_TRUE(names.count(kExtAName)) << "fixtures/jobs lost 李䶮";
  EXPECT_GE(names.size(), 6u);
}

TEST_F(PdfTest, PdfFontsAreTheCardFacesChain) {
  auto t = LoadTemplate("bjt-student");
  ASSERT_TRUE(t.ok()) << t.status();
  const auto& sans = t->fonts.at("sans");
  const auto pdf_fonts = DefaultPdfFonts();
  ASSERT_EQ(pdf_fonts.size(), sans.size());
  for (size_t i = 0; i < sans.size(); ++i) {
    EXPECT_EQ(pdf_fonts[i].path, sans[i].path);
    EXPECT_EQ(pdf_fonts[i].index, sans[i].index);
  }
  auto of = PdfFontsOf(*t);
  ASSERT_TRUE(of.ok()) << of.status();
  ASSERT_EQ(of->size(), pdf_fonts.size());
  for (size_t i = 0; i < of->size(); ++i) EXPECT_EQ((*of)[i].path, pdf_fonts[i].path);
  EXPECT_EQ(PdfFontsOf(*t, "serif").status().code(), Code::kInvalidTemplate);
}

// Every fixture name, on its own proof page: the name element's invisible
// text extracts as a line equal to the job's name byte for byte, the
// caption carries it too. libharu's own fonts failed this for 王𠀁 (UCS-2
// only: 𠀁 had no ToUnicode entry) with a poppler warning on every page
// (its ToUnicode CMap's "begincidrange" without a count).
TEST_F(PdfTest, EveryFixtureNameExtractsExactlyFromProofs) {
  ASSERT_NE(cards_, nullptr);
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  for (const auto& c : *cards_) ASSERT_TRUE(pdf->AddCardProof(c).ok());
  const std::string path = dir_ + "/every-name-proofs.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  for (size_t i = 0; i < cards_->size(); ++i) {
    const CardSummary& s = (*cards_)[i].summary;
    const std::string page = std::to_string(i + 1);
    Extracted e = Extract(path, "-f " + page + " -l " + page);
    EXPECT_TRUE(HasLine(e.lines, s.student_name)) << "page " << page << ": " << s.student_name;
    EXPECT_TRUE(
        HasLine(e.lines, s.school_name + " · " + s.student_name + " · 北京通号 " + s.card_no))
        << s.student_name;
    EXPECT_TRUE(HasLine(e.lines, s.card_no));
  }
  Extracted all = Extract(path);
  const auto names = CheckFontsAreEmbeddedSubsets(all.fonts);
  EXPECT_TRUE(HasFont(names, "NotoSansCJKsc-Regular")) << all.fonts;
  EXPECT_TRUE(HasFont(names, "HanaMinB")) << "王𠀁's 𠀁 comes from HanaMinB\n" << all.fonts;
}

BatchManifest FixtureManifest(const std::vector<RenderedCard>& cards,
                              const std::vector<bool>& reissue) {
  BatchManifest m;
  m.batch_id = "B20261125-07";
  m.school_name = "北京市朝阳区实验小学";
  m.school_code = "11010810";
  m.date = "2026-11-25";
  m.operator_name = "Operator 7";
  for (size_t i = 0; i < cards.size(); ++i) {
    ManifestRow r;
    r.job_id = cards[i].summary.job_id;
    r.student_name = cards[i].summary.student_name;
    r.card_no = cards[i].summary.card_no;
    r.uid_hex = "04A1B2" + std::string(1, static_cast<char>('A' + i % 6)) + std::to_string(i % 10);
    r.reissue = reissue[i];
    m.rows.push_back(r);
  }
  // One row of every other outcome, with the rare names again.
  ManifestRow rejected{
      "RJ-REJECTED-1", kExtBName, "1000751234567001", "", false, ManifestOutcome::kRejected,
      "PHOTO_NO_FACE"};
  ManifestRow voided{
      "RJ-VOIDED-1", kExtAName, "1000751234567002", "87B475A8", true, ManifestOutcome::kVoided, ""};
  ManifestRow reprinted{"RJ-REPRINTED-1",
                        kExtAName,
                        "1000751234567002",
                        "87B475A9",
                        true,
                        ManifestOutcome::kReprinted,
                        ""};
  m.rows.push_back(rejected);
  m.rows.push_back(voided);
  m.rows.push_back(reprinted);
  return m;
}

TEST_F(PdfTest, ManifestHasEveryNameExactlyColumnsTotalsAndSignOff) {
  ASSERT_NE(cards_, nullptr);
  BatchManifest m = FixtureManifest(*cards_, *reissue_);
  m.totals = CountOutcomes(m.rows);
  EXPECT_EQ(m.totals->produced, static_cast<int>(cards_->size()));
  EXPECT_EQ(m.totals->jobs(), static_cast<int>(cards_->size()) + 3);
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  ASSERT_TRUE(pdf->AddManifest(m).ok());
  const std::string path = dir_ + "/manifest.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  // ~20 rows: one page of rows; the totals and sign-off may need a second.
  const int pages = PageCount(RunTool("pdfinfo " + path));
  EXPECT_TRUE(pages == 1 || pages == 2) << pages;
  Extracted e = Extract(path);
  EXPECT_TRUE(HasLine(e.lines, "页 Page 1 / " + std::to_string(pages)));
  // Each cell is its own line in reading order: names byte for byte.
  for (const ManifestRow& r : m.rows) {
    EXPECT_TRUE(HasLine(e.lines, r.student_name)) << r.student_name;
    EXPECT_TRUE(HasLine(e.lines, r.job_id)) << r.job_id;
    EXPECT_TRUE(HasLine(e.lines, r.card_no)) << r.card_no;
    if (!r.uid_hex.empty()) {
      EXPECT_TRUE(HasLine(e.lines, r.uid_hex)) << r.uid_hex;
    }
  }
  for (const char* want :
       {"rejected PHOTO_NO_FACE", "voided", "reprinted", "produced", "new", "reissue", "作业 Job",
        "姓名 Name", "北京通号 Card no.", "UID", "新/补 New/reissue", "结果 Outcome",
        "批次 Batch: B20261125-07", "日期 Date: 2026-11-25",
        "学校 School: 北京市朝阳区实验小学 (11010810)", "操作员 Operator", "质检 QA",
        "接收学校 Receiving school", "Operator 7"}) {
    EXPECT_TRUE(HasLine(e.lines, want)) << want;
  }
  // Totals and the sign-off lines (a signature and a date for each role).
  EXPECT_TRUE(HasLine(e.lines, "produced 制成: " + std::to_string(cards_->size())));
  EXPECT_TRUE(HasLine(e.lines, "rejected 拒绝: 1"));
  EXPECT_TRUE(HasLine(e.lines, "voided 作废: 1"));
  EXPECT_TRUE(HasLine(e.lines, "reprinted 重印: 1"));
  EXPECT_TRUE(HasLine(e.lines, "total 合计: " + std::to_string(cards_->size() + 3)));
  EXPECT_EQ(std::count(e.lines.begin(), e.lines.end(), "签名 Signature"), 3);
  EXPECT_EQ(std::count(e.lines.begin(), e.lines.end(), "日期 Date"), 3);
  // In layout mode a row reads across: number, job, name, card, UID, kind, outcome.
  const ManifestRow& rj = m.rows[m.rows.size() - 3];
  const std::string row_no = std::to_string(m.rows.size() - 2);
  bool row_found = false;
  for (const std::string& l : Lines(e.layout)) {
    std::istringstream in(l);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    if (w.size() == 7 && w[0] == row_no) {
      row_found = true;
      EXPECT_EQ(w[1], rj.job_id);
      EXPECT_EQ(w[2], kExtBName);
      EXPECT_EQ(w[3], rj.card_no);
      EXPECT_EQ(w[4], "new");
      EXPECT_EQ(w[5] + " " + w[6], "rejected PHOTO_NO_FACE");
    }
  }
  EXPECT_TRUE(row_found) << e.layout;
  const auto names = CheckFontsAreEmbeddedSubsets(e.fonts);
  EXPECT_TRUE(HasFont(names, "NotoSansCJKsc-Regular")) << e.fonts;
  EXPECT_TRUE(HasFont(names, "HanaMinB")) << e.fonts;
  // Subsets: the whole document is far smaller than one of its fonts.
  EXPECT_LT(std::filesystem::file_size(path), 200u * 1024u);
}

// Code points that share a glyph (a compatibility ideograph and its
// unified form; a Kangxi radical and its ideograph) still extract as given:
// a CID maps to one Unicode value, so the second gets its own ToUnicode.
TEST_F(PdfTest, CodePointsSharingAGlyphExtractAsGiven) {
  BatchManifest m;
  m.school_name = "x";
  const std::string compat = "\xE8\xB1\x88\xEF\xA4\x80";   // U+8C48 U+F900
  const std::string radical = "\xE4\xB8\x80\xE2\xBC\x80";  // U+4E00 U+2F00
  m.rows.push_back({"J1", compat, "1", "", false, ManifestOutcome::kProduced, ""});
  m.rows.push_back({"J2", radical, "2", "", false, ManifestOutcome::kProduced, ""});
  m.rows.push_back(
      {"J3", "\xEF\xA4\x80\xE8\xB1\x88", "3", "", false, ManifestOutcome::kProduced, ""});
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  ASSERT_TRUE(pdf->AddManifest(m).ok());
  const std::string path = dir_ + "/shared-glyphs.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  Extracted e = Extract(path);
  for (const auto& r : m.rows) EXPECT_TRUE(HasLine(e.lines, r.student_name)) << r.student_name;
}

TEST_F(PdfTest, LongManifestContinuesOnNumberedPagesWithTheHeaderRepeated) {
  ASSERT_NE(cards_, nullptr);
  BatchManifest m;
  m.batch_id = "B-LONG";
  m.school_name = "北京市朝阳区实验小学";
  m.school_code = "11010810";
  m.date = "2026-11-25";
  for (int i = 0; i < 60; ++i) {
    const RenderedCard& c = (*cards_)[static_cast<size_t>(i) % cards_->size()];
    m.rows.push_back({"JOB" + std::to_string(1000 + i), c.summary.student_name, c.summary.card_no,
                      "", false,
                      i % 7 == 3 ? ManifestOutcome::kRejected : ManifestOutcome::kProduced,
                      i % 7 == 3 ? "PHOTO_BLURRED" : ""});
  }
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  ASSERT_TRUE(pdf->AddManifest(m).ok());
  const std::string path = dir_ + "/long-manifest.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  const int pages = PageCount(RunTool("pdfinfo " + path));
  ASSERT_GE(pages, 3);
  std::vector<std::string> jobs_in_order;
  for (int p = 1; p <= pages; ++p) {
    Extracted e = Extract(path, "-f " + std::to_string(p) + " -l " + std::to_string(p));
    EXPECT_TRUE(HasLine(e.lines, "页 Page " + std::to_string(p) + " / " + std::to_string(pages)));
    EXPECT_TRUE(HasLine(e.lines, "批次 Batch: B-LONG")) << "page " << p;
    for (const auto& l : e.lines) {
      if (l.starts_with("JOB")) jobs_in_order.push_back(l);
    }
    if (p < pages) {
      EXPECT_TRUE(HasLine(e.lines, "姓名 Name")) << "page " << p;
    }
    if (p == pages) {
      EXPECT_TRUE(HasLine(e.lines, "total 合计: 60"));
      EXPECT_TRUE(HasLine(e.lines, "rejected 拒绝: 9"));
      EXPECT_TRUE(HasLine(e.lines, "接收学校 Receiving school"));
    } else {
      EXPECT_FALSE(HasLine(e.lines, "接收学校 Receiving school")) << "page " << p;
    }
  }
  ASSERT_EQ(jobs_in_order.size(), 60u);
  for (int i = 0; i < 60; ++i)
    EXPECT_EQ(jobs_in_order[static_cast<size_t>(i)], "JOB" + std::to_string(1000 + i));
}

TEST_F(PdfTest, ManifestTotalsThatDisagreeWithTheRowsAreRefused) {
  ASSERT_NE(cards_, nullptr);
  BatchManifest m = FixtureManifest(*cards_, *reissue_);
  ManifestTotals wrong = CountOutcomes(m.rows);
  wrong.reprinted = 0;  // "0 reprints" vs a reprinted row
  m.totals = wrong;
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  EXPECT_EQ(pdf->AddManifest(m).code(), Code::kFailedPrecondition);
  EXPECT_EQ(OutcomeText(m.rows[m.rows.size() - 3]), "rejected PHOTO_NO_FACE");
  EXPECT_EQ(OutcomeText(m.rows.back()), "reprinted");
}

TEST_F(PdfTest, BatchWithManifestKeepsSheetsThenTheGivenManifest) {
  ASSERT_NE(cards_, nullptr);
  std::vector<const RenderedCard*> batch;
  for (const auto& c : *cards_) batch.push_back(&c);
  BatchManifest m = FixtureManifest(*cards_, *reissue_);
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  ASSERT_TRUE(pdf->AddBatch(batch, m).ok());
  const std::string path = dir_ + "/batch-with-manifest.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  auto alone = ProofPdf::Create();
  ASSERT_TRUE(alone.ok());
  ASSERT_TRUE(alone->AddManifest(m).ok());
  ASSERT_TRUE(alone->SaveToFile(dir_ + "/manifest-alone.pdf").ok());
  const int manifest_pages = PageCount(RunTool("pdfinfo " + dir_ + "/manifest-alone.pdf"));
  EXPECT_GE(manifest_pages, 1);
  const int sheets = static_cast<int>((cards_->size() + 4) / 5);
  EXPECT_EQ(PageCount(RunTool("pdfinfo " + path)), sheets + manifest_pages);
  Extracted e = Extract(path);  // sheets carry the faces' invisible text too
  EXPECT_TRUE(HasLine(e.lines, "rejected PHOTO_NO_FACE"));
  EXPECT_TRUE(HasLine(e.lines, kExtBName));
}

// The adapter reads each card's UID from its QR claims.
TEST_F(PdfTest, ManifestFromCardsTakesTheUidFromTheQr) {
  ASSERT_NE(cards_, nullptr);
  BatchManifest m = ManifestFromCards({&(*cards_)[0], &(*cards_)[1]}, "B1", "2026-11-25");
  ASSERT_EQ(m.rows.size(), 2u);
  EXPECT_EQ(m.rows[0].uid_hex, "04A1B2C3");
  EXPECT_EQ(m.rows[1].uid_hex, "04A1B2C4");
  EXPECT_EQ(m.rows[1].student_name, (*cards_)[1].summary.student_name);
  EXPECT_EQ(m.school_code, (*cards_)[0].summary.school_code);
  EXPECT_EQ(m.rows[0].outcome, ManifestOutcome::kProduced);
}

// Adding text after a save rewrites the subsets (the second save has the
// new glyphs and extracts them).
TEST_F(PdfTest, SavingTwiceWithNewTextInBetween) {
  ASSERT_NE(cards_, nullptr);
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  ASSERT_TRUE(pdf->AddCardProof((*cards_)[0]).ok());
  ASSERT_TRUE(pdf->Save().ok());
  BatchManifest m;
  m.rows.push_back({"J1", kExtBName, "1", "", false, ManifestOutcome::kProduced, ""});
  m.rows.push_back({"J2", kExtAName, "2", "", false, ManifestOutcome::kProduced, ""});
  ASSERT_TRUE(pdf->AddManifest(m).ok());
  const std::string path = dir_ + "/saved-twice.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  Extracted e = Extract(path);
  EXPECT_TRUE(HasLine(e.lines, kExtBName));
  EXPECT_TRUE(HasLine(e.lines, kExtAName));
  EXPECT_TRUE(HasLine(e.lines, (*cards_)[0].summary.student_name));
}

// The glyphs drawn are the chain's: 王 (Noto Sans CJK, CFF by CID) and 𠀁
// (HanaMinB, TrueType through the CIDToGIDMap) in the manifest, rendered by
// poppler, match FreeType's rendering of the same fonts.
TEST_F(PdfTest, ManifestGlyphsAreTheChainsOutlines) {
  BatchManifest m;
  m.rows.push_back({"J1", kExtBName, "1", "", false, ManifestOutcome::kProduced, ""});
  auto pdf = ProofPdf::Create();
  ASSERT_TRUE(pdf.ok());
  ASSERT_TRUE(pdf->AddManifest(m).ok());
  const std::string path = dir_ + "/glyphs.pdf";
  ASSERT_TRUE(pdf->SaveToFile(path).ok());
  // 600 dpi: the 8 pt name is 67 px. Name cell of row 1: x from 87 mm,
  // baseline at 46 mm (AddManifest's geometry).
  RunTool("pdftoppm -r 600 -gray -png " + path + " " + dir_ + "/glyphs");
  cv::Mat page = cv::imread(dir_ + "/glyphs-1.png", cv::IMREAD_GRAYSCALE);
  ASSERT_FALSE(page.empty());
  const double px_per_mm = 600 / 25.4;
  const cv::Rect cell(static_cast<int>(85 * px_per_mm), static_cast<int>(40 * px_per_mm),
                      static_cast<int>(16 * px_per_mm), static_cast<int>(9 * px_per_mm));
  const cv::Mat name = page(cell);
  auto chain = FontChain::Load(DefaultPdfFonts());
  ASSERT_TRUE(chain.ok()) << chain.status();
  for (const std::u32string& glyph : {std::u32string(U"王"), std::u32string(U"\U00020001")}) {
    cv::Mat ft(120, 120, CV_8UC3, cv::Scalar(255, 255, 255));
    (*chain)->Draw(ft, nullptr, glyph, 67, 20, 20, Rgb{0, 0, 0}, cv::Rect(0, 0, 120, 120));
    cv::Mat ft_gray;
    cv::cvtColor(ft, ft_gray, cv::COLOR_BGR2GRAY);
    const cv::Rect ink = cv::boundingRect(ft_gray < 128);
    ASSERT_GT(ink.area(), 100) << "FreeType drew nothing";
    cv::Mat score;
    cv::matchTemplate(name, ft_gray(ink), score, cv::TM_CCOEFF_NORMED);
    double best = 0;
    cv::minMaxLoc(score, nullptr, &best);
    EXPECT_GT(best, 0.8) << "glyph U+" << std::hex << static_cast<unsigned>(glyph[0]);
  }
  // And a glyph the name does not contain does not match (the check can fail).
  cv::Mat other(120, 120, CV_8UC3, cv::Scalar(255, 255, 255));
  (*chain)->Draw(other, nullptr, U"张", 67, 20, 20, Rgb{0, 0, 0}, cv::Rect(0, 0, 120, 120));
  cv::Mat other_gray;
  cv::cvtColor(other, other_gray, cv::COLOR_BGR2GRAY);
  cv::Mat score;
  cv::matchTemplate(name, other_gray(cv::boundingRect(other_gray < 128)), score,
                    cv::TM_CCOEFF_NORMED);
  double best = 0;
  cv::minMaxLoc(score, nullptr, &best);
  EXPECT_LT(best, 0.7);
}

}  // namespace
}  // namespace cardbureau::layout
