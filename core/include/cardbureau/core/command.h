// Subcommands of the `cardbureau` executable. Each module exposes its
// commands through a `Commands()` function; main.cpp only dispatches.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace cardbureau {

struct Command {
  std::string name;     // "validate"
  std::string summary;  // one line for `cardbureau --help`
  // argv[0] is the command name. Returns the process exit code.
  std::function<int(int argc, char** argv)> run;
};

namespace core {
// validate
std::vector<Command> Commands();
}  // namespace core

}  // namespace cardbureau
