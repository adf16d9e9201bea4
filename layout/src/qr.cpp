#include "cardbureau/layout/qr.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <qrencode.h>
#include <zbar.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/file.h"

namespace cardbureau::layout {
namespace {

EVP_PKEY* Pkey(void* p) { return static_cast<EVP_PKEY*>(p); }

bool AllOf(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpperHex(char c) { return IsDigit(c) || (c >= 'A' && c <= 'F'); }

Status CheckForm(const QrClaims& c) {
  auto digits = [](const std::string& v, size_t lo, size_t hi) {
    return v.size() >= lo && v.size() <= hi && AllOf(v, IsDigit);
  };
  if (c.v != 1) return Status(Code::kInvalidField, "must be 1", "qr.v");
  if (!digits(c.eid, 8, 8)) return Status(Code::kInvalidField, "must be 8 digits", "qr.eid");
  if (!digits(c.cno, 1, 24)) return Status(Code::kInvalidField, "must be digits", "qr.cno");
  if (!digits(c.sch, 1, 16)) return Status(Code::kInvalidField, "must be digits", "qr.sch");
  if (!digits(c.exp, 8, 8)) return Status(Code::kInvalidField, "must be YYYYMMDD", "qr.exp");
  if (c.uid.size() < 8 || c.uid.size() > 20 || c.uid.size() % 2 != 0 || !AllOf(c.uid, IsUpperHex)) {
    return Status(Code::kInvalidField, "must be 4-10 bytes of upper-case hex", "qr.uid");
  }
  if (c.seq < 1 || c.seq > 255) return Status(Code::kInvalidField, "must be 1..255", "qr.seq");
  return Status::Ok();
}

constexpr size_t kMaxPemBytes = 64 * 1024;

void Wipe(std::string& s) {
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
}

void* ReadPem(std::string_view pem, bool want_private) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return nullptr;
  EVP_PKEY* key = want_private ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                               : PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  if (!key && !want_private) {
    BIO_free(bio);
    bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return nullptr;
    key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  }
  BIO_free(bio);
  if (key && EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return nullptr;
  }
  return key;
}

}  // namespace

Result<std::string> ClaimsJson(const QrClaims& c) {
  CB_RETURN_IF_ERROR(CheckForm(c));
  // Every value is digits or hex, so no escaping is needed.
  return "{\"v\":1,\"eid\":\"" + c.eid + "\",\"cno\":\"" + c.cno + "\",\"sch\":\"" + c.sch +
         "\",\"exp\":\"" + c.exp + "\",\"uid\":\"" + c.uid + "\",\"seq\":" + std::to_string(c.seq) +
         "}";
}

Result<QrClaims> ParseClaimsJson(std::string_view text) {
  auto bad = [](const std::string& m) { return Status(Code::kQrUnreadable, m, "qr"); };
  if (text.size() > 1024) return bad("claims too long");
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("claims are not a JSON object");
  QrClaims c;
  auto str = [&](const char* k, std::string& out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  auto num = [&](const char* k, int& out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_integer()) return false;
    int64_t v = it->get<int64_t>();
    if (v < 0 || v > 1000) return false;
    out = static_cast<int>(v);
    return true;
  };
  if (j.size() != 7 || !num("v", c.v) || !str("eid", c.eid) || !str("cno", c.cno) ||
      !str("sch", c.sch) || !str("exp", c.exp) || !str("uid", c.uid) || !num("seq", c.seq)) {
    return bad("claims must have exactly v, eid, cno, sch, exp, uid, seq");
  }
  auto canon = ClaimsJson(c);
  if (!canon.ok()) return bad("claim " + canon.status().field() + " " + canon.status().message());
  if (*canon != text) return bad("claims are not in the canonical compact form");
  return c;
}

// --- QrSigner -------------------------------------------------------------

Result<QrSigner> QrSigner::FromPemFile(const std::string& path) {
  // A private key: the one rule for secrets (mode 0600, no symlink).
  CB_ASSIGN_OR_RETURN(std::string pem, ReadSecretFile(path, kMaxPemBytes, "QR signing key"));
  auto s = FromPem(pem);
  Wipe(pem);
  if (!s.ok()) return Status(s.status().code(), path + ": " + s.status().message());
  return s;
}

Result<QrSigner> QrSigner::FromPem(std::string_view pem) {
  void* key = ReadPem(pem, true);
  if (!key) return Status(Code::kInvalidKey, "not a PEM Ed25519 private key");
  return QrSigner(key);
}

QrSigner QrSigner::FromSignFunction(SignFunction sign) {
  QrSigner s(nullptr);
  s.sign_ = std::move(sign);
  return s;
}

QrSigner::QrSigner(QrSigner&& o) noexcept
    : pkey_(std::exchange(o.pkey_, nullptr)), sign_(std::exchange(o.sign_, nullptr)) {}
QrSigner& QrSigner::operator=(QrSigner&& o) noexcept {
  if (this != &o) {
    EVP_PKEY_free(Pkey(pkey_));
    pkey_ = std::exchange(o.pkey_, nullptr);
    sign_ = std::exchange(o.sign_, nullptr);
  }
  return *this;
}
QrSigner::~QrSigner() { EVP_PKEY_free(Pkey(pkey_)); }

Result<std::string> QrSigner::Sign(const QrClaims& claims) const {
  if (!pkey_ && !sign_) return Status(Code::kFailedPrecondition, "signer has no key (moved from)");
  CB_ASSIGN_OR_RETURN(std::string json, ClaimsJson(claims));
  const std::string signed_part = std::string(kQrPrefix) + Base64UrlEncode(AsBytes(json));
  if (sign_) {
    CB_ASSIGN_OR_RETURN(Bytes sig, sign_(AsBytes(signed_part)));
    if (sig.size() != 64) return Status(Code::kInternal, "Ed25519 signing failed");
    return signed_part + "." + Base64UrlEncode(sig);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return Status(Code::kInternal, "EVP_MD_CTX_new failed");
  uint8_t sig[64];
  size_t sig_len = sizeof sig;
  const bool ok =
      EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, Pkey(pkey_)) == 1 &&
      EVP_DigestSign(ctx, sig, &sig_len, reinterpret_cast<const uint8_t*>(signed_part.data()),
                     signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || sig_len != 64) return Status(Code::kInternal, "Ed25519 signing failed");
  return signed_part + "." + Base64UrlEncode(ByteView(sig, sig_len));
}

// --- QrVerifier -------------------------------------------------------------

Result<QrVerifier> QrVerifier::FromPemFile(const std::string& path) {
  auto read = ReadFileWithLimit(path, kMaxPemBytes);
  if (!read.ok()) {
    if (read.status().code() == Code::kInputTooLarge) {
      return Status(Code::kInvalidKey, path + " is over 64 KiB; not a PEM key", "pubkey");
    }
    return read.status();
  }
  std::string pem = std::move(read).value();
  if (pem.find("PRIVATE KEY") != std::string::npos) {
    // Given the private key (the keystore's sign_key): it is a secret, so
    // it is held to the secrets' rule like QrSigner's.
    Wipe(pem);
    CB_ASSIGN_OR_RETURN(pem, ReadSecretFile(path, kMaxPemBytes, "QR signing key"));
  }
  const bool empty = pem.empty();
  auto v = FromPem(pem);
  Wipe(pem);
  if (!v.ok()) {
    return Status(v.status().code(),
                  path + (empty ? " is empty" : "") + ": " + v.status().message(), "pubkey");
  }
  return v;
}

Result<QrVerifier> QrVerifier::FromPem(std::string_view pem) {
  void* key = ReadPem(pem, false);
  if (!key) return Status(Code::kInvalidKey, "not a PEM Ed25519 public key");
  return QrVerifier(key);
}

QrVerifier::QrVerifier(QrVerifier&& o) noexcept : pkey_(std::exchange(o.pkey_, nullptr)) {}
QrVerifier& QrVerifier::operator=(QrVerifier&& o) noexcept {
  if (this != &o) {
    EVP_PKEY_free(Pkey(pkey_));
    pkey_ = std::exchange(o.pkey_, nullptr);
  }
  return *this;
}
QrVerifier::~QrVerifier() { EVP_PKEY_free(Pkey(pkey_)); }

Result<QrClaims> QrVerifier::Verify(std::string_view payload) const {
  if (!pkey_) return Status(Code::kFailedPrecondition, "verifier has no key (moved from)");
  auto bad = [](const std::string& m) { return Status(Code::kQrUnreadable, m, "qr"); };
  if (payload.size() > 2048) return bad("payload too long");
  if (!payload.starts_with(kQrPrefix)) return bad("payload does not start with BJSC1:");
  const size_t dot = payload.rfind('.');
  if (dot == std::string_view::npos || dot < kQrPrefix.size())
    return bad("payload has no signature");
  const std::string_view claims_b64 = payload.substr(kQrPrefix.size(), dot - kQrPrefix.size());
  auto claims_bytes = Base64UrlDecode(claims_b64);
  if (!claims_bytes.ok()) return bad("claims are not base64url");
  auto sig = Base64UrlDecode(payload.substr(dot + 1));
  if (!sig.ok() || sig->size() != 64) return bad("signature is not 64 bytes of base64url");
  const std::string_view signed_part = payload.substr(0, dot);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return Status(Code::kInternal, "EVP_MD_CTX_new failed");
  const int rc = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, Pkey(pkey_)) == 1
                     ? EVP_DigestVerify(ctx, sig->data(), sig->size(),
                                        reinterpret_cast<const uint8_t*>(signed_part.data()),
                                        signed_part.size())
                     : -1;
  EVP_MD_CTX_free(ctx);
  if (rc != 1) return Status(Code::kInvalidSignature, "QR signature does not verify", "qr");
  const std::string json(claims_bytes->begin(), claims_bytes->end());
  return ParseClaimsJson(json);
}

// --- symbol ---------------------------------------------------------------

int QrModulePx(const QrSymbol& symbol, int box_px) { return box_px / (symbol.size + 8); }

Result<QrSymbol> EncodeQr(std::string_view payload, int box_px, double dpi) {
  if (payload.empty() || payload.size() > 2048) {
    return Status(Code::kInvalidField, "QR payload empty or too long", "qr");
  }
  for (QRecLevel level : {QR_ECLEVEL_Q, QR_ECLEVEL_M}) {
    QRcode* code =
        QRcode_encodeData(static_cast<int>(payload.size()),
                          reinterpret_cast<const unsigned char*>(payload.data()), 0, level);
    if (!code) continue;
    QrSymbol sym;
    sym.size = code->width;
    sym.version = code->version;
    sym.ec_level = level == QR_ECLEVEL_Q ? 'Q' : 'M';
    sym.modules.resize(static_cast<size_t>(sym.size) * static_cast<size_t>(sym.size));
    for (size_t i = 0; i < sym.modules.size(); ++i) sym.modules[i] = code->data[i] & 1;
    QRcode_free(code);
    const double module_mm = QrModulePx(sym, box_px) * 25.4 / dpi;
    if (module_mm + 1e-9 >= kMinQrModuleMm) return sym;
  }
  return Status(
      Code::kInvalidTemplate,
      "QR box of " + std::to_string(box_px) + " px cannot hold the payload at 0.33 mm/module",
      "front.qr");
}

void DrawQr(const QrSymbol& symbol, cv::Mat& bgr, cv::Mat* k_mask, cv::Rect box) {
  const int m = QrModulePx(symbol, std::min(box.width, box.height));
  cv::rectangle(bgr, box, cv::Scalar(255, 255, 255), cv::FILLED);
  if (k_mask) cv::rectangle(*k_mask, box, cv::Scalar(0), cv::FILLED);
  const int span = m * symbol.size;
  const int ox = box.x + (box.width - span) / 2;
  const int oy = box.y + (box.height - span) / 2;
  // The modules, one pixel row per module row copied m times: the pixels
  // cv::rectangle(FILLED) would set per module (clipped to the image), at a
  // fraction of its cost.
  CV_Assert(bgr.type() == CV_8UC3 &&
            (!k_mask || (k_mask->type() == CV_8UC1 && k_mask->size() == bgr.size())));
  const int x0 = std::max(ox, 0), x1 = std::min(ox + span, bgr.cols);
  if (x1 <= x0) return;
  std::vector<uint8_t> row(static_cast<size_t>(x1 - x0) * 3), krow(static_cast<size_t>(x1 - x0));
  for (int y = 0; y < symbol.size; ++y) {
    for (int px = x0; px < x1; ++px) {
      const bool dark = symbol.dark((px - ox) / m, y);
      const size_t i = static_cast<size_t>(px - x0);
      row[3 * i] = row[3 * i + 1] = row[3 * i + 2] = dark ? 0 : 255;
      krow[i] = dark ? 255 : 0;
    }
    for (int py = std::max(oy + y * m, 0); py < std::min(oy + (y + 1) * m, bgr.rows); ++py) {
      std::memcpy(bgr.ptr<uint8_t>(py) + 3 * x0, row.data(), row.size());
      if (k_mask) std::memcpy(k_mask->ptr<uint8_t>(py) + x0, krow.data(), krow.size());
    }
  }
}

Result<std::string> DecodeQrFromImage(const cv::Mat& image) {
  using namespace zbar;  // zbar.h declares its C API inside namespace zbar in C++
  if (image.empty()) return Status(Code::kQrUnreadable, "empty image", "qr");
  cv::Mat gray;
  if (image.channels() == 3) {
    cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  } else if (image.channels() == 1) {
    gray = image.isContinuous() ? image : image.clone();
  } else {
    return Status(Code::kQrUnreadable, "unsupported image format", "qr");
  }
  zbar_image_scanner_t* scanner = zbar_image_scanner_create();
  zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
  zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
  zbar_image_t* img = zbar_image_create();
  zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
  zbar_image_set_size(img, static_cast<unsigned>(gray.cols), static_cast<unsigned>(gray.rows));
  zbar_image_set_data(img, gray.data, gray.total(), nullptr);
  const int n = zbar_scan_image(scanner, img);
  Result<std::string> out = Status(Code::kQrUnreadable, "no QR code found", "qr");
  if (n > 1) {
    out = Status(Code::kQrUnreadable, std::to_string(n) + " QR codes found; expected one", "qr");
  } else if (n == 1) {
    const zbar_symbol_t* sym = zbar_image_first_symbol(img);
    out = std::string(zbar_symbol_get_data(sym), zbar_symbol_get_data_length(sym));
  }
  zbar_image_destroy(img);
  zbar_image_scanner_destroy(scanner);
  return out;
}

}  // namespace cardbureau::layout
