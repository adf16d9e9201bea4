// The production line's wiring into the executable: the `serve` hooks
// (`--production line`, and the intake validator with layout's glyph and
// photo checks) and the `verify` QA command.
#pragma once

#include <memory>
#include <vector>

#include "cardbureau/core/command.h"
#include "cardbureau/line/line.h"
#include "cardbureau/line/line_config.h"
#include "cardbureau/server/commands.h"

namespace cardbureau::line {

// Stations as configured (printers, readers, their hoppers).
// `stock_serial_file` (when not empty): the sim printers' shared stock
// serial counter, so every sim card of the data dir has its own UID
// (devices::NextStockUid keyed by `bureau`).
Result<std::vector<StationSetup>> BuildStations(const LineConfig& config,
                                                const std::filesystem::path& stock_serial_file = {},
                                                const std::string& bureau = {});

// The intake validator: core's field rules with the template's font chain
// (UNRENDERABLE_GLYPH), photo bytes, face detection and quality gates, and
// a trial render (names that do not fit are INVALID_FIELD at intake, not a
// failure in production). Thread-safe (serialised internally).
server::JobValidator MakeIntakeValidator(const Clock& clock);

// hooks.productions["line"] (reads DATA/line.json) and hooks.validator.
server::ServeHooks MakeServeHooks();

// QA against the store (`verify --data`): OK when the store binds `uid` to
// `job_id`'s card and that card is not voided; DUPLICATE_UID when the UID
// is not the one bound to the job (one card UID, one live job),
// VERIFY_MISMATCH for a voided card, NOT_FOUND without a store or job.
Status CheckUidBinding(const std::filesystem::path& data_dir, const std::string& job_id,
                       const std::string& uid);

// `verify`, and `validate` running MakeIntakeValidator (replaces core's).
std::vector<Command> Commands();

}  // namespace cardbureau::line
