// Personalizer: writes a job's student record into the student sectors of a
// MIFARE Classic card, in the tear-safe, resumable order of card-format.md
// "Write order", and verifies it. Also the APDU-count model of that order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/devices/mifare_layout.h"
#include "cardbureau/encoder/keys.h"
#include "cardbureau/encoder/sector_plan.h"
#include "cardbureau/encoder/student_record.h"

namespace cardbureau::encoder {

struct PersonalizerConfig {
  AidConfig aids;
  // Largest record accepted (RECORD_TOO_LARGE above it); the standard stock
  // holds 240 bytes.
  size_t max_record_bytes = kStandardRecordCapacity;
};

struct EncodeParams {
  CivilDate issued_on;         // tag 08
  uint8_t issue_sequence = 1;  // 1 for a new card, +1 per reissue
};

enum class EncodeKind {
  kWritten,      // a blank card, personalized from scratch
  kResumed,      // a card partly written by an earlier attempt, finished
  kAlreadyDone,  // the card already held this job's complete record
};
std::string_view ToString(EncodeKind kind);  // "written" / "resumed" / "already-done"

struct EncodeOutcome {
  Bytes uid;
  devices::CardSize size = devices::CardSize::k1K;
  EncodeKind kind = EncodeKind::kWritten;
  int apdus = 0;  // APDUs sent in this call
  std::vector<int> student_sectors;
  StudentRecord record;  // as read back from the card and MAC-verified
};

// Called with the card's UID right after it is read, before anything is
// written: a non-OK status stops Encode with that status (the line's stock
// check: STOCK_UNKNOWN / STOCK_USED / STOCK_WRONG_TYPE).
using UidCheck = std::function<Status(ByteView uid)>;

// Holds a copy of the master keys. Encode is const and keeps no state
// between calls: one Personalizer may be shared by many station threads,
// each with its own channel.
class Personalizer {
 public:
  explicit Personalizer(KeySet keys, PersonalizerConfig config = {});

  // Encodes `job` (already validated) onto the card behind `channel`, then
  // reads the whole record back and checks its MAC. Safe to call again on
  // the same card after any failure (a pulled card, a lost write): a
  // partial record of any job is overwritten (the magic is written last of
  // all, so a partial record never looks valid), a complete record of THIS
  // job is accepted (kAlreadyDone) or finished (kResumed).
  // Never authenticates or writes block 0 or a sector the MAD does not give
  // to the student AID (enforced before any APDU is built).
  // Errors: RECORD_TOO_LARGE (before any APDU), CARD_STOCK_INVALID (ATR not
  // MIFARE Classic or not the job's card_type — both before any APDU —, MAD
  // CRC, too few student sectors),
  // CARD_ALREADY_PERSONALIZED (a complete record of another job, or one
  // whose MAC does not verify), AUTH_FAILED (no key opens a student sector,
  // or the new key B does not), VERIFY_MISMATCH (a read-back differs, the
  // final MAC fails), CARD_REMOVED / READER_UNAVAILABLE / READER_ERROR /
  // PROTOCOL_ERROR / CARD_ERROR from the channel (a card pulled mid-APDU
  // may surface as any of the first four, depending on the reader).
  // `check_uid` (when set) vets the UID before the first write.
  Result<EncodeOutcome> Encode(devices::CardChannel& channel, const Job& job,
                               const EncodeParams& params, const UidCheck& check_uid = {}) const;

  const PersonalizerConfig& config() const { return config_; }

 private:
  KeySet keys_;
  PersonalizerConfig config_;
};

// The lowest APDU count the specified write order allows for a blank card
// with `student_sectors` sectors of `data_blocks_per_sector` data blocks:
// get UID; load MAD key, authenticate and read MAD1 (+ MAD2 on 4K); load the
// transport key once; per sector load key B, the key-B attempt, the
// transport key-A authentication, each data block written and read back,
// the trailer, the new key-B authentication and every data block read back.
int MinimumApdusForBlankCard(devices::CardSize size, int student_sectors,
                             int data_blocks_per_sector);

}  // namespace cardbureau::encoder
