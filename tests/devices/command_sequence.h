// One personalisation-like APDU sequence, run over any CardChannel, so the
// same transcript can be compared across transports (vpcd vs loopback).
#pragma once

#include <string>
#include <vector>

#include "cardbureau/devices/card_channel.h"

namespace cardbureau::devices::testing {

// Runs: get UID; MAD read with the public key; transport auth of student
// sector 7; write/read-back of its data blocks; trailer change to
// personalised keys; re-auth with the new key B; negative cases (wrong key,
// transit sector, block 0 write). Returns "APDU -> response" lines; the
// transport errors, if any, as "APDU -> !CODE".
std::vector<std::string> RunCommandSequence(CardChannel& channel);

}  // namespace cardbureau::devices::testing
