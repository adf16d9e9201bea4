#include "cardbureau/core/clock.h"

#include <gtest/gtest.h>

namespace cardbureau {
namespace {

TEST(CivilDateTest, ParseAndCalendar) {
  EXPECT_EQ(ParseIsoDate("2028-09-30"), (CivilDate{2028, 9, 30}));
  EXPECT_FALSE(ParseIsoDate("2028-09-31"));
  EXPECT_TRUE(ParseIsoDate("2028-02-29"));   // leap
  EXPECT_FALSE(ParseIsoDate("2027-02-29"));  // not leap
  EXPECT_FALSE(ParseIsoDate("2100-02-29"));  // century, not leap
  EXPECT_TRUE(ParseIsoDate("2000-02-29"));
  EXPECT_FALSE(ParseIsoDate("2028-9-30"));
  EXPECT_FALSE(ParseIsoDate("2028/09/30"));
  EXPECT_EQ(ParseCompactDate("20100101"), (CivilDate{2010, 1, 1}));
  EXPECT_FALSE(ParseCompactDate("20101301"));
}

TEST(CivilDateTest, DaysRoundTrip) {
  EXPECT_EQ((CivilDate{1970, 1, 1}).ToDays(), 0);
  for (int64_t d = -1000; d < 40000; d += 37) {
    EXPECT_EQ(CivilDate::FromDays(d).ToDays(), d);
  }
}

TEST(ClockTest, BeijingDayChangesAt16Utc) {
  // 2026-11-24T15:59:59Z is 23:59:59 Beijing; one second later is the 25th.
  CivilDate day{2026, 11, 24};
  auto t = std::chrono::system_clock::time_point(
      std::chrono::seconds(day.ToDays() * 86400 + 15 * 3600 + 59 * 60 + 59));
  ManualClock clock(t);
  EXPECT_EQ(clock.TodayBeijing(), (CivilDate{2026, 11, 24}));
  EXPECT_EQ(clock.NowIsoBeijing(), "2026-11-24T23:59:59+08:00");
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(clock.TodayBeijing(), (CivilDate{2026, 11, 25}));
}

TEST(ClockTest, AtBeijingDate) {
  auto c = ManualClock::AtBeijingDate({2026, 11, 25});
  EXPECT_EQ(c.TodayBeijing(), (CivilDate{2026, 11, 25}));
}

}  // namespace
}  // namespace cardbureau
