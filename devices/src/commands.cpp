#include "cardbureau/devices/commands.h"

namespace cardbureau::devices {
std::vector<Command> Commands() { return {}; }
}  // namespace cardbureau::devices
