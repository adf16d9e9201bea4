#include "cardbureau/core/validation.h"

#include <algorithm>
#include <cstdio>

namespace cardbureau {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsLatinLetter(char32_t cp) {
  if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z')) return true;
  if (cp >= 0xC0 && cp <= 0xFF) return cp != 0xD7 && cp != 0xF7;  // Latin-1 letters
  if (cp >= 0x100 && cp <= 0x24F) return true;                    // Latin Extended-A/B
  if (cp >= 0x1E00 && cp <= 0x1EFF) return true;                  // Latin Extended Additional
  return false;
}

std::string CodePointName(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

Status CheckName(std::string_view name) {
  const std::string field = "student.name";
  auto decoded = DecodeUtf8(name);
  if (!decoded.ok()) return Status(Code::kInvalidField, "is not valid UTF-8", field);
  const std::u32string& cps = *decoded;
  if (cps.empty()) return Status(Code::kInvalidField, "must not be empty", field);
  if (cps.size() > 32) {
    return Status(Code::kInvalidField,
                  "has " + std::to_string(cps.size()) + " characters; at most 32 allowed", field);
  }
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t cp = cps[i];
    bool sep = cp == U' ' || cp == 0xB7;
    if (!sep && !IsHan(cp) && !IsLatinLetter(cp)) {
      return Status(Code::kInvalidField,
                    "character " + CodePointName(cp) +
                        " is not allowed (Han characters, Latin letters, spaces and U+00B7 only)",
                    field);
    }
    if (sep) {
      if (i == 0 || i + 1 == cps.size()) {
        return Status(Code::kInvalidField, "must not start or end with a space or middle dot",
                      field);
      }
      if (cps[i + 1] == U' ' || cps[i + 1] == 0xB7) {
        return Status(Code::kInvalidField,
                      "must not have two separators (space or middle dot) in a row", field);
      }
    }
  }
  return Status::Ok();
}

Status CheckStudentNo(std::string_view no) {
  const std::string field = "student.student_no";
  if (no.size() != 19) {
    return Status(Code::kInvalidField, "must be G, L or J followed by 18 characters", field);
  }
  if (no[0] != 'G' && no[0] != 'L' && no[0] != 'J') {
    return Status(Code::kInvalidField, "must start with G, L or J", field);
  }
  Status s = CheckCitizenNumber(no.substr(1));
  if (!s.ok()) return Status(s.code(), s.message(), field);
  return Status::Ok();
}

}  // namespace

bool IsValidJobId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

char Mod11_2CheckChar(std::string_view digits17) {
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  int sum = 0;
  for (size_t i = 0; i < 17 && i < digits17.size(); ++i) sum += (digits17[i] - '0') * kWeights[i];
  return kCheck[sum % 11];
}

Status CheckCitizenNumber(std::string_view id) {
  if (id.size() != 18 || !AllDigits(id.substr(0, 17)) ||
      !((id[17] >= '0' && id[17] <= '9') || id[17] == 'X')) {
    return Status(Code::kInvalidField, "must be 17 digits and a check character 0-9 or X");
  }
  auto birth = ParseCompactDate(id.substr(6, 8));
  if (!birth || birth->year < 1900) {
    return Status(Code::kInvalidField, "has no valid date of birth at positions 7-14");
  }
  if (Mod11_2CheckChar(id.substr(0, 17)) != id[17]) {
    return Status(Code::kInvalidChecksum, "check character does not match (ISO 7064 MOD 11-2)");
  }
  return Status::Ok();
}

Result<std::u32string> DecodeUtf8(std::string_view s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<uint8_t>(s[i]);
    char32_t cp;
    size_t len;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1F;
      len = 2;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0F;
      len = 3;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07;
      len = 4;
    } else {
      return Status(Code::kInvalidField, "invalid UTF-8 lead byte");
    }
    if (i + len > s.size()) return Status(Code::kInvalidField, "truncated UTF-8 sequence");
    for (size_t k = 1; k < len; ++k) {
      auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return Status(Code::kInvalidField, "invalid UTF-8 continuation");
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return Status(Code::kInvalidField, "invalid UTF-8 code point");
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string EncodeUtf8(std::u32string_view text) {
  std::string out;
  for (char32_t cp : text) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

bool IsHan(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) ||    // URO
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // Ext-A
         (cp >= 0x20000 && cp <= 0x2A6DF) ||  // Ext-B
         (cp >= 0x2A700 && cp <= 0x2B73F) ||  // Ext-C
         (cp >= 0x2B740 && cp <= 0x2B81F) ||  // Ext-D
         (cp >= 0x2B820 && cp <= 0x2CEAF) ||  // Ext-E
         (cp >= 0x2CEB0 && cp <= 0x2EBEF) ||  // Ext-F
         (cp >= 0x30000 && cp <= 0x3134F) ||  // Ext-G
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // Compatibility Ideographs
         (cp >= 0x2F800 && cp <= 0x2FA1F);    // Compatibility Supplement
}

Status ValidateJob(Job& job, const ValidationOptions& options) {
  const Clock& clock = options.clock ? *options.clock : SystemClock::Instance();
  const CivilDate today = clock.TodayBeijing();

  if (!IsValidJobId(job.job_id)) {
    return Status(Code::kInvalidField, "must be 1-64 characters of A-Z a-z 0-9 . _ -", "job_id");
  }
  if (job.kind == JobKind::kReissue && !job.replaces) {
    return Status(Code::kInvalidField, "a reissue must say which card it replaces", "replaces");
  }
  if (job.kind == JobKind::kNew && job.replaces) {
    return Status(Code::kInvalidField, "a new card must not carry replaces", "replaces");
  }
  if (job.replaces) {
    const auto& r = *job.replaces;
    if (r.card_no.size() < 10 || r.card_no.size() > 20 || !AllDigits(r.card_no)) {
      return Status(Code::kInvalidField, "must be 10-20 digits", "replaces.card_no");
    }
    if (!r.uid.empty()) {
      auto uid = FromHex(r.uid);
      if (!uid.ok() || (uid->size() != 4 && uid->size() != 7) ||
          r.uid.find_first_of(" :") != std::string::npos) {
        return Status(Code::kInvalidField, "must be a 4- or 7-byte UID in hex", "replaces.uid");
      }
    }
  }

  CB_RETURN_IF_ERROR(CheckName(job.student.name));
  if (job.student.education_id.size() != 8 || !AllDigits(job.student.education_id)) {
    return Status(Code::kInvalidField, "must be exactly 8 digits", "student.education_id");
  }
  CB_RETURN_IF_ERROR(CheckStudentNo(job.student.student_no));

  const YearMonth grad = job.student.graduation;
  if (grad < YearMonth{today.year, today.month}) {
    return Status(Code::kExpired, "graduation " + grad.ToString() + " is in the past",
                  "student.graduation");
  }

  const std::string& code = job.school.code;
  if (code.size() < 8 || code.size() > 12 || !AllDigits(code)) {
    return Status(Code::kInvalidField, "must be 8-12 digits", "school.code");
  }
  {
    auto sname = DecodeUtf8(job.school.name);
    if (!sname.ok()) return Status(Code::kInvalidField, "is not valid UTF-8", "school.name");
    if (sname->empty() || sname->size() > 40) {
      return Status(Code::kInvalidField, "must be 1-40 characters", "school.name");
    }
    for (char32_t cp : *sname) {
      if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
        return Status(Code::kInvalidField, "contains a control character", "school.name");
      }
    }
  }

  const std::string& cno = job.card.card_no;
  if (cno.size() < 10 || cno.size() > 20 || !AllDigits(cno)) {
    return Status(Code::kInvalidField, "must be 10-20 digits", "card.card_no");
  }
  const std::string& t = job.card.template_name;
  if (t.empty() || t.size() > 64 || !std::all_of(t.begin(), t.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      })) {
    return Status(Code::kInvalidField, "must be a template name of a-z 0-9 - _", "card.template");
  }

  const CivilDate last_valid{grad.year, 9, 30};
  if (job.card.valid_until) {
    const CivilDate vu = *job.card.valid_until;
    if (vu <= today) {
      return Status(Code::kExpired, vu.ToIso() + " is not after today (" + today.ToIso() + ")",
                    "card.valid_until");
    }
    if (vu > last_valid) {
      return Status(
          Code::kInvalidField,
          vu.ToIso() + " is after 30 September of the graduation year (" + last_valid.ToIso() + ")",
          "card.valid_until");
    }
  } else {
    if (last_valid <= today) {
      return Status(Code::kExpired,
                    "derived date " + last_valid.ToIso() +
                        " (30 September of the graduation "
                        "year) is not after today",
                    "card.valid_until");
    }
    job.card.valid_until = last_valid;
  }

  const std::string& sha = job.photo.sha256;
  if (sha.size() != 64 || !std::all_of(sha.begin(), sha.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return Status(Code::kInvalidField, "must be 64 hex digits", "photo.sha256");
  }

  if (options.glyph_check) {
    auto name = DecodeUtf8(job.student.name);
    Status g = options.glyph_check(*name);
    if (!g.ok()) return Status(g.code(), g.message(), "student.name");
    auto school = DecodeUtf8(job.school.name);
    g = options.glyph_check(*school);
    if (!g.ok()) return Status(g.code(), g.message(), "school.name");
  }
  return Status::Ok();
}

Status ValidatePhotoBytes(const Job& job, ByteView photo) {
  if (photo.empty()) return Status(Code::kPhotoUnreadable, "photo is empty", "photo");
  if (photo.size() > kMaxPhotoBytes) {
    return Status(Code::kPhotoUnreadable,
                  "photo is " + std::to_string(photo.size()) + " bytes; at most 2 MiB allowed",
                  "photo");
  }
  if (Sha256Hex(photo) != job.photo.sha256) {
    return Status(Code::kPhotoHashMismatch, "sha256 of the photo frame does not match",
                  "photo.sha256");
  }
  static constexpr uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF};
  static constexpr uint8_t kPng[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto starts = [&](const uint8_t* magic, size_t n) {
    return photo.size() >= n && std::equal(magic, magic + n, photo.begin());
  };
  bool ok = job.photo.format == PhotoFormat::kJpeg ? starts(kJpeg, sizeof kJpeg)
                                                   : starts(kPng, sizeof kPng);
  if (!ok) {
    return Status(Code::kPhotoUnreadable,
                  "photo bytes are not " + std::string(ToString(job.photo.format)), "photo.format");
  }
  return Status::Ok();
}

}  // namespace cardbureau
