#include "cardbureau/core/clock.h"

#include <cstdio>

namespace cardbureau {
namespace {
bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool ParseDigits(std::string_view s, int& out) {
  if (s.empty()) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}
constexpr auto kBeijingOffset = std::chrono::hours(8);
}  // namespace

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  if (month == 2 && IsLeap(year)) return 29;
  return kDays[month - 1];
}

bool CivilDate::IsValid() const {
  return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 &&
         day <= DaysInMonth(year, month);
}

std::string CivilDate::ToIso() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  return buf;
}

std::string CivilDate::ToCompact() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d", year, month, day);
  return buf;
}

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t CivilDate::ToDays() const {
  int64_t y = year - (month <= 2 ? 1 : 0);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t mp = (month + 9) % 12;
  int64_t doy = (153 * mp + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate CivilDate::FromDays(int64_t z) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int>(y + (m <= 2 ? 1 : 0)), static_cast<int>(m),
                   static_cast<int>(d)};
}

std::optional<CivilDate> ParseIsoDate(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  CivilDate d;
  if (!ParseDigits(t.substr(0, 4), d.year) || !ParseDigits(t.substr(5, 2), d.month) ||
      !ParseDigits(t.substr(8, 2), d.day) || !d.IsValid()) {
    return std::nullopt;
  }
  return d;
}

std::optional<CivilDate> ParseCompactDate(std::string_view t) {
  if (t.size() != 8) return std::nullopt;
  CivilDate d;
  if (!ParseDigits(t.substr(0, 4), d.year) || !ParseDigits(t.substr(4, 2), d.month) ||
      !ParseDigits(t.substr(6, 2), d.day) || !d.IsValid()) {
    return std::nullopt;
  }
  return d;
}

CivilDate Clock::TodayBeijing() const {
  auto secs =
      std::chrono::duration_cast<std::chrono::seconds>((Now() + kBeijingOffset).time_since_epoch());
  int64_t days = secs.count() / 86400;
  if (secs.count() < 0 && secs.count() % 86400 != 0) --days;
  return CivilDate::FromDays(days);
}

std::string FormatIsoBeijing(std::chrono::system_clock::time_point t) {
  auto secs =
      std::chrono::duration_cast<std::chrono::seconds>((t + kBeijingOffset).time_since_epoch())
          .count();
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  CivilDate d = CivilDate::FromDays(days);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d+08:00", d.ToIso().c_str(),
                static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
                static_cast<int>(rem % 60));
  return buf;
}

std::string Clock::NowIsoBeijing() const { return FormatIsoBeijing(Now()); }

const SystemClock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

ManualClock ManualClock::AtBeijingDate(CivilDate d) {
  // 12:00 Beijing = 04:00 UTC.
  auto tp =
      std::chrono::system_clock::time_point(std::chrono::seconds(d.ToDays() * 86400 + 4 * 3600));
  return ManualClock(tp);
}

}  // namespace cardbureau
