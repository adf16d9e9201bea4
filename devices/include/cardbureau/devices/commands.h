// Subcommands provided by the devices module.
#pragma once

#include <vector>

#include "cardbureau/core/command.h"

namespace cardbureau::devices {
std::vector<Command> Commands();
}  // namespace cardbureau::devices
