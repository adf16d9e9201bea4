#include "cardbureau/server/commands.h"

namespace cardbureau::server {
std::vector<Command> Commands() { return {}; }
}  // namespace cardbureau::server
