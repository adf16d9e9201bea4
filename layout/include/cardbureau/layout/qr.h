// The signed QR code of the card face (card-format.md §2):
//   BJSC1:<claims>.<signature>
//   claims    = base64url-nopad(compact JSON, keys in the order
//               v, eid, cno, sch, exp, uid, seq)
//   signature = base64url-nopad(Ed25519 over ASCII "BJSC1:" + claims)
// Signing and verification use OpenSSL 3; the symbol is made with
// libqrencode (byte mode) and decoded, for tests and QA, with zbar.
#pragma once

#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"

namespace cardbureau::layout {

inline constexpr std::string_view kQrPrefix = "BJSC1:";
// Smallest module accepted on the card (card-format.md §2).
inline constexpr double kMinQrModuleMm = 0.33;

struct QrClaims {
  int v = 1;
  std::string eid;  // education id, 8 digits
  std::string cno;  // card number, digits
  std::string sch;  // school code, digits
  std::string exp;  // valid until, YYYYMMDD
  std::string uid;  // chip UID, upper-case hex
  int seq = 1;      // issue sequence, 1..255
  bool operator==(const QrClaims&) const = default;
};

// The compact JSON of the claims, keys in the fixed order. INVALID_FIELD
// (field "qr.<key>") when a value is not of its form (digits / hex / range).
Result<std::string> ClaimsJson(const QrClaims& claims);
// Parses claims JSON (pure; the fuzzable half of the verifier). Requires
// exactly the seven keys in order with their forms. Errors: INVALID_SIGNATURE
// is not returned here; QR_UNREADABLE for malformed claims.
Result<QrClaims> ParseClaimsJson(std::string_view json);

// Owns an Ed25519 private key (EVP_PKEY). Move-only. Thread-safe for
// concurrent Sign calls (each call uses its own EVP_MD_CTX).
class QrSigner {
 public:
  // PEM "PRIVATE KEY" holding an Ed25519 key. Errors: IO_ERROR,
  // INVALID_KEY (not PEM / not Ed25519). Key bytes are never logged.
  static Result<QrSigner> FromPemFile(const std::string& path);
  static Result<QrSigner> FromPem(std::string_view pem);
  // A key held elsewhere (a PKCS#11 token): `sign` returns the 64-byte
  // Ed25519 signature of its message; must be thread-safe.
  using SignFunction = std::function<Result<Bytes>(ByteView message)>;
  static QrSigner FromSignFunction(SignFunction sign);
  QrSigner(QrSigner&&) noexcept;
  QrSigner& operator=(QrSigner&&) noexcept;
  ~QrSigner();
  // The full payload "BJSC1:<claims>.<sig>". Errors: INVALID_FIELD, INTERNAL.
  Result<std::string> Sign(const QrClaims& claims) const;

 private:
  explicit QrSigner(void* pkey) : pkey_(pkey) {}
  void* pkey_ = nullptr;  // EVP_PKEY*, owned
  SignFunction sign_;     // set instead of pkey_ for a key held elsewhere
};

// Owns an Ed25519 public key. Move-only; thread-safe.
class QrVerifier {
 public:
  // PEM "PUBLIC KEY" (or a private key, whose public half is used).
  static Result<QrVerifier> FromPemFile(const std::string& path);
  static Result<QrVerifier> FromPem(std::string_view pem);
  QrVerifier(QrVerifier&&) noexcept;
  QrVerifier& operator=(QrVerifier&&) noexcept;
  ~QrVerifier();
  // Parses and verifies a payload. Errors: QR_UNREADABLE (not a BJSC1
  // payload / bad base64url / bad claims), INVALID_SIGNATURE.
  Result<QrClaims> Verify(std::string_view payload) const;

 private:
  explicit QrVerifier(void* pkey) : pkey_(pkey) {}
  void* pkey_ = nullptr;  // EVP_PKEY*, owned
};

// A QR symbol: size x size modules, 1 = dark.
struct QrSymbol {
  int size = 0;
  int version = 0;
  char ec_level = 'M';
  std::vector<uint8_t> modules;
  bool dark(int x, int y) const { return modules[static_cast<size_t>(y * size + x)] != 0; }
};

// Encodes `payload` in byte mode for a square box of `box_px` pixels that
// holds the symbol plus a 4-module quiet zone, with whole-pixel modules at
// `dpi`. Level Q when its module is >= 0.33 mm, else M; INVALID_TEMPLATE
// ("front qr") when even M is under 0.33 mm. Thread-safe.
Result<QrSymbol> EncodeQr(std::string_view payload, int box_px, double dpi);
// Module size in pixels used for `symbol` in a box of box_px.
int QrModulePx(const QrSymbol& symbol, int box_px);

// Draws the symbol centred in `box` of a BGR image (white quiet zone, black
// modules) and, when k_mask is not null, the dark modules into the mask.
void DrawQr(const QrSymbol& symbol, cv::Mat& bgr, cv::Mat* k_mask, cv::Rect box);

// Decodes the one QR code in an image (BGR or grey) with zbar, a different
// library than the encoder. Errors: QR_UNREADABLE (none or more than one).
// Thread-safe (a scanner per call).
Result<std::string> DecodeQrFromImage(const cv::Mat& image);

}  // namespace cardbureau::layout
