// Injected time. Everything that depends on "now" (expiry rules, retries,
// heartbeats, retention) takes a Clock so tests can fix or advance it.
#pragma once

#include <chrono>
#include <compare>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cardbureau {

// A calendar date (proleptic Gregorian). Plain value type.
struct CivilDate {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31

  auto operator<=>(const CivilDate&) const = default;
  bool operator==(const CivilDate&) const = default;

  bool IsValid() const;
  // "YYYY-MM-DD".
  std::string ToIso() const;
  // "YYYYMMDD".
  std::string ToCompact() const;
  // Days since 1970-01-01.
  int64_t ToDays() const;
  static CivilDate FromDays(int64_t days);
};

// Strict "YYYY-MM-DD" with a real calendar date; nullopt otherwise.
std::optional<CivilDate> ParseIsoDate(std::string_view text);
// Strict "YYYYMMDD".
std::optional<CivilDate> ParseCompactDate(std::string_view text);
int DaysInMonth(int year, int month);

class Clock {
 public:
  virtual ~Clock() = default;
  // Thread-safe.
  virtual std::chrono::system_clock::time_point Now() const = 0;

  // Today's date in China Standard Time (UTC+8, no DST): the centre's and
  // the bureau's civil day.
  CivilDate TodayBeijing() const;
  // ISO 8601 with +08:00 offset, seconds precision.
  std::string NowIsoBeijing() const;
};

// The wall clock.
class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  static const SystemClock& Instance();
};

// A clock tests set and advance by hand. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point t) : now_(t) {}
  // Midday Beijing time of the given date.
  static ManualClock AtBeijingDate(CivilDate d);
  std::chrono::system_clock::time_point Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Set(std::chrono::system_clock::time_point t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  void Advance(std::chrono::system_clock::duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point now_;
};

// ISO 8601 with +08:00 of a time point.
std::string FormatIsoBeijing(std::chrono::system_clock::time_point t);

}  // namespace cardbureau
