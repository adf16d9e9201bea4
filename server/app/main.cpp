// cardbureau: the bureau's one executable. Only dispatches subcommands; every
// command lives in its module (core, devices, encoder, layout, server).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/command.h"
#include "cardbureau/core/stop.h"
#include "cardbureau/dashboard/commands.h"
#include "cardbureau/dashboard/service.h"
#include "cardbureau/devices/commands.h"
#include "cardbureau/encoder/commands.h"
#include "cardbureau/http/commands.h"
#include "cardbureau/layout/commands.h"
#include "cardbureau/line/commands.h"
#include "cardbureau/server/commands.h"

namespace {

std::vector<cardbureau::Command> AllCommands() {
  std::vector<cardbureau::Command> all;
  for (auto* group :
       {&cardbureau::core::Commands, &cardbureau::layout::Commands, &cardbureau::devices::Commands,
        &cardbureau::encoder::Commands, &cardbureau::line::Commands, &cardbureau::http::Commands,
        &cardbureau::dashboard::Commands}) {
    for (auto& c : group()) {
      // A later module's command replaces an earlier one of the same name
      // (the line's `validate` runs serve's intake check; core's cannot).
      auto same = std::find_if(all.begin(), all.end(),
                               [&](const cardbureau::Command& x) { return x.name == c.name; });
      if (same != all.end()) {
        *same = std::move(c);
      } else {
        all.push_back(std::move(c));
      }
    }
  }
  // serve / centre, with the production line and the full intake validator.
  auto hooks = cardbureau::line::MakeServeHooks();
  hooks.http = cardbureau::dashboard::MakeHttpService;
  for (auto& c : cardbureau::server::MakeCommands(std::move(hooks))) {
    all.push_back(std::move(c));
  }
  return all;
}

void PrintUsage(const std::vector<cardbureau::Command>& commands, FILE* out) {
  std::fprintf(out,
               "cardbureau - smart-card print bureau server\n\n"
               "Usage: cardbureau <command> [options]\n"
               "       cardbureau <command> --help\n"
               "       cardbureau --version\n\n"
               "Commands:\n");
  for (const auto& c : commands) {
    std::fprintf(out, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
  }
  std::fprintf(out,
               "\nExit codes: 0 success, 1 the input was refused (the message "
               "names the error code), 2 usage error, 3 runtime failure.\n\n"
               "Examples:\n"
               "  cardbureau validate fixtures/jobs/valid-junior-reissue.json\n"
               "  cardbureau serve --help\n");
}

}  // namespace

#ifndef CARDBUREAU_GIT_COMMIT
#define CARDBUREAU_GIT_COMMIT "unknown"
#endif

int main(int argc, char** argv) {
  // First of all: a SIGTERM while a command starts up must stop it cleanly,
  // not kill it (core/stop.h).
  cardbureau::InstallStopHandlers();
  // Minors' data at rest: every file the program creates (store, photos,
  // faces, chip images, PDFs, logs it writes) is 0600 and every folder 0700
  // unless `serve` is given a data_group (then 0640 / 2750, docs/config.md).
  ::umask(077);
  auto commands = AllCommands();
  std::vector<std::string> names;
  for (const auto& c : commands) names.push_back(c.name);
  if (argc < 2) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return cardbureau::cli::UsageError("", "a command is required: " + list);
  }
  if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    PrintUsage(commands, stdout);
    return 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    // The git commit is taken when the build was configured (cmake/Packaging.cmake).
    std::printf("cardbureau %s (git %s)\n", CARDBUREAU_VERSION, CARDBUREAU_GIT_COMMIT);
    return 0;
  }
  for (const auto& c : commands) {
    if (c.name != argv[1]) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const std::exception& e) {
      // A backstop, never the plan: commands return Status for every
      // expected failure. No library exception (OpenCV, ZeroMQ, Boost)
      // may abort the process with a core dump instead of an exit code.
      return cardbureau::cli::Fail(
          argv[1], cardbureau::Status(cardbureau::Code::kInternal,
                                      std::string("unexpected error: ") + e.what()));
    }
  }
  // A mistyped command: the closest ones by edit distance, then the Try line.
  std::string problem = std::string("unknown command '") + argv[1] + "'";
  const std::string hint = cardbureau::cli::DidYouMean(argv[1], names);
  if (!hint.empty()) problem += "; " + hint;
  return cardbureau::cli::UsageError("", problem);
}
