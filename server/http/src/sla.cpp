#include "cardbureau/http/sla.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/clock.h"

namespace cardbureau::http {

namespace {

constexpr int64_t kBeijingOffsetS = 8 * 3600;
// An age is counted at most this far back (a broken confirmed_at must not spin).
constexpr int64_t kMaxSpanDays = 3660;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

Status Bad(const std::string& field, const std::string& what) {
  return Status(Code::kInvalidConfig, "sla policy: " + field + " " + what, field);
}

Status ReadDays(const nlohmann::json& j, const std::string& key, std::set<int64_t>& out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  if (!it->is_array()) return Bad(key, "must be an array of \"YYYY-MM-DD\" dates");
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    const std::string field = key + "[" + std::to_string(i) + "]";
    if (!v.is_string()) return Bad(field, "must be a \"YYYY-MM-DD\" date");
    auto d = ParseIsoDate(v.get<std::string>());
    if (!d) return Bad(field, "is not a date (YYYY-MM-DD)");
    out.insert(d->ToDays());
  }
  return Status::Ok();
}

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

Result<SlaPolicy> LoadSlaPolicy(const std::filesystem::path& file) {
  SlaPolicy p;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return p;
  std::ifstream in(file);
  if (!in) return Status(Code::kIoError, "cannot read " + file.string());
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(Code::kInvalidJson, file.string() + " is not a JSON object");
  }
  for (const auto& [k, v] : j.items()) {
    (void)v;
    if (k != "working_days" && k != "flag_share" && k != "holidays" && k != "working_weekends" &&
        k != "note") {
      return Bad(k,
                 "is not a known key (working_days, flag_share, holidays, working_weekends, "
                 "note)");
    }
  }
  if (auto it = j.find("working_days"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 365) {
      return Bad("working_days", "must be an integer from 1 to 365");
    }
    p.working_days = it->get<int>();
  }
  if (auto it = j.find("flag_share"); it != j.end()) {
    if (!it->is_number() || it->get<double>() <= 0 || it->get<double>() > 1) {
      return Bad("flag_share", "must be a number above 0 and at most 1");
    }
    p.flag_share = it->get<double>();
  }
  CB_RETURN_IF_ERROR(ReadDays(j, "holidays", p.holidays));
  CB_RETURN_IF_ERROR(ReadDays(j, "working_weekends", p.working_weekends));
  for (int64_t d : p.working_weekends) {
    if (p.holidays.count(d)) {
      return Bad("working_weekends", CivilDate::FromDays(d).ToIso() + " is also a holiday");
    }
  }
  p.source = file.string();
  return p;
}

bool IsWorkingDay(const SlaPolicy& policy, int64_t day) {
  if (policy.holidays.count(day)) return false;
  if (policy.working_weekends.count(day)) return true;
  // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
  const int64_t weekday = ((day + 3) % 7 + 7) % 7;  // 0 Monday .. 6 Sunday
  return weekday < 5;
}

int64_t WorkingDaysBetween(const SlaPolicy& policy, int64_t from_day, int64_t to_day) {
  if (to_day <= from_day) return 0;
  from_day = std::max(from_day, to_day - kMaxSpanDays);
  int64_t n = 0;
  for (int64_t d = from_day + 1; d <= to_day; ++d) n += IsWorkingDay(policy, d) ? 1 : 0;
  return n;
}

int64_t FlagAfterDays(const SlaPolicy& policy) {
  const double v = std::ceil(policy.working_days * policy.flag_share - 1e-9);
  return std::max<int64_t>(1, static_cast<int64_t>(v));
}

int64_t BeijingDayOfMs(int64_t unix_ms) {
  return FloorDiv(FloorDiv(unix_ms, 1000) + kBeijingOffsetS, 86400);
}

std::optional<int64_t> BeijingDayOf(std::string_view s) {
  auto date = ParseIsoDate(s.substr(0, 10));
  if (!date) return std::nullopt;
  if (s.size() == 10) return date->ToDays();  // a date is a Beijing date
  if (s[10] != 'T' && s[10] != ' ') return std::nullopt;
  int hh = 0, mm = 0, ss = 0;
  if (!Digits(s, 11, 2, hh) || s.size() < 17 || s[13] != ':' || !Digits(s, 14, 2, mm)) {
    return std::nullopt;
  }
  size_t pos = 16;
  if (pos < s.size() && s[pos] == ':') {
    if (!Digits(s, pos + 1, 2, ss)) return std::nullopt;
    pos += 3;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    }
  }
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  int64_t offset_s = 0;
  const std::string_view zone = s.substr(pos);
  if (zone == "Z") {
    offset_s = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh = 0, om = 0;
    if (!Digits(zone, 1, 2, oh) || !Digits(zone, 4, 2, om) || oh > 14 || om > 59) {
      return std::nullopt;
    }
    offset_s = (zone[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;  // a time without a zone is ambiguous
  }
  const int64_t utc_s = date->ToDays() * 86400 + hh * 3600 + mm * 60 + ss - offset_s;
  return FloorDiv(utc_s + kBeijingOffsetS, 86400);
}

}  // namespace cardbureau::http
