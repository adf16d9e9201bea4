// The QA read of a card: UID, MAD, the sector roles, the decoded student
// record and whether its MAC verifies. Sectors that are not the bureau's
// (transit, free, other) are listed but never authenticated or read.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/devices/mifare_layout.h"
#include "cardbureau/encoder/keys.h"
#include "cardbureau/encoder/sector_plan.h"
#include "cardbureau/encoder/student_record.h"

namespace cardbureau::encoder {

enum class StudentSectorState {
  kPersonalized,  // opened with the diversified key A
  kTransport,     // opened with the transport key A
  kUnreadable,    // neither key opens it
};
std::string_view ToString(StudentSectorState s);  // "personalized", ...

struct SectorReport {
  int sector = 0;
  uint16_t aid = 0;
  SectorRole role = SectorRole::kOther;
  // Student sectors only.
  std::optional<StudentSectorState> state;
};

struct CardReport {
  Bytes uid;
  devices::CardSize size = devices::CardSize::k1K;
  // OK, or why the MAD could not be used (CARD_STOCK_INVALID, AUTH_FAILED);
  // nothing beyond the MAD is read then.
  Status mad_status;
  std::vector<SectorReport> sectors;  // every sector, when the MAD is good
  // The record: NOT_FOUND when there is no magic (blank / partial),
  // INVALID_FIELD / UNSUPPORTED_VERSION when it does not parse, AUTH_FAILED
  // when a student sector could not be read.
  Status record_status;
  std::optional<ParsedRecord> record;
  // Only with keys and a parsed record: OK or VERIFY_MISMATCH.
  std::optional<Status> mac_status;
  int apdus = 0;
};

// Reads the card behind `channel`. With `keys`, student sectors are opened
// with their diversified key A (else the transport key) and the MAC is
// checked; without, only the transport key is tried and the MAC is not
// checked. Never writes. Not thread-safe per channel; reentrant.
// Errors (as Result): CARD_STOCK_INVALID for an ATR that is not MIFARE
// Classic 1K/4K, transport errors (CARD_REMOVED, READER_*), CARD_ERROR.
// Card-content problems are reported inside CardReport.
Result<CardReport> ReadCard(devices::CardChannel& channel, const KeySet* keys,
                            const AidConfig& aids = {});

// The report as JSON (record fields included: the operator's terminal is
// the destination, never a log). Key bytes never appear.
nlohmann::json CardReportToJson(const CardReport& report);

}  // namespace cardbureau::encoder
