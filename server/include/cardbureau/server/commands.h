// Subcommands provided by the server module.
#pragma once

#include <vector>

#include "cardbureau/core/command.h"

namespace cardbureau::server {
std::vector<Command> Commands();
}  // namespace cardbureau::server
