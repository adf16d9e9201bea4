#include "cardbureau/encoder/student_record.h"

#include <algorithm>
#include <cstdio>

#include "cardbureau/core/validation.h"
#include "cardbureau/encoder/diversify.h"

namespace cardbureau::encoder {
namespace {

constexpr size_t kMaxValue = 255;
constexpr uint8_t kFirstTag = 0x01;
constexpr uint8_t kLastTag = 0x0A;

std::string TagField(uint8_t tag) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "record.%02X", tag);
  return buf;
}

Status Invalid(uint8_t tag, std::string msg) {
  return Status(Code::kInvalidField, std::move(msg), TagField(tag));
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
bool PrintableAscii(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

struct Tlv {
  RecordTag tag;
  Bytes value;
};

std::vector<Tlv> TlvsOf(const StudentRecord& r) {
  auto str = [](std::string_view s) { return Bytes(s.begin(), s.end()); };
  auto date = [](const CivilDate& d) {
    auto b = EncodeBcdDate(d);
    return Bytes(b.begin(), b.end());
  };
  return {
      {RecordTag::kEducationId, str(r.education_id)},
      {RecordTag::kStudentNo, str(r.student_no)},
      {RecordTag::kName, str(r.name)},
      {RecordTag::kGender, Bytes{static_cast<uint8_t>(r.gender)}},
      {RecordTag::kSchoolCode, str(r.school_code)},
      {RecordTag::kCardNo, str(r.card_no)},
      {RecordTag::kValidUntil, date(r.valid_until)},
      {RecordTag::kIssuedOn, date(r.issued_on)},
      {RecordTag::kLevel, Bytes{static_cast<uint8_t>(r.level)}},
      {RecordTag::kJobId, str(r.job_id)},
  };
}

Result<Bytes> EncodeUnsigned(const StudentRecord& record, size_t max_size) {
  Bytes tlv;
  for (const Tlv& t : TlvsOf(record)) {
    if (t.value.size() > kMaxValue) {
      return Status(Code::kRecordTooLarge,
                    "value of tag " + TagField(static_cast<uint8_t>(t.tag)).substr(7) + " is " +
                        std::to_string(t.value.size()) + " bytes (max 255)",
                    TagField(static_cast<uint8_t>(t.tag)));
    }
    tlv.push_back(static_cast<uint8_t>(t.tag));
    tlv.push_back(static_cast<uint8_t>(t.value.size()));
    tlv.insert(tlv.end(), t.value.begin(), t.value.end());
  }
  if (tlv.size() > kMaxValue) {
    return Status(Code::kRecordTooLarge,
                  "TLV area is " + std::to_string(tlv.size()) + " bytes (max 255)", "record");
  }
  const size_t total = kRecordHeaderSize + tlv.size() + kRecordMacSize;
  if (total > max_size) {
    return Status(Code::kRecordTooLarge,
                  "record needs " + std::to_string(total) + " bytes, the card area holds " +
                      std::to_string(max_size),
                  "record");
  }
  Bytes out(kRecordMagic.begin(), kRecordMagic.end());
  out.push_back(kRecordVersion);
  out.push_back(record.issue_sequence);
  out.push_back(static_cast<uint8_t>(tlv.size()));
  out.insert(out.end(), tlv.begin(), tlv.end());
  return out;
}

Result<Bytes> Mac8(ByteView signed_part, ByteView uid, const AesKey& mac_key) {
  if (uid.size() != 4 && uid.size() != 7) {
    return Status(Code::kInvalidField, "UID must be 4 or 7 bytes", "uid");
  }
  Bytes input(uid.begin(), uid.end());
  input.insert(input.end(), signed_part.begin(), signed_part.end());
  CB_ASSIGN_OR_RETURN(Bytes full, AesCmac(mac_key, input));
  full.resize(kRecordMacSize);
  return full;
}

}  // namespace

StudentRecord RecordFromJob(const Job& job, CivilDate issued_on, uint8_t issue_sequence) {
  StudentRecord r;
  r.issue_sequence = issue_sequence;
  r.education_id = job.student.education_id;
  r.student_no = job.student.student_no;
  r.name = job.student.name;
  r.gender = ToString(job.student.gender).front();
  r.school_code = job.school.code;
  r.card_no = job.card.card_no;
  r.valid_until = job.ValidUntil();
  r.issued_on = issued_on;
  r.level = LevelLetter(job.student.level);
  r.job_id = job.job_id;
  return r;
}

Result<size_t> EncodedRecordSize(const StudentRecord& record, size_t max_size) {
  CB_ASSIGN_OR_RETURN(Bytes body, EncodeUnsigned(record, max_size));
  return body.size() + kRecordMacSize;
}

Result<Bytes> EncodeRecord(const StudentRecord& record, ByteView uid, const AesKey& mac_key,
                           size_t fill_to, size_t max_size) {
  CB_ASSIGN_OR_RETURN(Bytes out, EncodeUnsigned(record, max_size));
  CB_ASSIGN_OR_RETURN(Bytes mac, Mac8(out, uid, mac_key));
  out.insert(out.end(), mac.begin(), mac.end());
  if (fill_to != 0) {
    if (out.size() > fill_to) {
      return Status(Code::kRecordTooLarge,
                    "record needs " + std::to_string(out.size()) + " bytes, the card holds " +
                        std::to_string(fill_to),
                    "record");
    }
    out.resize(fill_to, 0x00);
  }
  return out;
}

std::array<uint8_t, 4> EncodeBcdDate(const CivilDate& d) {
  auto bcd = [](int v) { return static_cast<uint8_t>(((v / 10) % 10) << 4 | (v % 10)); };
  return {bcd(d.year / 100), bcd(d.year % 100), bcd(d.month), bcd(d.day)};
}

Result<CivilDate> DecodeBcdDate(ByteView four) {
  if (four.size() != 4) return Status(Code::kInvalidField, "BCD date must be 4 bytes");
  int digits[8];
  for (size_t i = 0; i < 4; ++i) {
    const int hi = four[i] >> 4, lo = four[i] & 0x0F;
    if (hi > 9 || lo > 9) return Status(Code::kInvalidField, "not a BCD date");
    digits[2 * i] = hi;
    digits[2 * i + 1] = lo;
  }
  CivilDate d;
  d.year = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3];
  d.month = digits[4] * 10 + digits[5];
  d.day = digits[6] * 10 + digits[7];
  if (!d.IsValid()) return Status(Code::kInvalidField, "not a calendar date");
  return d;
}

Result<ParsedRecord> ParseRecord(ByteView area) {
  if (area.size() < kRecordMagic.size() ||
      !std::equal(kRecordMagic.begin(), kRecordMagic.end(), area.begin())) {
    return Status(Code::kNotFound, "no student record (magic absent)", "record");
  }
  if (area.size() < kRecordHeaderSize) {
    return Status(Code::kInvalidField, "record header truncated", "record");
  }
  ParsedRecord p;
  p.version = area[4];
  if (p.version != kRecordVersion) {
    return Status(Code::kUnsupportedVersion,
                  "record format version " + std::to_string(p.version) + " (expected 1)", "record");
  }
  p.record.issue_sequence = area[5];
  const size_t l = area[6];
  p.signed_length = kRecordHeaderSize + l;
  if (area.size() < p.signed_length + kRecordMacSize) {
    return Status(Code::kInvalidField, "record runs past the card area", "record");
  }
  std::copy_n(area.begin() + static_cast<long>(p.signed_length), kRecordMacSize, p.mac.begin());

  const ByteView tlvs = area.subspan(kRecordHeaderSize, l);
  uint16_t seen = 0;  // bit t = known tag t present
  size_t pos = 0;
  while (pos < tlvs.size()) {
    if (tlvs.size() - pos < 2) return Status(Code::kInvalidField, "TLV header truncated", "record");
    const uint8_t tag = tlvs[pos];
    const size_t len = tlvs[pos + 1];
    pos += 2;
    if (tlvs.size() - pos < len) return Invalid(tag, "TLV value runs past L");
    const ByteView value = tlvs.subspan(pos, len);
    pos += len;
    if (tag < kFirstTag || tag > kLastTag) {
      p.unknown_tags.push_back(tag);
      continue;
    }
    if (seen & (1u << tag)) return Invalid(tag, "duplicate tag");
    seen = static_cast<uint16_t>(seen | (1u << tag));
    const std::string text(value.begin(), value.end());
    StudentRecord& r = p.record;
    switch (static_cast<RecordTag>(tag)) {
      case RecordTag::kEducationId:
        if (text.size() != 8 || !AllDigits(text)) return Invalid(tag, "education_id: 8 digits");
        r.education_id = text;
        break;
      case RecordTag::kStudentNo:
        if (!PrintableAscii(text)) return Invalid(tag, "student_no: ASCII");
        r.student_no = text;
        break;
      case RecordTag::kName:
        if (text.empty() || !DecodeUtf8(text).ok()) return Invalid(tag, "name: UTF-8");
        r.name = text;
        break;
      case RecordTag::kGender:
        if (text != "M" && text != "F") return Invalid(tag, "gender: M or F");
        r.gender = text[0];
        break;
      case RecordTag::kSchoolCode:
        if (!AllDigits(text)) return Invalid(tag, "school code: digits");
        r.school_code = text;
        break;
      case RecordTag::kCardNo:
        if (!AllDigits(text)) return Invalid(tag, "card_no: digits");
        r.card_no = text;
        break;
      case RecordTag::kValidUntil:
      case RecordTag::kIssuedOn: {
        auto d = DecodeBcdDate(value);
        if (!d.ok()) return Invalid(tag, d.status().message());
        (tag == static_cast<uint8_t>(RecordTag::kValidUntil) ? r.valid_until : r.issued_on) = *d;
        break;
      }
      case RecordTag::kLevel:
        if (text != "P" && text != "J" && text != "S") return Invalid(tag, "level: P, J or S");
        r.level = text[0];
        break;
      case RecordTag::kJobId:
        if (!PrintableAscii(text)) return Invalid(tag, "job_id: ASCII");
        r.job_id = text;
        break;
    }
  }
  for (uint8_t tag = kFirstTag; tag <= kLastTag; ++tag) {
    if (!(seen & (1u << tag))) return Invalid(tag, "required tag missing");
  }
  return p;
}

Status VerifyRecordMac(ByteView area, const ParsedRecord& parsed, ByteView uid,
                       const AesKey& mac_key) {
  if (area.size() < parsed.signed_length + kRecordMacSize) {
    return Status(Code::kInvalidField, "record runs past the card area", "record");
  }
  auto expected = Mac8(area.first(parsed.signed_length), uid, mac_key);
  if (!expected.ok()) return expected.status();
  uint8_t diff = 0;
  for (size_t i = 0; i < kRecordMacSize; ++i) {
    diff = static_cast<uint8_t>(diff | ((*expected)[i] ^ area[parsed.signed_length + i]));
  }
  if (diff != 0) return Status(Code::kVerifyMismatch, "record MAC does not verify", "record.mac");
  return Status::Ok();
}

Result<StudentRecord> DecodeRecord(ByteView area, ByteView uid, const AesKey& mac_key) {
  CB_ASSIGN_OR_RETURN(ParsedRecord parsed, ParseRecord(area));
  CB_RETURN_IF_ERROR(VerifyRecordMac(area, parsed, uid, mac_key));
  return std::move(parsed.record);
}

}  // namespace cardbureau::encoder
