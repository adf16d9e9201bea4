// Subcommands provided by the layout module.
#pragma once

#include <vector>

#include "cardbureau/core/command.h"

namespace cardbureau::layout {
std::vector<Command> Commands();
}  // namespace cardbureau::layout
