// The SLA's working-day arithmetic and its policy file (docs/dashboard.md "SLA").
#include "cardbureau/http/sla.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "cardbureau/core/clock.h"

namespace cardbureau::http {
namespace {

int64_t Day(const char* iso) { return ParseIsoDate(iso)->ToDays(); }

TEST(Sla, WeekendsAreNotWorkingDays) {
  SlaPolicy p;
  EXPECT_TRUE(IsWorkingDay(p, Day("2026-11-20")));   // Friday
  EXPECT_FALSE(IsWorkingDay(p, Day("2026-11-21")));  // Saturday
  EXPECT_FALSE(IsWorkingDay(p, Day("2026-11-22")));  // Sunday
  EXPECT_TRUE(IsWorkingDay(p, Day("2026-11-23")));   // Monday
  EXPECT_FALSE(IsWorkingDay(p, Day("1970-01-03")));  // Saturday
  EXPECT_TRUE(IsWorkingDay(p, Day("1970-01-01")));   // Thursday
}

TEST(Sla, CountsDaysAfterConfirmationUpToToday) {
  SlaPolicy p;
  // Confirmed on Friday: 0 that day, still 0 over the weekend, 1 on Monday.
  EXPECT_EQ(WorkingDaysBetween(p, Day("2026-11-20"), Day("2026-11-20")), 0);
  EXPECT_EQ(WorkingDaysBetween(p, Day("2026-11-20"), Day("2026-11-22")), 0);
  EXPECT_EQ(WorkingDaysBetween(p, Day("2026-11-20"), Day("2026-11-23")), 1);
  // Four full weeks are 20 working days.
  EXPECT_EQ(WorkingDaysBetween(p, Day("2026-11-20"), Day("2026-12-18")), 20);
  // Backwards (a clock or a confirmation in the future) is 0, not negative.
  EXPECT_EQ(WorkingDaysBetween(p, Day("2026-12-18"), Day("2026-11-20")), 0);
}

TEST(Sla, HolidaysAndMakeUpDays) {
  SlaPolicy p;
  // National Day week off; the Saturday after it is worked.
  for (int d = 1; d <= 7; ++d) p.holidays.insert(Day("2026-10-01") + d - 1);
  p.working_weekends.insert(Day("2026-10-10"));
  EXPECT_FALSE(IsWorkingDay(p, Day("2026-10-01")));  // Thursday, holiday
  EXPECT_TRUE(IsWorkingDay(p, Day("2026-10-10")));   // Saturday, worked
  // Confirmed Wed 30 Sep: Thu 1 .. Wed 7 off, Thu 8, Fri 9, Sat 10 (worked), Mon 12.
  EXPECT_EQ(WorkingDaysBetween(p, Day("2026-09-30"), Day("2026-10-07")), 0);
  EXPECT_EQ(WorkingDaysBetween(p, Day("2026-09-30"), Day("2026-10-12")), 4);
}

TEST(Sla, FlagThreshold) {
  SlaPolicy p;
  EXPECT_EQ(FlagAfterDays(p), 15);  // 20 x 0.75
  p.flag_share = 0.8;
  EXPECT_EQ(FlagAfterDays(p), 16);
  p.working_days = 7;
  p.flag_share = 0.5;
  EXPECT_EQ(FlagAfterDays(p), 4);  // 3.5 rounds up
  p.flag_share = 0.01;
  EXPECT_EQ(FlagAfterDays(p), 1);
}

TEST(Sla, BeijingDayOfTimestamps) {
  EXPECT_EQ(BeijingDayOf("2026-11-20T10:04:00+08:00"), Day("2026-11-20"));
  // 23:30 UTC is already the next day in Beijing.
  EXPECT_EQ(BeijingDayOf("2026-11-20T23:30:00Z"), Day("2026-11-21"));
  EXPECT_EQ(BeijingDayOf("2026-11-20T15:59:59.250Z"), Day("2026-11-20"));
  EXPECT_EQ(BeijingDayOf("2026-11-20T20:00:00-05:00"), Day("2026-11-21"));
  EXPECT_EQ(BeijingDayOf("2026-11-20"), Day("2026-11-20"));
  EXPECT_FALSE(BeijingDayOf("2026-11-20T10:04:00"));  // no zone
  EXPECT_FALSE(BeijingDayOf("2026-02-30T10:04:00Z"));
  EXPECT_FALSE(BeijingDayOf("yesterday"));
  EXPECT_FALSE(BeijingDayOf(""));
  EXPECT_EQ(BeijingDayOfMs(0), 0);
  EXPECT_EQ(BeijingDayOfMs(16LL * 3600 * 1000), 1);  // 16:00 UTC = midnight Beijing
  EXPECT_EQ(BeijingDayOfMs(-1), 0);                  // 07:59:59.999 Beijing, 1970-01-01
}

class SlaFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cb-sla-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path Write(const std::string& text) {
    const auto p = dir_ / "sla.json";
    std::ofstream(p) << text;
    return p;
  }
  std::filesystem::path dir_;
};

TEST_F(SlaFile, MissingFileIsWeekendsOnly) {
  auto p = LoadSlaPolicy(dir_ / "absent.json");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->working_days, 20);
  EXPECT_TRUE(p->holidays.empty());
}

TEST_F(SlaFile, ReadsThePolicy) {
  auto p = LoadSlaPolicy(Write(
      R"({"working_days": 10, "flag_share": 0.5, "holidays": ["2026-10-01", "2026-10-02"],
          "working_weekends": ["2026-10-10"], "note": "example"})"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->working_days, 10);
  EXPECT_DOUBLE_EQ(p->flag_share, 0.5);
  EXPECT_EQ(p->holidays.size(), 2u);
  EXPECT_TRUE(IsWorkingDay(*p, Day("2026-10-10")));
  EXPECT_EQ(FlagAfterDays(*p), 5);
}

TEST_F(SlaFile, RefusesABadFileNamingTheField) {
  auto bad_date = LoadSlaPolicy(Write(R"({"holidays": ["2026-10-01", "2026-13-01"]})"));
  ASSERT_FALSE(bad_date.ok());
  EXPECT_EQ(bad_date.status().code(), Code::kInvalidConfig);
  EXPECT_EQ(bad_date.status().field(), "holidays[1]");
  auto share = LoadSlaPolicy(Write(R"({"flag_share": 1.5})"));
  ASSERT_FALSE(share.ok());
  EXPECT_EQ(share.status().field(), "flag_share");
  auto unknown = LoadSlaPolicy(Write(R"({"holiday": []})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().field(), "holiday");
  auto both =
      LoadSlaPolicy(Write(R"({"holidays": ["2026-10-10"], "working_weekends": ["2026-10-10"]})"));
  ASSERT_FALSE(both.ok());
  auto json = LoadSlaPolicy(Write("{not json"));
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), Code::kInvalidJson);
}

}  // namespace
}  // namespace cardbureau::http
