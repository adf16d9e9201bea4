#include "cardbureau/layout/proof_pdf.h"

#include <hpdf.h>

#include <algorithm>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>

namespace cardbureau::layout {
namespace {

constexpr double kPtPerMm = 72.0 / 25.4;
constexpr double kA4W = 210.0, kA4H = 297.0;

HPDF_Doc Doc(void* d) { return static_cast<HPDF_Doc>(d); }
HPDF_Page Page(void* p) { return static_cast<HPDF_Page>(p); }

}  // namespace

struct ProofPdf::State {
  HPDF_STATUS error = HPDF_OK;
  HPDF_STATUS detail = 0;
  std::vector<FontFile> files;
  std::unique_ptr<FontChain> coverage;                 // which file has which code point
  std::map<int, HPDF_Font> fonts;                      // chain index -> loaded font
  std::map<std::pair<const void*, bool>, HPDF_Image> images;  // per call: card -> image
};

std::vector<FontFile> DefaultPdfFonts() {
  return {{"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0},
          {"/usr/share/fonts/truetype/hanazono/HanaMinA.ttf", 0},
          {"/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", 0}};
}

Result<ProofPdf> ProofPdf::Create(const std::vector<FontFile>& fonts) {
  ProofPdf pdf;
  pdf.state_ = std::make_unique<State>();
  pdf.state_->files = fonts;
  auto chain = FontChain::Load(fonts);
  if (!chain.ok()) return Status(Code::kInvalidConfig, chain.status().message(), "pdf.fonts");
  pdf.state_->coverage = std::move(chain).value();
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
  HPDF_SetCompressionMode(Doc(pdf.doc_), HPDF_COMP_ALL);
  HPDF_UseUTFEncodings(Doc(pdf.doc_));
  HPDF_SetCurrentEncoder(Doc(pdf.doc_), "UTF-8");
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

void* ProofPdf::FontFor(char32_t cp) {
  int idx = state_->coverage->FontFor(cp);
  if (idx < 0) idx = 0;
  auto it = state_->fonts.find(idx);
  if (it != state_->fonts.end()) return it->second;
  const FontFile& f = state_->files[static_cast<size_t>(idx)];
  const char* name =
      f.path.ends_with(".ttc")
          ? HPDF_LoadTTFontFromFile2(Doc(doc_), f.path.c_str(), static_cast<HPDF_UINT>(f.index), HPDF_TRUE)
          : HPDF_LoadTTFontFromFile(Doc(doc_), f.path.c_str(), HPDF_TRUE);
  HPDF_Font font = name ? HPDF_GetFont(Doc(doc_), name, "UTF-8") : nullptr;
  state_->fonts[idx] = font;
  return font;
}

Status ProofPdf::DrawString(void* page, const std::string& utf8, double x_pt, double y_pt,
                            double size_pt, bool invisible) {
  auto cps = DecodeUtf8(utf8);
  if (!cps.ok()) return Status(Code::kInvalidField, "text is not UTF-8", "pdf");
  HPDF_Page p = Page(page);
  HPDF_Page_BeginText(p);
  HPDF_Page_SetTextRenderingMode(p, invisible ? HPDF_INVISIBLE : HPDF_FILL);
  double x = x_pt;
  // Split into runs of one font each.
  size_t i = 0;
  while (i < cps->size()) {
    void* font = FontFor((*cps)[i]);
    size_t j = i + 1;
    while (j < cps->size() && FontFor((*cps)[j]) == font) ++j;
    if (!font) return Check("font loading");
    const std::string run = EncodeUtf8(std::u32string_view(*cps).substr(i, j - i));
    HPDF_Page_SetFontAndSize(p, static_cast<HPDF_Font>(font), static_cast<HPDF_REAL>(size_pt));
    HPDF_Page_TextOut(p, static_cast<HPDF_REAL>(x), static_cast<HPDF_REAL>(y_pt), run.c_str());
    x += HPDF_Page_TextWidth(p, run.c_str());
    i = j;
  }
  HPDF_Page_EndText(p);
  return Check("text output");
}

Result<void*> ProofPdf::FaceImage(const RenderedCard& card, bool front) {
  const auto key = std::make_pair(static_cast<const void*>(&card), front);
  auto it = state_->images.find(key);
  if (it != state_->images.end()) return static_cast<void*>(it->second);
  std::vector<uint8_t> jpg;
  // JPEG keeps proofs small and fast; q95 is visually lossless for a proof.
  if (!cv::imencode(".jpg", front ? card.images.front : card.images.back, jpg,
                    {cv::IMWRITE_JPEG_QUALITY, 95})) {
    return Status(Code::kInternal, "JPEG encoding of the face failed");
  }
  HPDF_Image img = HPDF_LoadJpegImageFromMem(Doc(doc_), jpg.data(), static_cast<HPDF_UINT>(jpg.size()));
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
  const double bleed_x = (raster_w_mm - kId1WidthMm) / 2, bleed_y = (raster_h_mm - kId1HeightMm) / 2;
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
    const double baseline_mm = y_mm + t.rect.y + (t.rect.h - t.size_pt / kPtPerMm) / 2 +
                               0.88 * t.size_pt / kPtPerMm;
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
  CB_RETURN_IF_ERROR(DrawString(page, "正面 front (1:1)", x * kPtPerMm, (page_h - 40) * kPtPerMm, 8, false));
  CB_RETURN_IF_ERROR(DrawFace(page, card, true, x, 45, true));
  CB_RETURN_IF_ERROR(DrawString(page, "背面 back (1:1)", x * kPtPerMm, (page_h - 115) * kPtPerMm, 8, false));
  CB_RETURN_IF_ERROR(DrawFace(page, card, false, x, 120, true));
  return Check("proof page");
}

Status ProofPdf::AddBatch(const std::vector<const RenderedCard*>& cards) {
  CB_RETURN_IF_ERROR(Check("start of batch"));
  state_->images.clear();
  std::vector<const RenderedCard*> sorted(cards.begin(), cards.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const RenderedCard* a, const RenderedCard* b) {
    return a->summary.school_code < b->summary.school_code;
  });
  constexpr int kPerSheet = 5;
  const double x0 = (kA4W - 2 * kId1WidthMm - 8) / 2;
  for (size_t i = 0; i < sorted.size(); i += kPerSheet) {
    HPDF_Page page = HPDF_AddPage(Doc(doc_));
    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    for (size_t k = i; k < std::min(sorted.size(), i + kPerSheet); ++k) {
      const double y = 12 + static_cast<double>(k - i) * (kId1HeightMm + 4);
      CB_RETURN_IF_ERROR(DrawFace(page, *sorted[k], true, x0, y, true));
      CB_RETURN_IF_ERROR(DrawFace(page, *sorted[k], false, x0 + kId1WidthMm + 8, y, true));
    }
  }
  // Manifest, grouped by school.
  HPDF_Page page = nullptr;
  double y = 0;
  std::string school;
  auto new_page = [&]() -> Status {
    page = HPDF_AddPage(Doc(doc_));
    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    y = 20;
    CB_RETURN_IF_ERROR(DrawString(page, "批次清单 Manifest (" + std::to_string(sorted.size()) + ")",
                                  15 * kPtPerMm, (kA4H - y) * kPtPerMm, 12, false));
    y += 10;
    return Check("manifest page");
  };
  CB_RETURN_IF_ERROR(new_page());
  for (const RenderedCard* c : sorted) {
    if (y > kA4H - 20) CB_RETURN_IF_ERROR(new_page());
    if (c->summary.school_code != school) {
      school = c->summary.school_code;
      y += 3;
      CB_RETURN_IF_ERROR(DrawString(page, c->summary.school_name + " (" + school + ")",
                                    15 * kPtPerMm, (kA4H - y) * kPtPerMm, 10, false));
      y += 6;
    }
    CB_RETURN_IF_ERROR(DrawString(page, c->summary.job_id, 20 * kPtPerMm, (kA4H - y) * kPtPerMm, 8, false));
    CB_RETURN_IF_ERROR(DrawString(page, c->summary.student_name, 95 * kPtPerMm, (kA4H - y) * kPtPerMm, 8, false));
    CB_RETURN_IF_ERROR(DrawString(page, c->summary.card_no, 140 * kPtPerMm, (kA4H - y) * kPtPerMm, 8, false));
    y += 5;
  }
  return Check("manifest");
}

Result<Bytes> ProofPdf::Save() {
  CB_RETURN_IF_ERROR(Check("save"));
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
  HPDF_SaveToFile(Doc(doc_), path.c_str());
  Status s = Check("save to file");
  if (!s.ok()) return Status(Code::kIoError, "cannot write " + path + ": " + s.message());
  return Status::Ok();
}

}  // namespace cardbureau::layout
