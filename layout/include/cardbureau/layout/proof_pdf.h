// Proof PDFs (libharu for the document, our own Type0/CIDFont objects for
// text): a true-size proof per card (both faces, crop marks, selectable text
// over the face images) and, per batch, A4 sheets with cards N-up plus a
// manifest a school can sign. Text uses the card faces' font chain, embedded
// as subsets, and extracts (pdftotext) exactly as given, supplementary-plane
// characters included (see layout/src/pdf_fonts.h for how).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout {

// The fonts the PDF's text uses, in fallback order: the card faces' chain
// (bjt-student's "sans": Noto Sans CJK SC = NotoSansCJK-Regular.ttc index 2,
// then HanaMinA for Ext-A, HanaMinB for Ext-B). TrueType and CFF
// (OpenType) outlines are both accepted; CFF2 is not.
std::vector<FontFile> DefaultPdfFonts();
// The font chain `chain` of a template (paths resolved), for
// ProofPdf::Create when cards come from another template than bjt-student.
// Errors: INVALID_TEMPLATE (no such chain).
Result<std::vector<FontFile>> PdfFontsOf(const Template& t, const std::string& chain = "sans");

// ---- Batch manifest -------------------------------------------------------

enum class ManifestOutcome {
  kProduced,
  kRejected,
  kVoided,
  kReprinted,
  kFailed,
  kCancelled,
  kPending
};
// "produced" / "rejected" / "voided" / "reprinted" / "failed" / "cancelled" /
// "in production".
std::string_view ToString(ManifestOutcome outcome);

// One job of the batch, one row of the manifest.
struct ManifestRow {
  std::string job_id;
  std::string student_name;  // exactly as the job gives it (UTF-8); printed as is
  std::string card_no;
  std::string uid_hex;   // chip UID in hex; "" when no card was encoded (cell left empty)
  bool reissue = false;  // column new/reissue: "new" or "reissue"
  ManifestOutcome outcome = ManifestOutcome::kProduced;
  std::string code;  // kRejected / kFailed: the catalogued code ("PHOTO_NO_FACE")
};
// The outcome column: "produced", "rejected PHOTO_NO_FACE", "voided",
// "reprinted".
std::string OutcomeText(const ManifestRow& row);

struct ManifestTotals {
  int produced = 0;
  int rejected = 0;
  int voided = 0;
  int reprinted = 0;
  int failed = 0;
  int cancelled = 0;
  int pending = 0;
  int jobs() const {
    return produced + rejected + voided + reprinted + failed + cancelled + pending;
  }
  bool operator==(const ManifestTotals&) const = default;
};
ManifestTotals CountOutcomes(const std::vector<ManifestRow>& rows);

struct BatchManifest {
  std::string batch_id;
  std::string school_name;
  std::string school_code;
  std::string date;               // the manifest's date, YYYY-MM-DD
  std::vector<ManifestRow> rows;  // printed in this order
  // The counts from the store's query; printed as the totals. They must
  // equal CountOutcomes(rows) (else FAILED_PRECONDITION: the document would
  // contradict itself). Unset: CountOutcomes(rows) is printed.
  std::optional<ManifestTotals> totals;
  // Printed on the operator's / QA's sign-off line when given; every line
  // (operator, QA, receiving school) has a signature and a date to fill in.
  std::string operator_name;
  std::string qa_name;
};

// The manifest AddBatch(cards) prints for the cards of one school: every card
// "produced", UID from the card's QR claims, school and rows in card order.
// Reissue is unknown from a RenderedCard (false).
BatchManifest ManifestFromCards(const std::vector<const RenderedCard*>& cards,
                                std::string batch_id = "", std::string date = "");

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
  // A4 sheets, 5 cards per sheet (front | back per row), then a manifest per
  // school code (ManifestFromCards of that school's cards, in school order).
  Status AddBatch(const std::vector<const RenderedCard*>& cards);
  // A4 sheets of `cards` (as above), then `manifest`.
  Status AddBatch(const std::vector<const RenderedCard*>& cards, const BatchManifest& manifest);
  // Card sheets only.
  Status AddCardSheets(const std::vector<const RenderedCard*>& cards);
  // The manifest, on A4 landscape pages: title, batch, school, date, page
  // "n / N"; columns #, job, name, card number, UID, new/reissue, outcome
  // (header repeated on every page; a cell's text shrinks to fit its column,
  // never wraps); totals per outcome; sign-off lines for operator, QA and
  // receiving school, each with a date. Errors: FAILED_PRECONDITION (totals
  // disagree with the rows), INVALID_FIELD (text not UTF-8), INTERNAL.
  Status AddManifest(const BatchManifest& manifest);

  Result<Bytes> Save();
  Status SaveToFile(const std::string& path);

  void* handle() const { return doc_; }  // HPDF_Doc

 private:
  struct State;
  ProofPdf() = default;
  Status Check(const char* what);
  Result<void*> FaceImage(const RenderedCard& card, bool front);
  Status DrawString(void* page, const std::string& utf8, double x_pt, double y_pt, double size_pt,
                    bool invisible);
  // Width in points of utf8 at size_pt (0 for invalid UTF-8).
  double TextWidth(const std::string& utf8, double size_pt) const;
  Status DrawFace(void* page, const RenderedCard& card, bool front, double x_mm, double y_mm,
                  bool crop_marks);

  void* doc_ = nullptr;  // HPDF_Doc, owned
  std::unique_ptr<State> state_;
};

}  // namespace cardbureau::layout
