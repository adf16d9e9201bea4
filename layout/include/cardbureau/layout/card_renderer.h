// Card faces: everything but the QR code is rendered by Prepare() before the
// card reaches the encoder; ComposeQr() adds the signed QR (which names the
// chip UID) last. Output rasters are at a printer profile's native size.
#pragma once

#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/layout/font_chain.h"
#include "cardbureau/layout/photo.h"
#include "cardbureau/layout/qr.h"
#include "cardbureau/layout/template.h"

namespace cardbureau::layout {

// A printer raster: the card (ID-1) is centred in width_px x height_px at
// `dpi`; colour blocks and backgrounds touching a card edge bleed to the
// raster edge.
struct RasterProfile {
  std::string name;
  int dpi = 300;
  int width_px = 1016;
  int height_px = 648;
};

// "evolis-300" (300 dpi, 1016x648, the default) and "evolis-600"
// (600 dpi, 2032x1296).
const std::vector<RasterProfile>& Profiles();
// NOT_FOUND for an unknown name. Thread-safe.
Result<RasterProfile> FindProfile(std::string_view name);

// Job data a proof or manifest shows (no photo).
struct CardSummary {
  std::string job_id;
  std::string student_name;
  std::string school_name;
  std::string school_code;
  std::string card_no;
  std::string education_id;
  std::string valid_until;  // YYYY-MM-DD
  SchoolLevel level = SchoolLevel::kPrimary;
};

// One line of text as drawn, for the PDF's selectable text layer.
struct PlacedText {
  bool front = true;
  RectMm rect;         // the element's box
  double x_mm = 0;     // pen start
  double size_pt = 0;  // size actually used after auto-fit
  std::string text;    // UTF-8
};

// The encoded outputs of a face that shows no job data, made once per
// renderer and level (on first use) and shared by its cards. Opaque;
// thread-safe.
class StaticFaceOutputs;

// Read-only by contract: a face that shows no job data (the default back)
// shares its pixels with the renderer's cached layer; clone() before
// drawing on it.
struct CardImages {
  cv::Mat front;  // CV_8UC3, BGR, profile size
  cv::Mat back;
  cv::Mat front_k;  // CV_8UC1, 255 = print with the black resin panel
  cv::Mat back_k;
  // Set for a face shared with the renderer's cached layer: WriteCardOutputs
  // reuses its encoded PNGs and mask while the face still has the layer's
  // pixels (same buffers), and encodes afresh otherwise.
  std::shared_ptr<const StaticFaceOutputs> front_static, back_static;
};

struct PreparedCard {
  CardSummary summary;
  CardImages images;  // without the QR
  std::vector<PlacedText> texts;
  QrClaims claims;  // uid and seq not yet known
  cv::Rect qr_box;  // pixels; empty when the template has no QR
  RasterProfile profile;
};

struct RenderedCard {
  CardSummary summary;
  CardImages images;  // final faces
  std::vector<PlacedText> texts;
  std::string qr_payload;  // "BJSC1:..."
  char qr_ec_level = 0;    // 'M' or 'Q' (0 when no QR box)
  int qr_version = 0;
  RasterProfile profile;
};

// Renders faces for one template and one profile. Owns its fonts, its face
// detector and pre-rendered static layers (per level). NOT thread-safe
// (the cascade classifier is not): create one renderer per worker thread.
// ComposeQr() is const and only reads shared state (the static layers,
// the font chains, which serialise themselves), so it may run on any
// thread.
class CardRenderer {
 public:
  // Errors: INVALID_TEMPLATE (fonts, static text that does not fit, images),
  // INVALID_CONFIG (photo config / cascade).
  static Result<std::unique_ptr<CardRenderer>> Create(const Template& tmpl,
                                                      const RasterProfile& profile,
                                                      const PhotoConfig& photo = {});
  ~CardRenderer();
  CardRenderer(const CardRenderer&) = delete;
  CardRenderer& operator=(const CardRenderer&) = delete;

  // The glyph check of the chain used for the student name, for
  // ValidateJob. Valid while the renderer lives.
  GlyphCheck glyph_check() const;

  // Renders both faces except the QR. The job must already be validated
  // (ValidateJob). The photo check and crop go through the photo config's
  // cache (PhotoCheckCache): a photo checked before under the same settings
  // is not decoded or detected again. Face buffers are reused from earlier
  // cards once every copy of them has been released. Errors:
  // UNRENDERABLE_GLYPH / INVALID_FIELD (text does not fit at the minimum
  // size) with the job field, the PHOTO_* codes.
  Result<PreparedCard> Prepare(const Job& job, ByteView photo);
  // As Prepare, with a photo already checked by a PhotoProcessor (its crop
  // is cached for a later Prepare when the photo carries a cache key).
  Result<PreparedCard> PrepareWithPhoto(const Job& job, const CheckedPhoto& photo);

  // Signs the claims with the chip UID (hex, any case) and issue sequence
  // (1..255) and draws the QR into the front face and its K mask.
  // Errors: INVALID_FIELD (uid/seq), INVALID_TEMPLATE (QR box too small).
  // `transit_no` (the card's transit number from its stock lot, "" when it
  // has none) fills the front's {card.transit_no} texts, drawn here too;
  // without it those texts are left out. INVALID_FIELD (field
  // "card.transit_no") when it does not fit its box.
  Result<RenderedCard> ComposeQr(PreparedCard card, std::string_view uid_hex, int seq,
                                 const QrSigner& signer, std::string_view transit_no = {}) const;

  const Template& tmpl() const { return tmpl_; }
  const RasterProfile& profile() const { return profile_; }
  PhotoProcessor& photos() { return *photos_; }

  // Millimetre box to raster pixels (bleeding to the raster edge at card
  // edges).
  cv::Rect ToPx(const RectMm& r) const;

 private:
  CardRenderer(const Template& t, const RasterProfile& p) : tmpl_(t), profile_(p) {}
  struct Layer {
    cv::Mat bgr, k;
    std::vector<PlacedText> texts;
    std::shared_ptr<const StaticFaceOutputs> outputs;  // faces without job data
  };
  Status BuildStaticLayers();
  Result<PreparedCard> Compose(const Job& job,
                               const std::vector<std::pair<cv::Size, cv::Mat>>& crops);
  // A copy of `src` in a pooled buffer no card references any more (or a
  // fresh one, kept in the pool while it has room).
  static cv::Mat CopyToPooled(const cv::Mat& src, std::vector<cv::Mat>& pool);
  static constexpr size_t kPoolSize = 8;
  Status DrawText(const Element& el, const std::string& utf8, bool front, cv::Mat& bgr, cv::Mat& k,
                  Rgb color, std::vector<PlacedText>& texts, const std::string& field) const;
  static bool IsDynamic(const Element& el);

  Template tmpl_;
  RasterProfile profile_;
  double ppmm_ = 0, ox_ = 0, oy_ = 0;
  std::map<std::string, std::unique_ptr<FontChain>> fonts_;
  std::unique_ptr<PhotoProcessor> photos_;
  std::map<std::string, cv::Mat> images_;  // element id -> BGR at its px size
  std::map<int, Layer> front_layers_;      // by SchoolLevel
  std::map<int, Layer> back_layers_;
  std::string name_font_;
  std::vector<cv::Size> photo_boxes_;       // distinct photo box sizes, px
  std::vector<cv::Mat> bgr_pool_, k_pool_;  // face buffers reused across cards
};

// How card outputs reach the disk. Durability: none of these files is
// fsync'ed; the rule (what is, before a card is reported) is stated in
// layout/src/direct_writer.h.
struct OutputOptions {
  // Files of 128 kB and more (the raw panel buffers, the colour PNGs) are
  // written with O_DIRECT, bypassing the page cache. The outputs are the
  // record of a printed card, read again only on a reprint or a QA query,
  // so caching them buys nothing. A filesystem without O_DIRECT support
  // gets buffered writes. The bytes on disk are the same either way. The
  // default follows the line benchmark on the machine at hand
  // (docs/benchmarks.md, "Card outputs: AIO, O_DIRECT, buffered").
  bool direct_io = true;
  // With direct_io: the large files are submitted by Linux AIO (libaio)
  // and written while the masks are encoded (true), or each direct write
  // is waited for in turn (false).
  bool aio = true;
};

// Writes front.png, back.png, front-k.png, back-k.png (1-bit PNG),
// front.rgb, back.rgb (raw RGB888 panel buffers, row-major, no header) and
// front-k.bin, back-k.bin (1 bit per pixel, MSB first, rows padded to a
// byte) into `dir` (created if missing). With direct_io, the panel
// buffers and colour PNGs are submitted by native AIO and written while
// the masks are encoded; the call returns when every file is complete. A
// large file whose write failed is removed. Thread-safe; keeps per-thread
// scratch buffers (about five RGB rasters) and an AIO context for reuse.
// Errors: IO_ERROR.
Status WriteCardOutputs(const RenderedCard& card, const std::string& dir,
                        const OutputOptions& options = {});
// One file (created or truncated), synchronously: with direct_io and at
// least 128 kB, copied to aligned memory and its whole 4 kB blocks written
// with O_DIRECT, the tail buffered (as WriteCardOutputs, then waited for).
// Errors: IO_ERROR.
Status WriteOutputFile(const std::string& path, ByteView data, const OutputOptions& options = {});
// PNG of a CV_8UC3 BGR image (8-bit RGB PNG, Sub row filter) or a CV_8UC1
// mask (1-bit grey PNG, nonzero = white), built for speed on flat card
// faces: the DEFLATE stream codes runs only (fixed Huffman code, distance-1
// matches), ~1.5x the size a searching compressor makes. Thread-safe; keeps
// per-thread scratch buffers. Errors: INTERNAL for another image type.
Result<Bytes> EncodePng(const cv::Mat& image);
// As EncodePng, into `out` (cleared first; its capacity is reused).
Status EncodePngTo(const cv::Mat& image, Bytes& out);
// EncodePng written to `path`. Errors: as EncodePng, IO_ERROR.
Status WritePng(const cv::Mat& image, const std::string& path);
// 1 bit per pixel, MSB first, rows padded to a whole byte.
Bytes PackMask(const cv::Mat& mask);

}  // namespace cardbureau::layout
