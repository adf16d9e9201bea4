#pragma once

// TEST-ONLY crash points for the deterministic crash test
// (tests/line/step_crash_test.cpp). NEVER set in production.
//
//   CARDBUREAU_TEST_CRASH_AT=<step>[:<n>]
//
// makes the process kill itself (SIGKILL, no clean-up, no flush) right after
// the n-th time (default the first) a card passes the named step of
// Line::ProduceOne (FeedCard, RecordAttempt, EncodeChip, ComposeFace,
// CheckFace, PrintFaces, WriteProductionRecord, AdvanceEncodedAndPrinted,
// QaAfterPrinting, Finish) or RejectCard (a card fault recorded). That is
// right after the step's store write, if it has one. The variable is read
// once; when it is unset (or empty) a crash point is a string compare
// against an empty name and does nothing.

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>

namespace cardbureau::line {

struct CrashPointTarget {
  std::string step;  // empty: no crash point armed
  int nth = 1;
};

inline CrashPointTarget ReadCrashPointTarget() {
  CrashPointTarget t;
  const char* env = std::getenv("CARDBUREAU_TEST_CRASH_AT");
  if (env == nullptr || *env == '\0') return t;
  const std::string_view v(env);
  const auto colon = v.find(':');
  t.step = std::string(v.substr(0, colon));
  if (colon != std::string_view::npos) {
    const int n = std::atoi(std::string(v.substr(colon + 1)).c_str());
    t.nth = n > 0 ? n : 1;
  }
  return t;
}

inline void CrashPointForTests(std::string_view step) {
  static const CrashPointTarget target = ReadCrashPointTarget();
  if (target.step.empty() || step != target.step) return;
  static std::atomic<int> seen{0};
  if (seen.fetch_add(1) + 1 == target.nth) std::raise(SIGKILL);
}

}  // namespace cardbureau::line
