// QA of a produced card: the chip record's MAC verifies, the QR on the face
// decodes and its signature verifies, the QR's uid equals the chip's UID and
// its claims equal the chip record. Used by `cardbureau verify` and by the
// production line on every card before it reports `completed`.
#pragma once

#include <opencv2/core.hpp>
#include <optional>

#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/encoder/card_reader.h"
#include "cardbureau/encoder/keys.h"
#include "cardbureau/encoder/student_record.h"
#include "cardbureau/layout/qr.h"

namespace cardbureau::line {

struct QaResult {
  Bytes uid;
  // OK, or why the chip fails: NOT_FOUND (no record), VERIFY_MISMATCH (MAC or
  // content), AUTH_FAILED, CARD_STOCK_INVALID ...
  Status chip;
  // OK, or why the face fails: QR_UNREADABLE, INVALID_SIGNATURE,
  // VERIFY_MISMATCH (uid or claims differ from the chip).
  Status face;
  std::optional<encoder::StudentRecord> record;
  std::optional<layout::QrClaims> claims;
  bool ok() const { return chip.ok() && face.ok(); }
  // "ok" or the code name, as sent in the `completed` report's qa object.
  std::string chip_text() const;
  std::string face_text() const;
};

// The QR claims the chip record implies for `uid`.
layout::QrClaims ClaimsFor(const encoder::StudentRecord& record, ByteView uid);

// Checks a face's QR payload against a chip record read from `uid`. Pure.
Status CheckFaceAgainstChip(std::string_view qr_payload, const layout::QrVerifier& verifier,
                            const encoder::StudentRecord& record, ByteView uid,
                            layout::QrClaims* claims_out = nullptr);

// Reads the card behind `channel` (never writes) and checks it and the face
// image `front` (BGR raster or a scan). With `expected`, the chip record
// must also be that job's (job_id, card_no, education_id). Transport errors
// (CARD_REMOVED, READER_UNAVAILABLE ...) come back as the Result's status.
Result<QaResult> VerifyCard(devices::CardChannel& channel, const cv::Mat& front,
                            const encoder::KeySet& keys, const layout::QrVerifier& verifier,
                            const Job* expected = nullptr);

}  // namespace cardbureau::line
