// The reissue SLA: about 20 working days from the centre's confirmation
// (`confirmed_at`) to hand-out. Working days exclude weekends and the public
// holidays of the policy file DATA/sla.json (docs/dashboard.md "SLA"),
// which may also name weekend days that are worked (make-up days).
// Days are civil days in Beijing time (UTC+8, no DST), counted as days since
// 1970-01-01 (CivilDate::ToDays).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "cardbureau/core/status.h"

namespace cardbureau::http {

struct SlaPolicy {
  int working_days = 20;               // the SLA
  double flag_share = 0.75;            // flag a job at this share of the SLA
  std::set<int64_t> holidays;          // days off that fall on weekdays (or any day)
  std::set<int64_t> working_weekends;  // weekend days that are worked
  std::string source = "weekends only (no DATA/sla.json)";
};

// Reads the policy file. A missing file is the default policy (weekends
// only); a file that exists but is wrong is INVALID_CONFIG naming the field
// (e.g. "holidays[3]"), or INVALID_JSON.
Result<SlaPolicy> LoadSlaPolicy(const std::filesystem::path& file);

bool IsWorkingDay(const SlaPolicy& policy, int64_t day);
// Working days d with from_day < d <= to_day (0 when to_day <= from_day):
// confirmed on a Friday, the next Monday is 1 working day old.
int64_t WorkingDaysBetween(const SlaPolicy& policy, int64_t from_day, int64_t to_day);
// ceil(working_days * flag_share), at least 1.
int64_t FlagAfterDays(const SlaPolicy& policy);

// The Beijing civil day of an ISO 8601 time ("2026-11-20T10:04:00+08:00",
// "...Z", fractional seconds allowed) or date ("2026-11-20"); nullopt when
// it does not parse.
std::optional<int64_t> BeijingDayOf(std::string_view iso8601);
int64_t BeijingDayOfMs(int64_t unix_ms);

}  // namespace cardbureau::http
