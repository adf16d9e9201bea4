// Subcommands provided by the http module (added to `cardbureau` by
// server/app/main.cpp):
//   audit verify --data DIR       check the dashboard audit trail's hash chain
//   dashboard-token --name N --role R   make a bearer token + its file entry
//   dashboard-demo [...]          serve the dashboard over a simulated line
//                                 (FakeBackend), for demos and the browser test
#pragma once

#include <vector>

#include "cardbureau/core/command.h"

namespace cardbureau::http {

std::vector<Command> Commands();

// The `dashboard-demo` command's body (argv[0] = command name), also used by
// the cardbureau_http_demo_server test binary.
int RunDashboardDemo(int argc, char** argv);

}  // namespace cardbureau::http
