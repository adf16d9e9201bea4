// `cardbureau validate` with the bureau's own intake check plugged in.
#pragma once

#include <functional>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/command.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"

namespace cardbureau::core {

// What `serve` runs on a job and its photo before accepting it (the line's
// MakeIntakeValidator: field rules with the font chain's glyph coverage,
// photo bytes, decode, face count, size, light, blur, a trial layout).
using IntakeCheck = std::function<Status(Job& job, ByteView photo, const Clock& clock)>;

// `cardbureau validate`. With `check`, `--photo` runs it (the same outcome
// as serve); without, the field rules and the photo frame's bytes only
// (core::Commands(); the executable registers the line's version).
Command MakeValidateCommand(IntakeCheck check);

}  // namespace cardbureau::core
