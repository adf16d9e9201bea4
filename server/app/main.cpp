// cardbureau: the bureau's one executable. Only dispatches subcommands; every
// command lives in its module (core, devices, encoder, layout, server).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cardbureau/core/command.h"
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
  for (auto* group : {&cardbureau::core::Commands, &cardbureau::layout::Commands,
                      &cardbureau::devices::Commands, &cardbureau::encoder::Commands,
                      &cardbureau::line::Commands, &cardbureau::http::Commands}) {
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
               "       cardbureau <command> --help\n\n"
               "Commands:\n");
  for (const auto& c : commands) {
    std::fprintf(out, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
  }
  std::fprintf(out,
               "\nExit codes: 0 success, 1 the input was refused (the message "
               "names the error code), 2 usage error, 3 runtime failure.\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto commands = AllCommands();
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    PrintUsage(commands, stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("cardbureau %s\n", CARDBUREAU_VERSION);
    return 0;
  }
  for (const auto& c : commands) {
    if (c.name == argv[1]) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "cardbureau: unknown command '%s'\n\n", argv[1]);
  PrintUsage(commands, stderr);
  return 2;
}
