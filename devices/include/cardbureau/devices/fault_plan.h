// Fault injection for the virtual MIFARE Classic card.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cardbureau/core/status.h"

namespace cardbureau::devices {

// What the emulated card does wrong. Counters are 1-based and count from
// the moment the plan is installed (construction or SetFaults()).
struct FaultPlan {
  // The N-th APDU is answered normally, then the card leaves the field: every
  // later APDU gets CARD_REMOVED until Insert().
  std::optional<int> pull_after_apdu;
  // The N-th authenticate fails with 63 00 although the key is right.
  std::optional<int> fail_auth;
  // The N-th update is answered 90 00 but not stored.
  std::optional<int> drop_write;
  // Every authentication to this sector fails with 63 00.
  std::optional<int> dead_sector;
  // Sleep per operation like the NXP datasheet's timings (select/get UID
  // 2.5 ms, authenticate 2 ms, read 2.5 ms, write 5.5 ms).
  bool delay = false;

  friend bool operator==(const FaultPlan&, const FaultPlan&) = default;
};

// Parses "pull-after=12,fail-auth=3,drop-write=5,dead-sector=9,delay=on".
// Keys may appear in any order, each at most once; numbers are decimal and
// >= 1 (dead-sector >= 0); delay takes on|off. The empty string is the empty
// plan. INVALID_CONFIG on anything else. Pure, thread-safe.
Result<FaultPlan> ParseFaultPlan(std::string_view spec);
// The inverse of ParseFaultPlan ("" for the empty plan).
std::string FaultPlanToString(const FaultPlan& plan);

}  // namespace cardbureau::devices
