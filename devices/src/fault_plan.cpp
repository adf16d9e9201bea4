#include "cardbureau/devices/fault_plan.h"

#include <charconv>
#include <set>

namespace cardbureau::devices {
namespace {

Result<int> ParseCount(std::string_view key, std::string_view value, int min) {
  int n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min) {
    return Status(Code::kInvalidConfig,
                  std::string(key) + " needs a whole number >= " + std::to_string(min), "faults");
  }
  return n;
}

}  // namespace

Result<FaultPlan> ParseFaultPlan(std::string_view spec) {
  FaultPlan plan;
  std::set<std::string_view> seen;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (comma != std::string_view::npos && spec.empty()) {
      return Status(Code::kInvalidConfig, "trailing ',' in fault spec", "faults");
    }
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status(Code::kInvalidConfig, "fault '" + std::string(item) + "' needs key=value",
                    "faults");
    }
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (!seen.insert(key).second) {
      return Status(Code::kInvalidConfig, "fault '" + std::string(key) + "' given twice", "faults");
    }
    if (key == "pull-after") {
      CB_ASSIGN_OR_RETURN(plan.pull_after_apdu, ParseCount(key, value, 1));
    } else if (key == "fail-auth") {
      CB_ASSIGN_OR_RETURN(plan.fail_auth, ParseCount(key, value, 1));
    } else if (key == "drop-write") {
      CB_ASSIGN_OR_RETURN(plan.drop_write, ParseCount(key, value, 1));
    } else if (key == "dead-sector") {
      CB_ASSIGN_OR_RETURN(plan.dead_sector, ParseCount(key, value, 0));
    } else if (key == "delay") {
      if (value == "on") {
        plan.delay = true;
      } else if (value == "off") {
        plan.delay = false;
      } else {
        return Status(Code::kInvalidConfig, "delay takes on or off", "faults");
      }
    } else {
      return Status(Code::kInvalidConfig, "unknown fault '" + std::string(key) + "'", "faults");
    }
  }
  return plan;
}

std::string FaultPlanToString(const FaultPlan& plan) {
  std::string out;
  auto add = [&out](std::string_view key, const std::string& value) {
    if (!out.empty()) out += ',';
    out += key;
    out += '=';
    out += value;
  };
  if (plan.pull_after_apdu) add("pull-after", std::to_string(*plan.pull_after_apdu));
  if (plan.fail_auth) add("fail-auth", std::to_string(*plan.fail_auth));
  if (plan.drop_write) add("drop-write", std::to_string(*plan.drop_write));
  if (plan.dead_sector) add("dead-sector", std::to_string(*plan.dead_sector));
  if (plan.delay) add("delay", "on");
  return out;
}

}  // namespace cardbureau::devices
