// The dashboard module's subcommands: `audit verify --data DIR` over the
// bureau's store (the audit trail's head lives in bureau.db). main.cpp
// registers them after http::Commands(), so this `audit` replaces the
// http module's (which knows only the head file of a store-less
// `dashboard-demo` data dir; this one falls back to it when DIR has no
// bureau.db).
#pragma once

#include <vector>

#include "cardbureau/core/command.h"

namespace cardbureau::dashboard {

std::vector<Command> Commands();

}  // namespace cardbureau::dashboard
