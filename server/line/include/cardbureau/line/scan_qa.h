// QA of the printed card from a photo or scan of its front (docs/qa.md):
// the chip as `verify` reads it, the QR decoded from the capture and checked
// against the chip, and the face compared field by field with the face
// re-rendered for the chip's job (layout/scan.h). Used by
// `cardbureau verify --scan`.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/card_channel.h"
#include "cardbureau/encoder/keys.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/qr.h"
#include "cardbureau/layout/scan.h"
#include "cardbureau/line/qa.h"

namespace cardbureau::line {

struct ScanQaResult {
  QaResult chip;  // chip verdict (chip), uid, record; chip.face: the QR verdict
  // Every face field (name ... photo) and "qr", in the table's order.
  std::vector<layout::FieldVerdict> fields;
  // SCAN_UNUSABLE when the capture cannot be judged (fields then empty).
  Status scan;
  bool ok() const;
  // "VERIFY_MISMATCH face.<field>: <detail>" per failing field; the chip's
  // or the scan's status when they fail.
  std::vector<std::string> FailureLines() const;
  nlohmann::json ToJson() const;
  std::string Table() const;  // field, score, threshold, verdict + PASS/FAIL
};

// Reads the chip behind `channel` (never writes), checks it against `job`
// (the job the chip must carry), decodes and checks the QR of `capture`
// against the chip, and compares `capture` with `job`'s front rendered by
// `renderer` from `photo`. Transport errors come back as the Result's
// status; render errors (the job's photo or text) as theirs.
Result<ScanQaResult> VerifyScan(devices::CardChannel& channel, const cv::Mat& capture,
                                const encoder::KeySet& keys, const layout::QrVerifier& verifier,
                                layout::CardRenderer& renderer, const Job& job, ByteView photo);

// `cardbureau verify --scan ...` (scan_verify_command.cpp; RunVerify hands
// over when --scan is given). Returns the exit code.
int RunVerifyScan(int argc, char** argv);

}  // namespace cardbureau::line
