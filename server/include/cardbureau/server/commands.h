// Subcommands provided by the server module: `serve`, `centre`, `keygen`,
// `history`.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardbureau/core/clock.h"
#include "cardbureau/core/command.h"
#include "cardbureau/server/bureau.h"
#include "cardbureau/server/config.h"
#include "cardbureau/server/production.h"

namespace cardbureau::server {

// Makes a production line for `serve --production <name>`. Called once on
// the main thread; `sink` and `config` outlive the returned object.
using ProductionMaker = std::function<Result<std::unique_ptr<Production>>(
    ProductionSink& sink, const ServeConfig& config, const Clock& clock)>;
// Makes the job validator for `serve` (default: CoreJobValidator(clock)).
using ValidatorMaker = std::function<JobValidator(const Clock& clock)>;

// What the executable plugs into `serve` (the lead wires layout/devices here):
//   ServeHooks hooks;
//   hooks.productions["line"] = ...;      // real production line
//   hooks.validator = [](const Clock& c) { ... core + layout photo checks ... };
//   for (auto& c : cardbureau::server::MakeCommands(hooks)) ...
// "fake" (FakeProduction) and "none" (jobs wait in the store) are built in.
// Something that runs beside the bureau for the life of `serve` (the HTTP
// dashboard). Destroyed after Bureau::Run returns (production stopped) and
// before the Bureau and the store.
class Service {
 public:
  virtual ~Service() = default;
};
struct ServeContext {
  const ServeConfig& config;
  JobStore& store;
  Bureau& bureau;  // bureau.production() is the line (or null)
  const Clock& clock;
};
// Makes the `serve --http` dashboard; called on the main thread before Run.
using ServiceMaker = std::function<Result<std::unique_ptr<Service>>(const ServeContext& context)>;

struct ServeHooks {
  std::map<std::string, ProductionMaker> productions;
  ValidatorMaker validator;
  ServiceMaker http;  // null: `--http` is refused (INVALID_CONFIG)
  // After each retention purge (Bureau::SetPurgeHook): forget process-wide
  // copies of the purged jobs' data (the validator's photo-check cache).
  Bureau::PurgeHook on_purge;
};

std::vector<Command> MakeCommands(ServeHooks hooks);
// What `cardbureau history JOB [--json]` prints: every history row of the
// job (JobStore::History). NOT_FOUND for an unknown job.
Result<std::string> FormatHistory(JobStore& store, std::string_view job_id, bool json);
// MakeCommands({}).
std::vector<Command> Commands();

}  // namespace cardbureau::server
