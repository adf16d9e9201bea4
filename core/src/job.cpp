#include "cardbureau/core/job.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace cardbureau {
namespace {

using json = nlohmann::json;

Status TypeError(const std::string& path, std::string_view want) {
  return Status(Code::kInvalidJson, "must be a JSON " + std::string(want), path);
}

// Reads a required string member.
Result<std::string> GetString(const json& obj, const std::string& key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status(Code::kInvalidJson, "is required", path);
  if (!it->is_string()) return TypeError(path, "string");
  return it->get<std::string>();
}

Result<std::optional<std::string>> GetOptString(const json& obj, const std::string& key,
                                                const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return TypeError(path, "string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<const json*> GetObject(const json& obj, const std::string& key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status(Code::kInvalidJson, "is required", path);
  if (!it->is_object()) return TypeError(path, "object");
  return &*it;
}

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

template <typename E, size_t N>
Result<E> ParseEnum(const std::string& s, const EnumName<E> (&table)[N], const std::string& path) {
  for (const auto& e : table) {
    if (e.name == s) return e.value;
  }
  std::string allowed;
  for (const auto& e : table) {
    if (!allowed.empty()) allowed += ", ";
    allowed += e.name;
  }
  return Status(Code::kInvalidField, "must be one of: " + allowed, path);
}

constexpr EnumName<JobKind> kKinds[] = {{JobKind::kReissue, "reissue"}, {JobKind::kNew, "new"}};
constexpr EnumName<Gender> kGenders[] = {{Gender::kMale, "M"}, {Gender::kFemale, "F"}};
constexpr EnumName<SchoolLevel> kLevels[] = {{SchoolLevel::kPrimary, "primary"},
                                             {SchoolLevel::kJunior, "junior"},
                                             {SchoolLevel::kSenior, "senior"}};
constexpr EnumName<CardType> kCardTypes[] = {{CardType::kMifareClassic1K, "mifare-classic-1k"},
                                             {CardType::kMifareClassic4K, "mifare-classic-4k"}};
constexpr EnumName<PhotoFormat> kFormats[] = {{PhotoFormat::kJpeg, "jpeg"},
                                              {PhotoFormat::kPng, "png"}};

bool ParseDigitsN(std::string_view s, int& out) {
  if (s.empty()) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string_view ToString(JobKind k) { return k == JobKind::kReissue ? "reissue" : "new"; }
std::string_view ToString(Gender g) { return g == Gender::kMale ? "M" : "F"; }
std::string_view ToString(SchoolLevel l) {
  switch (l) {
    case SchoolLevel::kPrimary:
      return "primary";
    case SchoolLevel::kJunior:
      return "junior";
    case SchoolLevel::kSenior:
      return "senior";
  }
  return "primary";
}
std::string_view ToString(CardType t) {
  return t == CardType::kMifareClassic1K ? "mifare-classic-1k" : "mifare-classic-4k";
}
std::string_view ToString(PhotoFormat f) { return f == PhotoFormat::kJpeg ? "jpeg" : "png"; }
char LevelLetter(SchoolLevel l) {
  switch (l) {
    case SchoolLevel::kPrimary:
      return 'P';
    case SchoolLevel::kJunior:
      return 'J';
    case SchoolLevel::kSenior:
      return 'S';
  }
  return 'P';
}

std::string YearMonth::ToString() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d", year, month);
  return buf;
}

Result<Job> ParseJob(std::string_view text) {
  if (text.size() > kMaxJobJsonBytes) {
    return Status(Code::kInputTooLarge, "job JSON is " + std::to_string(text.size()) +
                                            " bytes; limit is " + std::to_string(kMaxJobJsonBytes));
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(Code::kInvalidJson, "job is not well-formed JSON");
  return ParseJobJson(j);
}

Result<Job> ParseJobJson(const json& j) {
  if (!j.is_object()) return Status(Code::kInvalidJson, "job must be a JSON object");
  // Envelope: "type" (when present) must be "job"; "v" (when present) must be 1.
  if (auto it = j.find("type"); it != j.end()) {
    if (!it->is_string()) return TypeError("type", "string");
    if (it->get<std::string>() != "job") {
      return Status(Code::kUnknownType, "expected type \"job\"", "type");
    }
  }
  if (auto it = j.find("v"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() != 1) {
      return Status(Code::kUnsupportedVersion, "only protocol version 1 is supported", "v");
    }
  }

  Job job;
  CB_ASSIGN_OR_RETURN(job.job_id, GetString(j, "job_id", "job_id"));
  CB_ASSIGN_OR_RETURN(std::string kind, GetString(j, "kind", "kind"));
  CB_ASSIGN_OR_RETURN(job.kind, ParseEnum(kind, kKinds, "kind"));
  CB_ASSIGN_OR_RETURN(auto confirmed, GetOptString(j, "confirmed_at", "confirmed_at"));
  job.confirmed_at = confirmed.value_or("");

  CB_ASSIGN_OR_RETURN(const json* st, GetObject(j, "student", "student"));
  CB_ASSIGN_OR_RETURN(job.student.name, GetString(*st, "name", "student.name"));
  CB_ASSIGN_OR_RETURN(std::string gender, GetString(*st, "gender", "student.gender"));
  CB_ASSIGN_OR_RETURN(job.student.gender, ParseEnum(gender, kGenders, "student.gender"));
  CB_ASSIGN_OR_RETURN(job.student.education_id,
                      GetString(*st, "education_id", "student.education_id"));
  CB_ASSIGN_OR_RETURN(job.student.student_no, GetString(*st, "student_no", "student.student_no"));
  CB_ASSIGN_OR_RETURN(std::string level, GetString(*st, "level", "student.level"));
  CB_ASSIGN_OR_RETURN(job.student.level, ParseEnum(level, kLevels, "student.level"));
  CB_ASSIGN_OR_RETURN(std::string grad, GetString(*st, "graduation", "student.graduation"));
  {
    YearMonth ym;
    if (grad.size() != 7 || grad[4] != '-' || !ParseDigitsN(grad.substr(0, 4), ym.year) ||
        !ParseDigitsN(grad.substr(5, 2), ym.month) || ym.month < 1 || ym.month > 12 ||
        ym.year < 1) {
      return Status(Code::kInvalidField, "must be YYYY-MM", "student.graduation");
    }
    job.student.graduation = ym;
  }

  CB_ASSIGN_OR_RETURN(const json* sc, GetObject(j, "school", "school"));
  CB_ASSIGN_OR_RETURN(job.school.code, GetString(*sc, "code", "school.code"));
  CB_ASSIGN_OR_RETURN(job.school.name, GetString(*sc, "name", "school.name"));
  CB_ASSIGN_OR_RETURN(auto district, GetOptString(*sc, "district", "school.district"));
  job.school.district = district.value_or("");

  CB_ASSIGN_OR_RETURN(const json* cd, GetObject(j, "card", "card"));
  CB_ASSIGN_OR_RETURN(job.card.card_no, GetString(*cd, "card_no", "card.card_no"));
  CB_ASSIGN_OR_RETURN(auto valid_until, GetOptString(*cd, "valid_until", "card.valid_until"));
  if (valid_until) {
    auto d = ParseIsoDate(*valid_until);
    if (!d)
      return Status(Code::kInvalidField, "must be a real date YYYY-MM-DD", "card.valid_until");
    job.card.valid_until = *d;
  }
  CB_ASSIGN_OR_RETURN(auto tmpl, GetOptString(*cd, "template", "card.template"));
  if (tmpl) job.card.template_name = *tmpl;
  CB_ASSIGN_OR_RETURN(std::string ctype, GetString(*cd, "card_type", "card.card_type"));
  CB_ASSIGN_OR_RETURN(job.card.card_type, ParseEnum(ctype, kCardTypes, "card.card_type"));

  CB_ASSIGN_OR_RETURN(const json* ph, GetObject(j, "photo", "photo"));
  CB_ASSIGN_OR_RETURN(std::string fmt, GetString(*ph, "format", "photo.format"));
  CB_ASSIGN_OR_RETURN(job.photo.format, ParseEnum(fmt, kFormats, "photo.format"));
  CB_ASSIGN_OR_RETURN(job.photo.sha256, GetString(*ph, "sha256", "photo.sha256"));
  for (char& c : job.photo.sha256) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }

  if (auto it = j.find("replaces"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return TypeError("replaces", "object");
    Replaces r;
    CB_ASSIGN_OR_RETURN(r.card_no, GetString(*it, "card_no", "replaces.card_no"));
    CB_ASSIGN_OR_RETURN(auto uid, GetOptString(*it, "uid", "replaces.uid"));
    r.uid = uid.value_or("");
    job.replaces = std::move(r);
  }
  return job;
}

json JobToJson(const Job& job) {
  json j;
  j["type"] = "job";
  j["v"] = 1;
  j["job_id"] = job.job_id;
  j["kind"] = ToString(job.kind);
  if (!job.confirmed_at.empty()) j["confirmed_at"] = job.confirmed_at;
  j["student"] = {{"name", job.student.name},
                  {"gender", ToString(job.student.gender)},
                  {"education_id", job.student.education_id},
                  {"student_no", job.student.student_no},
                  {"level", ToString(job.student.level)},
                  {"graduation", job.student.graduation.ToString()}};
  j["school"] = {{"code", job.school.code}, {"name", job.school.name}};
  if (!job.school.district.empty()) j["school"]["district"] = job.school.district;
  j["card"] = {{"card_no", job.card.card_no},
               {"template", job.card.template_name},
               {"card_type", ToString(job.card.card_type)}};
  if (job.card.valid_until) j["card"]["valid_until"] = job.card.valid_until->ToIso();
  j["photo"] = {{"format", ToString(job.photo.format)}, {"sha256", job.photo.sha256}};
  if (job.replaces) {
    j["replaces"] = {{"card_no", job.replaces->card_no}};
    if (!job.replaces->uid.empty()) j["replaces"]["uid"] = job.replaces->uid;
  }
  return j;
}

std::string JobToJsonString(const Job& job) { return JobToJson(job).dump(); }

}  // namespace cardbureau
