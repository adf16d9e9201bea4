#include "cardbureau/line/scan_qa.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cardbureau::line {

bool ScanQaResult::ok() const {
  if (!scan.ok() || !chip.chip.ok() || fields.empty()) return false;
  for (const auto& f : fields) {
    if (!f.pass) return false;
  }
  return true;
}

std::vector<std::string> ScanQaResult::FailureLines() const {
  std::vector<std::string> out;
  if (!chip.chip.ok()) out.push_back("chip: " + chip.chip.ToString());
  if (!scan.ok()) out.push_back(scan.ToString());
  for (const auto& f : fields) {
    if (!f.pass) out.push_back("VERIFY_MISMATCH face." + f.field + ": " + f.detail);
  }
  return out;
}

nlohmann::json ScanQaResult::ToJson() const {
  nlohmann::json j = {{"uid", ToHex(chip.uid)}, {"chip", chip.chip_text()}, {"ok", ok()}};
  if (!chip.chip.ok()) j["chip_message"] = chip.chip.message();
  if (chip.record) j["job_id"] = chip.record->job_id;
  if (!scan.ok()) {
    j["scan"] = std::string(scan.code_name());
    j["scan_message"] = scan.message();
  } else {
    j["scan"] = "ok";
  }
  nlohmann::json fs = nlohmann::json::array();
  for (const auto& f : fields) {
    nlohmann::json e = {{"field", f.field},
                        {"score", f.score},
                        {"threshold", f.threshold},
                        {"verdict", f.pass ? "pass" : "fail"}};
    if (!f.pass) e["detail"] = f.detail;
    fs.push_back(e);
  }
  j["fields"] = fs;
  j["failures"] = FailureLines();
  return j;
}

std::string ScanQaResult::Table() const {
  std::ostringstream o;
  o << "UID   " << ToHex(chip.uid) << "\n";
  o << "chip  "
    << (chip.chip.ok()
            ? "OK (record MAC verifies" + (chip.record ? ", job " + chip.record->job_id : "") + ")"
            : chip.chip.ToString())
    << "\n";
  if (!scan.ok()) o << "scan  " << scan.ToString() << "\n";
  if (!fields.empty()) {
    o << "field          score  threshold  verdict\n";
    for (const auto& f : fields) {
      char line[128];
      std::snprintf(line, sizeof line, "%-13s %6.3f  %9.3f  %s\n", f.field.c_str(), f.score,
                    f.threshold, f.pass ? "pass" : "FAIL");
      o << line;
    }
  }
  o << (ok() ? "PASS" : "FAIL") << "\n";
  return o.str();
}

Result<ScanQaResult> VerifyScan(devices::CardChannel& channel, const cv::Mat& capture,
                                const encoder::KeySet& keys, const layout::QrVerifier& verifier,
                                layout::CardRenderer& renderer, const Job& job, ByteView photo) {
  ScanQaResult out;
  CB_ASSIGN_OR_RETURN(layout::PreparedCard expected, renderer.Prepare(job, photo));
  auto cmp = layout::CompareScan(capture, renderer, expected);
  if (!cmp.ok() && cmp.status().code() != Code::kScanUnusable) return cmp.status();
  cv::Mat face = cmp.ok() ? cmp->scan.card : capture;
  // The chip, and the QR the rectified face carries (zbar) against it.
  CB_ASSIGN_OR_RETURN(out.chip, VerifyCard(channel, face, keys, verifier, &job));
  if (!cmp.ok()) {
    out.scan = cmp.status();
    return out;
  }
  // OpenCV's detector may have read the QR where zbar on the face did not.
  if (out.chip.face.code() == Code::kQrUnreadable && !cmp->qr_payload.empty() && out.chip.record) {
    layout::QrClaims claims;
    out.chip.face =
        CheckFaceAgainstChip(cmp->qr_payload, verifier, *out.chip.record, out.chip.uid, &claims);
  }
  out.fields = cmp->fields;
  layout::FieldVerdict qr;
  qr.field = "qr";
  qr.pass = out.chip.face.ok();
  qr.score = qr.pass ? 0 : 1;
  qr.threshold = 0;
  if (!qr.pass) qr.detail = out.chip.face.ToString();
  out.fields.push_back(qr);
  return out;
}

}  // namespace cardbureau::line
