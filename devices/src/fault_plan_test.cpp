#include "cardbureau/devices/fault_plan.h"

#include <gtest/gtest.h>

namespace cardbureau::devices {
namespace {

TEST(FaultPlanTest, ParsesFullSpec) {
  auto plan = ParseFaultPlan("pull-after=12,fail-auth=3,drop-write=5,dead-sector=9,delay=on");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->pull_after_apdu, 12);
  EXPECT_EQ(plan->fail_auth, 3);
  EXPECT_EQ(plan->drop_write, 5);
  EXPECT_EQ(plan->dead_sector, 9);
  EXPECT_TRUE(plan->delay);
  EXPECT_EQ(FaultPlanToString(*plan),
            "pull-after=12,fail-auth=3,drop-write=5,dead-sector=9,delay=on");
}

TEST(FaultPlanTest, EmptyAndPartial) {
  auto empty = ParseFaultPlan("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, FaultPlan{});
  EXPECT_EQ(FaultPlanToString(*empty), "");
  auto one = ParseFaultPlan("dead-sector=0");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->dead_sector, 0);
  EXPECT_FALSE(one->pull_after_apdu.has_value());
  auto off = ParseFaultPlan("delay=off,drop-write=1");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->delay);
  EXPECT_EQ(off->drop_write, 1);
}

TEST(FaultPlanTest, RejectsMalformedSpecs) {
  for (const char* bad :
       {"pull-after", "pull-after=", "pull-after=0", "pull-after=-1", "pull-after=1x",
        "fail-auth=3,fail-auth=4", "delay=yes", "bogus=1", "drop-write=2,", ",drop-write=2",
        "dead-sector=-1", "=3", "pull-after=99999999999999"}) {
    auto r = ParseFaultPlan(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidConfig) << bad;
  }
}

}  // namespace
}  // namespace cardbureau::devices
