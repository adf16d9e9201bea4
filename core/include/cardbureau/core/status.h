// Status and Result<T>: how every expected failure travels in cardbureau.
//
// A Status carries one code from the error catalogue (the same UPPER_SNAKE
// strings are used on the wire to the centre, in logs, in the dashboard and
// in CLI exit messages), an optional field path ("student.education_id") and
// a human message. Status is cheap to copy and thread-compatible.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cardbureau {

// The error catalogue. protocol.md's list comes first; the rest are codes the
// bureau needs for its own inputs (templates, configs, keys, HTTP, devices).
// Adding a code: add it here and to the table in status.cpp.
enum class Code {
  kOk = 0,
  // protocol.md catalogue
  kInvalidField,
  kInvalidChecksum,
  kExpired,
  kUnrenderableGlyph,
  kPhotoUnreadable,
  kPhotoNoFace,
  kPhotoMultipleFaces,
  kPhotoTooSmall,
  kPhotoTooDark,
  kPhotoBlurred,
  kPhotoHashMismatch,
  kRecordTooLarge,
  kCardStockInvalid,
  kCardAlreadyPersonalized,
  kCardRemoved,
  kAuthFailed,
  kVerifyMismatch,
  kPrinterJam,
  kReaderUnavailable,
  kTooLate,
  kCancelled,
  // bureau-side codes
  kInvalidJson,         // malformed JSON or wrong JSON types
  kUnsupportedVersion,  // "v" other than 1
  kUnknownType,         // unknown message "type"
  kInputTooLarge,       // a job, frame, request or file over its limit
  kInvalidTemplate,     // a card template that cannot be used
  kInvalidConfig,       // a config file or flag that cannot be used
  kKeyFileInsecure,     // key file readable by group/others
  kInvalidKey,          // malformed key material
  kInvalidSignature,    // QR signature does not verify
  kQrUnreadable,        // QR could not be decoded from a face
  kCardError,           // unexpected status word from the card
  kCardTimeout,         // no card arrived in time
  kReaderError,         // PC/SC failure not covered above
  kPrinterOutOfRibbon,
  kPrinterError,
  kStationUnavailable,
  kDuplicateUid,     // a card UID already bound to another produced card
  kStockUnknown,     // a card whose UID is in no imported stock lot
  kStockUsed,        // a stock card already produced or spoiled
  kStockWrongType,   // a stock card of another card type than the job's
  kStockLotInvalid,  // an operator's stock lot file that cannot be imported
  kJobConflict,      // a known job_id sent again with different content
  kNotFound,
  kAlreadyExists,
  kIoError,
  kStorageError,
  kProtocolError,
  kUnauthorized,
  kForbidden,
  kBadRequest,
  kFailedPrecondition,
  kKeystoreUnavailable,  // the PKCS#11 keystore (module, token, PIN, key objects) cannot be used
  kServerBusy,           // HTTP: too many connections (overall or from one client)
  kScanUnusable,  // a card scan/photo where no card can be judged (none, small, dark, blurred)
  kInternal,
};

// "INVALID_FIELD" for Code::kInvalidField, "OK" for kOk.
std::string_view CodeName(Code code);
// The inverse of CodeName; nullopt for an unknown string.
std::optional<Code> CodeFromName(std::string_view name);
// Every code, in declaration order (for the catalogue docs and tests).
const std::vector<Code>& AllCodes();

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message, std::string field = {})
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  std::string_view code_name() const { return CodeName(code_); }
  const std::string& message() const { return message_; }
  // Path of the offending field ("student.name"), empty when not a field.
  const std::string& field() const { return field_; }

  // "OK" or "CODE field: message" (field omitted when empty).
  std::string ToString() const;

  // Returns a copy with `prefix` prepended to the field path
  // ("name" -> "student.name").
  Status WithFieldPrefix(std::string_view prefix) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.field_ == b.field_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string field_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

// Result<T>: a value or a non-OK Status. Constructing from an OK Status is a
// broken invariant and becomes kInternal.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) {
      v_ = Status(Code::kInternal, "Result constructed from OK status");
    }
  }
  Result(Code code, std::string message, std::string field = {})
      : Result(Status(code, std::move(message), std::move(field))) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // Precondition: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }

  T value_or(T fallback) const& { return ok() ? std::get<T>(v_) : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cardbureau

#define CB_CONCAT_INNER_(a, b) a##b
#define CB_CONCAT_(a, b) CB_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when `expr` is not OK.
#define CB_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::cardbureau::Status cb_status_ = (expr); \
    if (!cb_status_.ok()) return cb_status_;  \
  } while (0)

// CB_ASSIGN_OR_RETURN(auto x, MakeX()); returns the Status on failure.
#define CB_ASSIGN_OR_RETURN(lhs, expr) \
  CB_ASSIGN_OR_RETURN_IMPL_(CB_CONCAT_(cb_result_, __LINE__), lhs, expr)
#define CB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
