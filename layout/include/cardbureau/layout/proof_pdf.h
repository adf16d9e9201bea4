// Proof PDFs (libharu): a true-size proof per card (both faces, crop marks,
// selectable text over the face images, embedded TrueType fonts) and, per
// batch, A4 sheets with cards N-up plus a manifest grouped by school.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout {

// TrueType fonts the PDF embeds, in fallback order. libharu embeds
// TrueType (glyf) fonts only, not CFF/OTF, so Noto Sans CJK cannot be used
// here: the default is WenQuanYi Zen Hei (.ttc index 0) then HanaMinA/B.
// libharu 2.3 writes no ToUnicode entries beyond the BMP, so code points
// above U+FFFF render but are not extractable as text.
std::vector<FontFile> DefaultPdfFonts();

// Owns one HPDF_Doc. Move-only; not thread-safe (one document per thread).
// libharu errors are recorded by the error handler (which never throws or
// longjmps) and come back as Status INTERNAL naming the libharu code.
class ProofPdf {
 public:
  // Errors: INTERNAL (libharu), INVALID_CONFIG (fonts).
  static Result<ProofPdf> Create(const std::vector<FontFile>& fonts = DefaultPdfFonts());
  ProofPdf(ProofPdf&&) noexcept;
  ProofPdf& operator=(ProofPdf&&) noexcept;
  ~ProofPdf();
  // Frees the document; idempotent.
  void Close();

  // One page: the front and back at true size (85.60 x 53.98 mm), crop
  // marks, a caption (job id, school, name, card number) and invisible,
  // selectable text over every text element of the faces.
  Status AddCardProof(const RenderedCard& card);
  // A4 sheets, 5 cards per sheet (front | back per row), then the manifest
  // (job, school, name, card number) grouped by school code.
  Status AddBatch(const std::vector<const RenderedCard*>& cards);

  Result<Bytes> Save();
  Status SaveToFile(const std::string& path);

  void* handle() const { return doc_; }  // HPDF_Doc

 private:
  struct State;
  ProofPdf() = default;
  Status Check(const char* what);
  Result<void*> FaceImage(const RenderedCard& card, bool front);
  void* FontFor(char32_t cp);
  Status DrawString(void* page, const std::string& utf8, double x_pt, double y_pt,
                    double size_pt, bool invisible);
  Status DrawFace(void* page, const RenderedCard& card, bool front, double x_mm, double y_mm,
                  bool crop_marks);

  void* doc_ = nullptr;  // HPDF_Doc, owned
  std::unique_ptr<State> state_;
};

}  // namespace cardbureau::layout
