#include "cardbureau/layout/proof_pdf.h"

#include <hpdf.h>
#include <hpdf_pages.h>
#include <hpdf_streams.h>
#include <jpeglib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>

#include "cardbureau/layout/qr.h"
#include "pdf_fonts.h"

namespace cardbureau::layout {
namespace {

constexpr double kPtPerMm = 72.0 / 25.4;
constexpr double kA4W = 210.0, kA4H = 297.0;

HPDF_Doc Doc(void* d) { return static_cast<HPDF_Doc>(d); }
HPDF_Page Page(void* p) { return static_cast<HPDF_Page>(p); }

// libjpeg-turbo straight from BGR (JCS_EXT_BGR): cv::imencode converts
// every face to RGB first (~1 ms of a proof's 8). Errors longjmp out of
// libjpeg; the state that must survive lives on the heap.
struct JpegEncoder {
  struct Err {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
  };
  jpeg_compress_struct cinfo;
  Err err;
  bool created = false;
  unsigned char* out = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): libjpeg's type
  ~JpegEncoder() {
    if (created) jpeg_destroy_compress(&cinfo);
    std::free(out);
  }
};

extern "C" void OnJpegEncodeError(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<JpegEncoder::Err*>(cinfo->err)->jump, 1);
}

// JPEG of a CV_8UC3 BGR face; empty on failure.
std::vector<uint8_t> EncodeFaceJpeg(const cv::Mat& bgr, int quality) {
  if (bgr.type() != CV_8UC3 || bgr.empty()) return {};
  auto enc = std::make_unique<JpegEncoder>();
  JpegEncoder* e = enc.get();
  e->cinfo.err = jpeg_std_error(&e->err.pub);
  e->err.pub.error_exit = OnJpegEncodeError;
  if (setjmp(e->err.jump)) return {};
  jpeg_create_compress(&e->cinfo);
  e->created = true;
  jpeg_mem_dest(&e->cinfo, &e->out, &e->size);
  e->cinfo.image_width = static_cast<JDIMENSION>(bgr.cols);
  e->cinfo.image_height = static_cast<JDIMENSION>(bgr.rows);
  e->cinfo.input_components = 3;
  e->cinfo.in_color_space = JCS_EXT_BGR;
  jpeg_set_defaults(&e->cinfo);
  jpeg_set_quality(&e->cinfo, quality, TRUE);
  jpeg_start_compress(&e->cinfo, TRUE);
  while (e->cinfo.next_scanline < e->cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(bgr.ptr<uint8_t>(static_cast<int>(e->cinfo.next_scanline)));
    jpeg_write_scanlines(&e->cinfo, &row, 1);
  }
  jpeg_finish_compress(&e->cinfo);
  return std::vector<uint8_t>(e->out, e->out + e->size);
}

}  // namespace

struct ProofPdf::State {
  HPDF_STATUS error = HPDF_OK;
  HPDF_STATUS detail = 0;
  // Text fonts: our Type0/CIDFont objects with subset programs and ToUnicode
  // (libharu's own font code cannot show or map text beyond the BMP).
  std::unique_ptr<pdf::CidFontSet> fonts;
  std::map<std::pair<const void*, bool>, HPDF_Image> images;  // per call: card -> image
};

std::vector<FontFile> DefaultPdfFonts() {
  return {{"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2},
          {"/usr/share/fonts/truetype/hanazono/HanaMinA.ttf", 0},
          {"/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", 0}};
}

Result<std::vector<FontFile>> PdfFontsOf(const Template& t, const std::string& chain) {
  auto it = t.fonts.find(chain);
  if (it == t.fonts.end()) {
    return Status(Code::kInvalidTemplate, "template has no font chain " + chain, "fonts");
  }
  std::vector<FontFile> files = it->second;
  for (auto& f : files) f.path = ResolvePath(t, f.path);
  return files;
}

std::string_view ToString(ManifestOutcome outcome) {
  switch (outcome) {
    case ManifestOutcome::kProduced:
      return "produced";
    case ManifestOutcome::kRejected:
      return "rejected";
    case ManifestOutcome::kVoided:
      return "voided";
    case ManifestOutcome::kReprinted:
      return "reprinted";
    case ManifestOutcome::kFailed:
      return "failed";
    case ManifestOutcome::kCancelled:
      return "cancelled";
    case ManifestOutcome::kPending:
      return "in production";
  }
  return "unknown";
}

std::string OutcomeText(const ManifestRow& row) {
  std::string s(ToString(row.outcome));
  if ((row.outcome == ManifestOutcome::kRejected || row.outcome == ManifestOutcome::kFailed) &&
      !row.code.empty()) {
    s += " " + row.code;
  }
  return s;
}

ManifestTotals CountOutcomes(const std::vector<ManifestRow>& rows) {
  ManifestTotals t;
  for (const auto& r : rows) {
    switch (r.outcome) {
      case ManifestOutcome::kProduced:
        ++t.produced;
        break;
      case ManifestOutcome::kRejected:
        ++t.rejected;
        break;
      case ManifestOutcome::kVoided:
        ++t.voided;
        break;
      case ManifestOutcome::kReprinted:
        ++t.reprinted;
        break;
      case ManifestOutcome::kFailed:
        ++t.failed;
        break;
      case ManifestOutcome::kCancelled:
        ++t.cancelled;
        break;
      case ManifestOutcome::kPending:
        ++t.pending;
        break;
    }
  }
  return t;
}

namespace {

// The chip UID from a card's QR payload ("BJSC1:<claims>.<sig>"), or "".
std::string UidOfCard(const RenderedCard& card) {
  std::string_view p = card.qr_payload;
  constexpr std::string_view kPrefix = "BJSC1:";
  if (!p.starts_with(kPrefix)) return "";
  p.remove_prefix(kPrefix.size());
  const size_t dot = p.find('.');
  if (dot == std::string_view::npos) return "";
  auto json = Base64UrlDecode(p.substr(0, dot));
  if (!json.ok()) return "";
  auto claims =
      ParseClaimsJson(std::string_view(reinterpret_cast<const char*>(json->data()), json->size()));
  return claims.ok() ? claims->uid : "";
}

}  // namespace

BatchManifest ManifestFromCards(const std::vector<const RenderedCard*>& cards, std::string batch_id,
                                std::string date) {
  BatchManifest m;
  m.batch_id = std::move(batch_id);
  m.date = std::move(date);
  for (const RenderedCard* c : cards) {
    if (m.school_code.empty()) {
      m.school_code = c->summary.school_code;
      m.school_name = c->summary.school_name;
    }
    ManifestRow r;
    r.job_id = c->summary.job_id;
    r.student_name = c->summary.student_name;
    r.card_no = c->summary.card_no;
    r.uid_hex = UidOfCard(*c);
    m.rows.push_back(std::move(r));
  }
  return m;
}

Result<ProofPdf> ProofPdf::Create(const std::vector<FontFile>& fonts) {
  ProofPdf pdf;
  pdf.state_ = std::make_unique<State>();
  // Runs inside libharu: records the first error and returns normally
  // (never throws or longjmps through C).
  auto on_error = [](HPDF_STATUS error_no, HPDF_STATUS detail_no, void* user_data) noexcept {
    auto* st = static_cast<State*>(user_data);
    if (st->error == HPDF_OK) {
      st->error = error_no;
      st->detail = detail_no;
    }
  };
  pdf.doc_ = HPDF_New(on_error, pdf.state_.get());
  if (!pdf.doc_) return Status(Code::kInternal, "HPDF_New failed");
  auto set = pdf::CidFontSet::Create(Doc(pdf.doc_), fonts);
  if (!set.ok()) return Status(Code::kInvalidConfig, set.status().message(), "pdf.fonts");
  pdf.state_->fonts = std::move(set).value();
  HPDF_SetCompressionMode(Doc(pdf.doc_), HPDF_COMP_ALL);
  HPDF_SetInfoAttr(Doc(pdf.doc_), HPDF_INFO_CREATOR, "cardbureau");
  CB_RETURN_IF_ERROR(pdf.Check("document setup"));
  return pdf;
}

ProofPdf::ProofPdf(ProofPdf&& o) noexcept
    : doc_(std::exchange(o.doc_, nullptr)), state_(std::move(o.state_)) {}
ProofPdf& ProofPdf::operator=(ProofPdf&& o) noexcept {
  if (this != &o) {
    Close();
    doc_ = std::exchange(o.doc_, nullptr);
    state_ = std::move(o.state_);
  }
  return *this;
}
ProofPdf::~ProofPdf() { Close(); }

void ProofPdf::Close() {
  if (state_) state_->fonts.reset();  // holds pointers into the document
  if (doc_) HPDF_Free(Doc(doc_));
  doc_ = nullptr;
}

Status ProofPdf::Check(const char* what) {
  if (!doc_ || !state_) return Status(Code::kFailedPrecondition, "PDF document is closed");
  if (state_->error == HPDF_OK) return Status::Ok();
  char buf[96];
  std::snprintf(buf, sizeof buf, "libharu error 0x%04X (detail %u) during ",
                static_cast<unsigned>(state_->error), static_cast<unsigned>(state_->detail));
  Status s(Code::kInternal, buf + std::string(what), "pdf");
  state_->error = HPDF_OK;
  HPDF_ResetError(Doc(doc_));
  return s;
}

Status ProofPdf::DrawString(void* page, const std::string& utf8, double x_pt, double y_pt,
                            double size_pt, bool invisible) {
  auto cps = DecodeUtf8(utf8);
  if (!cps.ok()) return Status(Code::kInvalidField, "text is not UTF-8", "pdf");
  if (cps->empty()) return Status::Ok();
  HPDF_Page p = Page(page);
  char head[96];
  std::snprintf(head, sizeof head, "BT\n%d Tr\n%.3f %.3f Td\n", invisible ? 3 : 0, x_pt, y_pt);
  std::string ops = head;
  CB_RETURN_IF_ERROR(state_->fonts->AppendShowText(p, *cps, size_pt, &ops));
  ops += "ET\n";
  HPDF_PageAttr attr = static_cast<HPDF_PageAttr>(p->attr);
  HPDF_Stream_Write(attr->stream, reinterpret_cast<const HPDF_BYTE*>(ops.data()),
                    static_cast<HPDF_UINT>(ops.size()));
  return Check("text output");
}

double ProofPdf::TextWidth(const std::string& utf8, double size_pt) const {
  auto cps = DecodeUtf8(utf8);
  if (!cps.ok()) return 0;
  return state_->fonts->Width(*cps, size_pt);
}

Result<void*> ProofPdf::FaceImage(const RenderedCard& card, bool front) {
  const auto key = std::make_pair(static_cast<const void*>(&card), front);
  auto it = state_->images.find(key);
  if (it != state_->images.end()) return static_cast<void*>(it->second);
  // JPEG keeps proofs small and fast; q95 is visually lossless for a proof.
  const std::vector<uint8_t> jpg = EncodeFaceJpeg(front ? card.images.front : card.images.back, 95);
  if (jpg.empty()) return Status(Code::kInternal, "JPEG encoding of the face failed");
  HPDF_Image img =
      HPDF_LoadJpegImageFromMem(Doc(doc_), jpg.data(), static_cast<HPDF_UINT>(jpg.size()));
  CB_RETURN_IF_ERROR(Check("image embedding"));
  state_->images[key] = img;
  return static_cast<void*>(img);
}

Status ProofPdf::DrawFace(void* page, const RenderedCard& card, bool front, double x_mm,
                          double y_mm, bool crop_marks) {
  // (x_mm, y_mm): top-left of the card on the page, measured from the top.
  HPDF_Page p = Page(page);
  const double page_h = HPDF_Page_GetHeight(p) / kPtPerMm;
  const RasterProfile& prof = card.profile;
  // The raster includes bleed around the card: place it so the card itself
  // is true size.
  const double raster_w_mm = prof.width_px * 25.4 / prof.dpi;
  const double raster_h_mm = prof.height_px * 25.4 / prof.dpi;
  const double bleed_x = (raster_w_mm - kId1WidthMm) / 2,
               bleed_y = (raster_h_mm - kId1HeightMm) / 2;
  CB_ASSIGN_OR_RETURN(void* img, FaceImage(card, front));
  HPDF_Page_GSave(p);
  // Clip to the card outline (bleed is trimmed).
  HPDF_Page_Rectangle(p, static_cast<HPDF_REAL>(x_mm * kPtPerMm),
                      static_cast<HPDF_REAL>((page_h - y_mm - kId1HeightMm) * kPtPerMm),
                      static_cast<HPDF_REAL>(kId1WidthMm * kPtPerMm),
                      static_cast<HPDF_REAL>(kId1HeightMm * kPtPerMm));
  HPDF_Page_Clip(p);
  HPDF_Page_EndPath(p);
  HPDF_Page_DrawImage(p, static_cast<HPDF_Image>(img),
                      static_cast<HPDF_REAL>((x_mm - bleed_x) * kPtPerMm),
                      static_cast<HPDF_REAL>((page_h - y_mm - kId1HeightMm - bleed_y) * kPtPerMm),
                      static_cast<HPDF_REAL>(raster_w_mm * kPtPerMm),
                      static_cast<HPDF_REAL>(raster_h_mm * kPtPerMm));
  HPDF_Page_GRestore(p);
  CB_RETURN_IF_ERROR(Check("face image"));
  // Invisible text over the drawn text, so the proof is searchable.
  for (const auto& t : card.texts) {
    if (t.front != front) continue;
    const double baseline_mm =
        y_mm + t.rect.y + (t.rect.h - t.size_pt / kPtPerMm) / 2 + 0.88 * t.size_pt / kPtPerMm;
    CB_RETURN_IF_ERROR(DrawString(page, t.text, (x_mm + t.x_mm) * kPtPerMm,
                                  (page_h - baseline_mm) * kPtPerMm, t.size_pt, true));
  }
  if (crop_marks) {
    HPDF_Page_SetLineWidth(p, 0.25f);
    HPDF_Page_SetRGBStroke(p, 0, 0, 0);
    const double gap = 2.0, len = 5.0;
    for (double cx : {x_mm, x_mm + kId1WidthMm}) {
      for (double cy : {y_mm, y_mm + kId1HeightMm}) {
        const double sx = cx == x_mm ? -1 : 1, sy = cy == y_mm ? -1 : 1;
        auto line = [&](double x0, double y0, double x1, double y1) {
          HPDF_Page_MoveTo(p, static_cast<HPDF_REAL>(x0 * kPtPerMm),
                           static_cast<HPDF_REAL>((page_h - y0) * kPtPerMm));
          HPDF_Page_LineTo(p, static_cast<HPDF_REAL>(x1 * kPtPerMm),
                           static_cast<HPDF_REAL>((page_h - y1) * kPtPerMm));
          HPDF_Page_Stroke(p);
        };
        line(cx + sx * gap, cy, cx + sx * (gap + len), cy);
        line(cx, cy + sy * gap, cx, cy + sy * (gap + len));
      }
    }
  }
  return Check("crop marks");
}

Status ProofPdf::AddCardProof(const RenderedCard& card) {
  CB_RETURN_IF_ERROR(Check("start of proof"));
  // Images are cached by card address only within one call: a later card
  // may live at the address of an earlier, destroyed one.
  state_->images.clear();
  HPDF_Page page = HPDF_AddPage(Doc(doc_));
  HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
  CB_RETURN_IF_ERROR(Check("page"));
  const double page_h = kA4H;
  const double x = (kA4W - kId1WidthMm) / 2;
  CB_RETURN_IF_ERROR(DrawString(page, "校样 Proof · " + card.summary.job_id, 20 * kPtPerMm,
                                (page_h - 20) * kPtPerMm, 12, false));
  CB_RETURN_IF_ERROR(DrawString(page,
                                card.summary.school_name + " · " + card.summary.student_name +
                                    " · 北京通号 " + card.summary.card_no,
                                20 * kPtPerMm, (page_h - 27) * kPtPerMm, 10, false));
  CB_RETURN_IF_ERROR(
      DrawString(page, "正面 front (1:1)", x * kPtPerMm, (page_h - 40) * kPtPerMm, 8, false));
  CB_RETURN_IF_ERROR(DrawFace(page, card, true, x, 45, true));
  CB_RETURN_IF_ERROR(
      DrawString(page, "背面 back (1:1)", x * kPtPerMm, (page_h - 115) * kPtPerMm, 8, false));
  CB_RETURN_IF_ERROR(DrawFace(page, card, false, x, 120, true));
  return Check("proof page");
}

Status ProofPdf::AddCardSheets(const std::vector<const RenderedCard*>& cards) {
  CB_RETURN_IF_ERROR(Check("start of card sheets"));
  state_->images.clear();
  constexpr int kPerSheet = 5;
  const double x0 = (kA4W - 2 * kId1WidthMm - 8) / 2;
  for (size_t i = 0; i < cards.size(); i += kPerSheet) {
    HPDF_Page page = HPDF_AddPage(Doc(doc_));
    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    for (size_t k = i; k < std::min(cards.size(), i + kPerSheet); ++k) {
      const double y = 12 + static_cast<double>(k - i) * (kId1HeightMm + 4);
      CB_RETURN_IF_ERROR(DrawFace(page, *cards[k], true, x0, y, true));
      CB_RETURN_IF_ERROR(DrawFace(page, *cards[k], false, x0 + kId1WidthMm + 8, y, true));
    }
  }
  return Check("card sheets");
}

Status ProofPdf::AddBatch(const std::vector<const RenderedCard*>& cards) {
  std::vector<const RenderedCard*> sorted(cards.begin(), cards.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const RenderedCard* a, const RenderedCard* b) {
    return a->summary.school_code < b->summary.school_code;
  });
  CB_RETURN_IF_ERROR(AddCardSheets(sorted));
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j]->summary.school_code == sorted[i]->summary.school_code)
      ++j;
    const std::vector<const RenderedCard*> school(sorted.begin() + static_cast<std::ptrdiff_t>(i),
                                                  sorted.begin() + static_cast<std::ptrdiff_t>(j));
    CB_RETURN_IF_ERROR(AddManifest(ManifestFromCards(school)));
    i = j;
  }
  return Status::Ok();
}

Status ProofPdf::AddBatch(const std::vector<const RenderedCard*>& cards,
                          const BatchManifest& manifest) {
  CB_RETURN_IF_ERROR(AddCardSheets(cards));
  return AddManifest(manifest);
}

namespace {

// Manifest geometry (A4 landscape, mm from the top-left).
constexpr double kLandW = 297.0, kLandH = 210.0;
constexpr double kMargin = 12.0;
constexpr double kTableTop = 40.0;  // header row baseline
constexpr double kRowH = 6.0;
constexpr double kRowsBottom = 196.0;             // no row baseline below this
constexpr double kClosingH = 62.0;                // totals + sign-off block
constexpr double kCellMax = 8.0, kCellMin = 3.0;  // pt

struct Column {
  double x, w;  // mm
  const char* title;
};
constexpr Column kColumns[] = {
    {kMargin, 9, "#"},
    {kMargin + 10, 64, "作业 Job"},
    {kMargin + 75, 58, "姓名 Name"},
    {kMargin + 134, 38, "北京通号 Card no."},
    {kMargin + 173, 27, "UID"},
    {kMargin + 201, 20, "新/补 New/reissue"},
    {kMargin + 222, 51, "结果 Outcome"},
};

}  // namespace

Status ProofPdf::AddManifest(const BatchManifest& m) {
  CB_RETURN_IF_ERROR(Check("start of manifest"));
  const ManifestTotals counted = CountOutcomes(m.rows);
  if (m.totals && *m.totals != counted) {
    return Status(Code::kFailedPrecondition,
                  "manifest totals disagree with its rows (" + std::to_string(m.totals->jobs()) +
                      " vs " + std::to_string(counted.jobs()) + " jobs)",
                  "manifest");
  }
  const ManifestTotals totals = m.totals.value_or(counted);
  // Pagination, fixed before drawing so every page can say "n / N".
  const size_t per_page = static_cast<size_t>((kRowsBottom - (kTableTop + kRowH)) / kRowH) + 1;
  const size_t row_pages = std::max<size_t>(1, (m.rows.size() + per_page - 1) / per_page);
  const size_t on_last = m.rows.size() - (row_pages - 1) * per_page;
  const double last_row_end = kTableTop + kRowH * static_cast<double>(on_last + 1);
  const bool closing_own_page = last_row_end + kClosingH > kLandH - kMargin + 4;
  const size_t pages = row_pages + (closing_own_page ? 1 : 0);

  HPDF_Page page = nullptr;
  auto text = [&](const std::string& s, double x_mm, double y_mm, double size) {
    return DrawString(page, s, x_mm * kPtPerMm, (kLandH - y_mm) * kPtPerMm, size, false);
  };
  // Shrinks to fit the width; never wraps (names stay whole).
  auto cell = [&](const std::string& s, const Column& c, double y_mm) {
    const double w = TextWidth(s, kCellMax);
    const double max_w = (c.w - 1.0) * kPtPerMm;
    const double size = w > max_w ? std::max(kCellMin, kCellMax * max_w / w) : kCellMax;
    return text(s, c.x, y_mm, size);
  };
  auto rule = [&](double x0, double y0, double x1, double gray, double width) {
    HPDF_Page_SetLineWidth(page, static_cast<HPDF_REAL>(width));
    HPDF_Page_SetGrayStroke(page, static_cast<HPDF_REAL>(gray));
    HPDF_Page_MoveTo(page, static_cast<HPDF_REAL>(x0 * kPtPerMm),
                     static_cast<HPDF_REAL>((kLandH - y0) * kPtPerMm));
    HPDF_Page_LineTo(page, static_cast<HPDF_REAL>(x1 * kPtPerMm),
                     static_cast<HPDF_REAL>((kLandH - y0) * kPtPerMm));
    HPDF_Page_Stroke(page);
  };
  auto new_page = [&](size_t n) -> Status {
    page = HPDF_AddPage(Doc(doc_));
    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_LANDSCAPE);
    CB_RETURN_IF_ERROR(Check("manifest page"));
    CB_RETURN_IF_ERROR(text("批次清单 Batch manifest", kMargin, 16, 14));
    CB_RETURN_IF_ERROR(text("页 Page " + std::to_string(n) + " / " + std::to_string(pages),
                            kLandW - kMargin - 30, 16, 9));
    CB_RETURN_IF_ERROR(text(
        "学校 School: " + m.school_name + (m.school_code.empty() ? "" : " (" + m.school_code + ")"),
        kMargin, 24, 10));
    // Empty fields stay empty (a lone "-" would be joined to the next line
    // by text extraction's de-hyphenation).
    CB_RETURN_IF_ERROR(text("批次 Batch: " + m.batch_id, kMargin, 30, 9));
    CB_RETURN_IF_ERROR(text("日期 Date: " + m.date, kMargin + 90, 30, 9));
    return Check("manifest heading");
  };
  auto table_header = [&]() -> Status {
    for (const Column& c : kColumns) CB_RETURN_IF_ERROR(cell(c.title, c, kTableTop));
    rule(kMargin, kTableTop + 2, kLandW - kMargin, 0, 0.6);
    return Check("manifest table header");
  };

  size_t page_no = 1;
  CB_RETURN_IF_ERROR(new_page(page_no));
  CB_RETURN_IF_ERROR(table_header());
  double y = kTableTop;
  for (size_t i = 0; i < m.rows.size(); ++i) {
    if (i > 0 && i % per_page == 0) {
      CB_RETURN_IF_ERROR(new_page(++page_no));
      CB_RETURN_IF_ERROR(table_header());
      y = kTableTop;
    }
    y += kRowH;
    const ManifestRow& r = m.rows[i];
    CB_RETURN_IF_ERROR(cell(std::to_string(i + 1), kColumns[0], y));
    CB_RETURN_IF_ERROR(cell(r.job_id, kColumns[1], y));
    CB_RETURN_IF_ERROR(cell(r.student_name, kColumns[2], y));
    CB_RETURN_IF_ERROR(cell(r.card_no, kColumns[3], y));
    CB_RETURN_IF_ERROR(cell(r.uid_hex, kColumns[4], y));
    CB_RETURN_IF_ERROR(cell(r.reissue ? "reissue" : "new", kColumns[5], y));
    CB_RETURN_IF_ERROR(cell(OutcomeText(r), kColumns[6], y));
    rule(kMargin, y + 2, kLandW - kMargin, 0.7, 0.3);
  }
  CB_RETURN_IF_ERROR(Check("manifest rows"));
  if (closing_own_page) {
    CB_RETURN_IF_ERROR(new_page(++page_no));
    y = kTableTop - kRowH;
  }
  // Totals.
  y += 10;
  CB_RETURN_IF_ERROR(text("合计 Totals", kMargin, y, 10));
  // Failed, cancelled and in-production appear when the batch has any.
  std::vector<std::pair<const char*, int>> lines = {{"produced 制成", totals.produced},
                                                    {"rejected 拒绝", totals.rejected},
                                                    {"voided 作废", totals.voided},
                                                    {"reprinted 重印", totals.reprinted}};
  if (totals.failed > 0) lines.push_back({"failed 失败", totals.failed});
  if (totals.cancelled > 0) lines.push_back({"cancelled 取消", totals.cancelled});
  if (totals.pending > 0) lines.push_back({"in production 制作中", totals.pending});
  // Every row, reprint attempts included: reconciliation.json's "total" ("jobs"
  // there counts the centre's jobs, a reprint being an attempt of its job).
  lines.push_back({"total 合计", totals.jobs()});
  double tx = kMargin + 30;
  const double step = lines.size() > 5 ? 31 : 45;
  for (const auto& [label, n] : lines) {
    CB_RETURN_IF_ERROR(
        text(std::string(label) + ": " + std::to_string(n), tx, y, lines.size() > 5 ? 7 : 9));
    tx += step;
  }
  // Sign-off: three columns, each a signature line and a date line.
  y += 14;
  const std::pair<const char*, const std::string*> roles[] = {
      {"操作员 Operator", &m.operator_name},
      {"质检 QA", &m.qa_name},
      {"接收学校 Receiving school", nullptr}};
  const double col_w = (kLandW - 2 * kMargin) / 3;
  for (size_t k = 0; k < 3; ++k) {
    const double x = kMargin + static_cast<double>(k) * col_w;
    CB_RETURN_IF_ERROR(text(roles[k].first, x, y, 10));
    if (roles[k].second && !roles[k].second->empty()) {
      CB_RETURN_IF_ERROR(text(*roles[k].second, x + 22, y + 10, 9));
    }
    CB_RETURN_IF_ERROR(text("签名 Signature", x, y + 12, 8));
    rule(x + 22, y + 12.5, x + col_w - 6, 0, 0.5);
    CB_RETURN_IF_ERROR(text("日期 Date", x, y + 22, 8));
    rule(x + 22, y + 22.5, x + col_w - 6, 0, 0.5);
  }
  return Check("manifest");
}

Result<Bytes> ProofPdf::Save() {
  CB_RETURN_IF_ERROR(Check("save"));
  CB_RETURN_IF_ERROR(state_->fonts->Finish());
  HPDF_SaveToStream(Doc(doc_));
  CB_RETURN_IF_ERROR(Check("save to stream"));
  HPDF_UINT32 size = HPDF_GetStreamSize(Doc(doc_));
  Bytes out(size);
  HPDF_UINT32 got = size;
  HPDF_ReadFromStream(Doc(doc_), out.data(), &got);
  // HPDF_ReadFromStream reports HPDF_STREAM_EOF at the end: not an error.
  if (state_->error == HPDF_STREAM_EOF) {
    state_->error = HPDF_OK;
    HPDF_ResetError(Doc(doc_));
  }
  HPDF_ResetStream(Doc(doc_));
  CB_RETURN_IF_ERROR(Check("read stream"));
  out.resize(got);
  return out;
}

Status ProofPdf::SaveToFile(const std::string& path) {
  CB_RETURN_IF_ERROR(Check("save"));
  CB_RETURN_IF_ERROR(state_->fonts->Finish());
  HPDF_SaveToFile(Doc(doc_), path.c_str());
  Status s = Check("save to file");
  if (!s.ok()) return Status(Code::kIoError, "cannot write " + path + ": " + s.message());
  return Status::Ok();
}

}  // namespace cardbureau::layout
