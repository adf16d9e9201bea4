#include "cardbureau/encoder/commands.h"

namespace cardbureau::encoder {
std::vector<Command> Commands() { return {}; }
}  // namespace cardbureau::encoder
