// Runs one subcommand in-process through a module's Command table (the
// same functions main.cpp dispatches to), for tests that check a command's
// exit code and output without starting the executable
// (cardbureau/testing/process.h runs the real executable). Header-only.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cardbureau/core/command.h"
#include "cardbureau/core/stop.h"

namespace cardbureau::testing {

// Runs `name args...` from `commands`; the command's exit code, -1 (and a
// test failure) when no command has that name. A stop request an earlier
// test left (a SIGTERM it sent) is cleared first.
inline int RunCommand(const std::vector<Command>& commands, const std::string& name,
                      std::vector<std::string> args) {
  ClearStopRequest();
  for (const Command& c : commands) {
    if (c.name != name) continue;
    args.insert(args.begin(), name);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return c.run(static_cast<int>(args.size()), argv.data());
  }
  ADD_FAILURE() << "no command " << name;
  return -1;
}

}  // namespace cardbureau::testing
