// The student record stored in the student sectors (card-format.md "The
// student record"): magic "BJSC", version, issue sequence, a TLV area and an
// 8-byte AES-CMAC over UID ‖ bytes[0 .. 7+L).
//
// Encoding, parsing and MAC checks are pure functions; thread-safe. Records
// carry a minor's personal data: never log them (log the job id).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/encoder/keys.h"

namespace cardbureau::encoder {

inline constexpr std::string_view kRecordMagic = "BJSC";
inline constexpr uint8_t kRecordVersion = 0x01;
inline constexpr size_t kRecordHeaderSize = 7;  // magic, version, sequence, L
inline constexpr size_t kRecordMacSize = 8;
// The record area of the specified stock: 5 sectors × 48 bytes. A record
// larger than this is RECORD_TOO_LARGE whatever card it is meant for.
inline constexpr size_t kStandardRecordCapacity = 240;

enum class RecordTag : uint8_t {
  kEducationId = 0x01,
  kStudentNo = 0x02,
  kName = 0x03,
  kGender = 0x04,
  kSchoolCode = 0x05,
  kCardNo = 0x06,
  kValidUntil = 0x07,
  kIssuedOn = 0x08,
  kLevel = 0x09,
  kJobId = 0x0A,
};

struct StudentRecord {
  uint8_t issue_sequence = 1;  // 1 for a new card, +1 per reissue
  std::string education_id;    // 8 ASCII digits
  std::string student_no;      // ASCII
  std::string name;            // UTF-8
  char gender = 'M';           // 'M' / 'F'
  std::string school_code;     // ASCII digits
  std::string card_no;         // ASCII digits
  CivilDate valid_until;
  CivilDate issued_on;
  char level = 'P';  // 'P' / 'J' / 'S'
  std::string job_id;

  friend bool operator==(const StudentRecord&, const StudentRecord&) = default;
};

// The record for a validated job.
StudentRecord RecordFromJob(const Job& job, CivilDate issued_on, uint8_t issue_sequence);

// Size of the encoded record (header + TLVs + MAC), without the zero fill.
// RECORD_TOO_LARGE when a value exceeds 255 bytes, the TLV area exceeds 255
// bytes, or the result exceeds `max_size`.
Result<size_t> EncodedRecordSize(const StudentRecord& record,
                                 size_t max_size = kStandardRecordCapacity);

// The record bytes: header, TLVs in tag order, MAC over UID ‖ bytes[0..7+L),
// then 00 up to `fill_to` (0 = no fill). Never truncates: RECORD_TOO_LARGE
// as in EncodedRecordSize, or when the record is longer than `fill_to`.
// INVALID_FIELD for a UID that is not 4 or 7 bytes.
Result<Bytes> EncodeRecord(const StudentRecord& record, ByteView uid, const AesKey& mac_key,
                           size_t fill_to = 0, size_t max_size = kStandardRecordCapacity);

// A record parsed from card bytes, before or without the MAC check.
struct ParsedRecord {
  StudentRecord record;
  uint8_t version = kRecordVersion;
  size_t signed_length = 0;  // 7 + L: the bytes the MAC covers (after the UID)
  std::array<uint8_t, kRecordMacSize> mac{};
  std::vector<uint8_t> unknown_tags;  // skipped, in order of appearance
};

// Pure parser of the record area (as read from the card, any length).
// Errors: NOT_FOUND when the magic is absent (blank or partly written
// card); UNSUPPORTED_VERSION; INVALID_FIELD (field "record.<tag>" or
// "record") for a truncated area, a TLV running past L, a duplicate tag, a
// bad BCD date or a value that breaks its tag's rule. Unknown tags are
// skipped.
Result<ParsedRecord> ParseRecord(ByteView area);

// OK when the MAC in `area` (at parsed.signed_length) equals the first 8
// bytes of AES-CMAC(mac_key, UID ‖ area[0 .. signed_length)). Constant-time
// compare. Errors: VERIFY_MISMATCH; INVALID_FIELD for a bad UID.
Status VerifyRecordMac(ByteView area, const ParsedRecord& parsed, ByteView uid,
                       const AesKey& mac_key);

// ParseRecord + VerifyRecordMac.
Result<StudentRecord> DecodeRecord(ByteView area, ByteView uid, const AesKey& mac_key);

// BCD helpers ("YYYYMMDD" as 4 bytes). DecodeBcdDate: INVALID_FIELD for a
// non-BCD nibble or an impossible date.
std::array<uint8_t, 4> EncodeBcdDate(const CivilDate& date);
Result<CivilDate> DecodeBcdDate(ByteView four);

}  // namespace cardbureau::encoder
