// The production line's configuration: DATA/line.json for `cardbureau serve
// --production line` (docs/config.md, "Production line").
//
//   {"keys": "path/to/keystore.json",          // relative to this file
//    "template": "bjt-student", "profile": "evolis-300",
//    "render_threads": 1, "max_tries": 3, "station_failure_limit": 3,
//    "card_wait_ms": 5000, "batches_dir": "batches", "direct_io": true,
//    "stock": {"required": true, "low_level": 100},  // card stock lots (issue 21)
//    "stations": [
//      {"name": "st-1", "printer": "sim", "reader": "loopback",
//       "hopper": "hopper/st-1", "seed": 1000, "time_per_card_ms": 0,
//       "vpcd_port": 35963,   // optional: insert through vpcd, read with "pcsc:Virtual PCD 00 00"
//       "card_types": ["mifare-classic-1k", "mifare-classic-4k"],
//       "faults": {"jam_feed": [3], "jam_print": [7], "ribbon_after": 40,
//                  "cards": {"5": "pull-after=12"}}},
//      {"name": "st-2", "printer": "hotfolder", "dir": "spool/st-2", "reader": "loopback"},
//      {"name": "st-3", "printer": "cups", "queue": "evolis", "server": "localhost",
//       "port": 631, "reader": "pcsc:OMNIKEY 5422 00 00"}]}
//
// Parsing is pure; every error is INVALID_CONFIG naming the key.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/fault_plan.h"

namespace cardbureau::line {

struct StationConfig {
  std::string name;
  std::string printer = "sim";      // sim | hotfolder | cups
  std::string reader = "loopback";  // loopback | pcsc:<reader name>
  std::filesystem::path hopper;     // sim: hopper folder
  std::filesystem::path dir;        // hotfolder: spool folder
  std::string queue;                // cups
  std::string server = "localhost";
  int port = 631;
  int vpcd_port = 0;  // sim: insert cards through vpcd on this port (0 = loopback slot)
  uint64_t seed = 1;
  int time_per_card_ms = 0;
  int ribbon_prints = 10000;  // sim: prints on its ribbon (the station tile's gauge)
  int card_stock = 10000;     // sim: blank cards in its input hopper
  std::set<CardType> card_types = {CardType::kMifareClassic1K, CardType::kMifareClassic4K};
  std::set<int> jam_feed, jam_print;
  std::optional<int> ribbon_after;
  std::map<int, devices::FaultPlan> card_faults;
};

struct LineConfig {
  std::filesystem::path keys;
  std::string template_name = "bjt-student";
  std::string profile = "evolis-300";
  int render_threads = 1;
  int max_tries = 3;
  int station_failure_limit = 3;
  int card_wait_ms = 5000;
  std::filesystem::path batches_dir = "batches";
  bool direct_io = true;  // layout::OutputOptions::direct_io for the card outputs
  // Card stock lots: every card at the encoder must be an unused card of an
  // imported lot of the job's type (STOCK_UNKNOWN / STOCK_USED /
  // STOCK_WRONG_TYPE otherwise). false: a store with no lot imported lets
  // every card through, as before lots existed.
  bool stock_required = true;
  // The dashboard warns when a card type has fewer unused cards than this.
  int stock_low_level = 100;
  std::vector<StationConfig> stations;
};

// Relative paths are resolved against `base_dir`.
Result<LineConfig> ParseLineConfig(std::string_view json_text,
                                   const std::filesystem::path& base_dir);
Result<LineConfig> LoadLineConfig(const std::filesystem::path& path);

}  // namespace cardbureau::line
