#include "cardbureau/layout/commands.h"

namespace cardbureau::layout {
std::vector<Command> Commands() { return {}; }
}  // namespace cardbureau::layout
