// `cardbureau stock`: card stock lots (issue 21, server/stock.h).
//   stock import  --data DIR LOT.csv [--lot L]     load an operator's lot manifest
//   stock report  --data DIR [--lot L] [--json]    per lot: received, produced,
//                                                  spoiled, remaining
//   stock spoiled --data DIR --since DATE          spoiled UIDs as CSV (blocking list)
//   stock sim-lot --data DIR --count N [--type 1k|4k] [--bureau ID] [--lot L] [--out FILE]
//                                                  a lot file of the sim printers' next cards
// Exit codes: 0 ok, 1 input refused (the code is named), 2 usage, 3 runtime.
#pragma once

#include <string>

#include "cardbureau/core/status.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::line {

int RunStock(int argc, char** argv);

// The lot report as `stock report` prints it (text or JSON).
std::string FormatStockReport(const std::vector<server::StockLotReport>& lots, bool json);

}  // namespace cardbureau::line
