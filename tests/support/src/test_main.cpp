// The main() of every cardbureau GoogleTest binary (cb_add_test links it
// instead of GTest::gtest_main). Skips are made visible to ctest:
//   - some test failed            -> exit 1 (ctest: Failed)
//   - a test skipped, CI=true     -> exit 1, the skipped tests are listed:
//                                    CI runs as root with every package
//                                    installed, so nothing may skip there
//   - a test skipped, not CI      -> exit 77 (ctest SKIP_RETURN_CODE: the
//                                    binary shows as "Skipped", not "Passed")
//   - otherwise                   -> exit 0
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::strcmp(ci, "true") == 0 || std::strcmp(ci, "1") == 0);
}

int SkippedTests(bool print) {
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  int skipped = 0;
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) {
      const ::testing::TestInfo& info = *suite.GetTestInfo(t);
      if (info.should_run() && info.result()->Skipped()) {
        ++skipped;
        if (print) std::printf("  skipped: %s.%s\n", suite.name(), info.name());
      }
    }
  }
  return skipped;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  if (rc != 0) return rc;
  if (SkippedTests(false) == 0) return 0;
  if (InCi()) {
    std::printf("FAILED: CI=true and these tests skipped (nothing may skip in CI):\n");
    SkippedTests(true);
    return 1;
  }
  std::printf("SKIPPED (exit 77 for ctest):\n");
  SkippedTests(true);
  return 77;
}
