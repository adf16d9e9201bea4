// Subcommands provided by the encoder module.
#pragma once

#include <vector>

#include "cardbureau/core/command.h"

namespace cardbureau::encoder {
std::vector<Command> Commands();
}  // namespace cardbureau::encoder
