// The job model: one confirmed card reissue/new-card request from the centre
// (protocol.md "The job"). Parsing is pure (bytes in, Job or Status out);
// validation of the field rules is in validation.h.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/status.h"

namespace cardbureau {

enum class JobKind { kReissue, kNew };
enum class Gender { kMale, kFemale };
enum class SchoolLevel { kPrimary, kJunior, kSenior };
enum class CardType { kMifareClassic1K, kMifareClassic4K };
enum class PhotoFormat { kJpeg, kPng };

std::string_view ToString(JobKind k);      // "reissue" / "new"
std::string_view ToString(Gender g);       // "M" / "F"
std::string_view ToString(SchoolLevel l);  // "primary" / "junior" / "senior"
std::string_view ToString(CardType t);     // "mifare-classic-1k" / "-4k"
std::string_view ToString(PhotoFormat f);  // "jpeg" / "png"
// 'P' / 'J' / 'S' as written into the chip record (tag 09).
char LevelLetter(SchoolLevel l);

struct YearMonth {
  int year = 0;
  int month = 0;
  auto operator<=>(const YearMonth&) const = default;
  std::string ToString() const;  // "YYYY-MM"
};

struct Student {
  std::string name;  // UTF-8
  Gender gender = Gender::kMale;
  std::string education_id;  // 8 ASCII digits
  std::string student_no;    // G/L/J + 18 chars
  SchoolLevel level = SchoolLevel::kPrimary;
  YearMonth graduation;
};

struct School {
  std::string code;  // 8-12 digits
  std::string name;
  std::string district;  // optional, may be empty
};

struct CardSpec {
  std::string card_no;                   // 10-20 digits
  std::optional<CivilDate> valid_until;  // derived when absent (see Validate)
  std::string template_name = "bjt-student";
  CardType card_type = CardType::kMifareClassic1K;
};

struct PhotoSpec {
  PhotoFormat format = PhotoFormat::kJpeg;
  std::string sha256;  // 64 lower-case hex (normalised at parse)
};

struct Replaces {
  std::string card_no;
  std::string uid;  // upper-case hex, may be empty
};

struct Job {
  std::string job_id;
  JobKind kind = JobKind::kNew;
  std::string confirmed_at;  // as sent (ISO 8601)
  Student student;
  School school;
  CardSpec card;
  PhotoSpec photo;
  std::optional<Replaces> replaces;

  // valid_until after validation (always set on a validated job).
  CivilDate ValidUntil() const { return card.valid_until.value_or(CivilDate{}); }
};

// Largest job JSON frame accepted (the photo travels in its own frame).
inline constexpr size_t kMaxJobJsonBytes = 64 * 1024;
// Largest photo accepted (protocol.md: at most 2 MiB).
inline constexpr size_t kMaxPhotoBytes = 2 * 1024 * 1024;

// Parses frame 0 of a `job` message (or a job file). Pure; thread-safe.
// Checks structure and types only (that fields exist with the right JSON
// type, "type" == "job", "v" == 1); the field rules are Validate()'s job.
// Errors: INPUT_TOO_LARGE, INVALID_JSON (malformed / wrong type / missing
// field, with the field path), UNSUPPORTED_VERSION, UNKNOWN_TYPE,
// INVALID_FIELD (an enum string that is not one of the allowed values).
Result<Job> ParseJob(std::string_view json_text);
Result<Job> ParseJobJson(const nlohmann::json& j);

// Serialises a job back to protocol v1 JSON (type "job", v 1). Round-trips
// through ParseJob.
nlohmann::json JobToJson(const Job& job);
std::string JobToJsonString(const Job& job);

}  // namespace cardbureau
