#include "cardbureau/core/status.h"

#include <array>

namespace cardbureau {
namespace {

struct CodeEntry {
  Code code;
  std::string_view name;
};

// One table: the wire names of the catalogue.
constexpr std::array kCodeTable = {
    CodeEntry{Code::kOk, "OK"},
    CodeEntry{Code::kInvalidField, "INVALID_FIELD"},
    CodeEntry{Code::kInvalidChecksum, "INVALID_CHECKSUM"},
    CodeEntry{Code::kExpired, "EXPIRED"},
    CodeEntry{Code::kUnrenderableGlyph, "UNRENDERABLE_GLYPH"},
    CodeEntry{Code::kPhotoUnreadable, "PHOTO_UNREADABLE"},
    CodeEntry{Code::kPhotoNoFace, "PHOTO_NO_FACE"},
    CodeEntry{Code::kPhotoMultipleFaces, "PHOTO_MULTIPLE_FACES"},
    CodeEntry{Code::kPhotoTooSmall, "PHOTO_TOO_SMALL"},
    CodeEntry{Code::kPhotoTooDark, "PHOTO_TOO_DARK"},
    CodeEntry{Code::kPhotoBlurred, "PHOTO_BLURRED"},
    CodeEntry{Code::kPhotoHashMismatch, "PHOTO_HASH_MISMATCH"},
    CodeEntry{Code::kRecordTooLarge, "RECORD_TOO_LARGE"},
    CodeEntry{Code::kCardStockInvalid, "CARD_STOCK_INVALID"},
    CodeEntry{Code::kCardAlreadyPersonalized, "CARD_ALREADY_PERSONALIZED"},
    CodeEntry{Code::kCardRemoved, "CARD_REMOVED"},
    CodeEntry{Code::kAuthFailed, "AUTH_FAILED"},
    CodeEntry{Code::kVerifyMismatch, "VERIFY_MISMATCH"},
    CodeEntry{Code::kPrinterJam, "PRINTER_JAM"},
    CodeEntry{Code::kReaderUnavailable, "READER_UNAVAILABLE"},
    CodeEntry{Code::kTooLate, "TOO_LATE"},
    CodeEntry{Code::kCancelled, "CANCELLED"},
    CodeEntry{Code::kInvalidJson, "INVALID_JSON"},
    CodeEntry{Code::kUnsupportedVersion, "UNSUPPORTED_VERSION"},
    CodeEntry{Code::kUnknownType, "UNKNOWN_TYPE"},
    CodeEntry{Code::kInputTooLarge, "INPUT_TOO_LARGE"},
    CodeEntry{Code::kInvalidTemplate, "INVALID_TEMPLATE"},
    CodeEntry{Code::kInvalidConfig, "INVALID_CONFIG"},
    CodeEntry{Code::kKeyFileInsecure, "KEY_FILE_INSECURE"},
    CodeEntry{Code::kInvalidKey, "INVALID_KEY"},
    CodeEntry{Code::kInvalidSignature, "INVALID_SIGNATURE"},
    CodeEntry{Code::kQrUnreadable, "QR_UNREADABLE"},
    CodeEntry{Code::kCardError, "CARD_ERROR"},
    CodeEntry{Code::kCardTimeout, "CARD_TIMEOUT"},
    CodeEntry{Code::kReaderError, "READER_ERROR"},
    CodeEntry{Code::kPrinterOutOfRibbon, "PRINTER_OUT_OF_RIBBON"},
    CodeEntry{Code::kPrinterError, "PRINTER_ERROR"},
    CodeEntry{Code::kStationUnavailable, "STATION_UNAVAILABLE"},
    CodeEntry{Code::kDuplicateUid, "DUPLICATE_UID"},
    CodeEntry{Code::kStockUnknown, "STOCK_UNKNOWN"},
    CodeEntry{Code::kStockUsed, "STOCK_USED"},
    CodeEntry{Code::kStockWrongType, "STOCK_WRONG_TYPE"},
    CodeEntry{Code::kStockLotInvalid, "STOCK_LOT_INVALID"},
    CodeEntry{Code::kJobConflict, "JOB_CONFLICT"},
    CodeEntry{Code::kNotFound, "NOT_FOUND"},
    CodeEntry{Code::kAlreadyExists, "ALREADY_EXISTS"},
    CodeEntry{Code::kIoError, "IO_ERROR"},
    CodeEntry{Code::kStorageError, "STORAGE_ERROR"},
    CodeEntry{Code::kProtocolError, "PROTOCOL_ERROR"},
    CodeEntry{Code::kUnauthorized, "UNAUTHORIZED"},
    CodeEntry{Code::kForbidden, "FORBIDDEN"},
    CodeEntry{Code::kBadRequest, "BAD_REQUEST"},
    CodeEntry{Code::kFailedPrecondition, "FAILED_PRECONDITION"},
    CodeEntry{Code::kKeystoreUnavailable, "KEYSTORE_UNAVAILABLE"},
    CodeEntry{Code::kServerBusy, "SERVER_BUSY"},
    CodeEntry{Code::kScanUnusable, "SCAN_UNUSABLE"},
    CodeEntry{Code::kInternal, "INTERNAL"},
};

static_assert(kCodeTable.size() == static_cast<size_t>(Code::kInternal) + 1,
              "every Code needs a row in kCodeTable");

}  // namespace

std::string_view CodeName(Code code) {
  auto i = static_cast<size_t>(code);
  if (i < kCodeTable.size() && kCodeTable[i].code == code) return kCodeTable[i].name;
  for (const auto& e : kCodeTable) {
    if (e.code == code) return e.name;
  }
  return "INTERNAL";
}

std::optional<Code> CodeFromName(std::string_view name) {
  for (const auto& e : kCodeTable) {
    if (e.name == name) return e.code;
  }
  return std::nullopt;
}

const std::vector<Code>& AllCodes() {
  static const std::vector<Code> all = [] {
    std::vector<Code> v;
    for (const auto& e : kCodeTable) v.push_back(e.code);
    return v;
  }();
  return all;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  out += ' ';
  if (!field_.empty()) {
    out += field_;
    out += ": ";
  }
  out += message_;
  return out;
}

Status Status::WithFieldPrefix(std::string_view prefix) const {
  if (ok()) return *this;
  std::string f(prefix);
  if (!field_.empty()) {
    if (!f.empty()) f += '.';
    f += field_;
  }
  return Status(code_, message_, std::move(f));
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

}  // namespace cardbureau
