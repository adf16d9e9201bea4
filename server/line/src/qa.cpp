#include "cardbureau/line/qa.h"

namespace cardbureau::line {

std::string QaResult::chip_text() const { return chip.ok() ? "ok" : std::string(chip.code_name()); }
std::string QaResult::face_text() const { return face.ok() ? "ok" : std::string(face.code_name()); }

layout::QrClaims ClaimsFor(const encoder::StudentRecord& record, ByteView uid) {
  layout::QrClaims c;
  c.eid = record.education_id;
  c.cno = record.card_no;
  c.sch = record.school_code;
  c.exp = record.valid_until.ToCompact();
  c.uid = ToHex(uid);
  c.seq = record.issue_sequence;
  return c;
}

Status CheckFaceAgainstChip(std::string_view qr_payload, const layout::QrVerifier& verifier,
                            const encoder::StudentRecord& record, ByteView uid,
                            layout::QrClaims* claims_out) {
  CB_ASSIGN_OR_RETURN(layout::QrClaims claims, verifier.Verify(qr_payload));
  if (claims_out) *claims_out = claims;
  const layout::QrClaims want = ClaimsFor(record, uid);
  if (claims.uid != want.uid) {
    return Status(Code::kVerifyMismatch,
                  "the QR names UID " + claims.uid + " but the chip is " + want.uid, "qr.uid");
  }
  struct Field {
    const char* name;
    const std::string& got;
    const std::string& want;
  };
  for (const Field& f : {Field{"eid", claims.eid, want.eid}, Field{"cno", claims.cno, want.cno},
                         Field{"sch", claims.sch, want.sch}, Field{"exp", claims.exp, want.exp}}) {
    if (f.got != f.want) {
      return Status(Code::kVerifyMismatch,
                    std::string("QR claim ") + f.name + " differs from the chip record",
                    std::string("qr.") + f.name);
    }
  }
  if (claims.seq != want.seq) {
    return Status(Code::kVerifyMismatch, "QR issue sequence differs from the chip record",
                  "qr.seq");
  }
  return Status::Ok();
}

Result<QaResult> VerifyCard(devices::CardChannel& channel, const cv::Mat& front,
                            const encoder::KeySet& keys, const layout::QrVerifier& verifier,
                            const Job* expected) {
  CB_ASSIGN_OR_RETURN(encoder::CardReport report, encoder::ReadCard(channel, &keys));
  QaResult qa;
  qa.uid = report.uid;
  if (!report.mad_status.ok()) {
    qa.chip = report.mad_status;
  } else if (!report.record_status.ok()) {
    qa.chip = report.record_status;
  } else if (!report.record || !report.mac_status) {
    qa.chip = Status(Code::kInternal, "record read without a MAC check");
  } else if (!report.mac_status->ok()) {
    qa.chip = *report.mac_status;
  } else {
    qa.record = report.record->record;
    if (expected &&
        (qa.record->job_id != expected->job_id || qa.record->card_no != expected->card.card_no ||
         qa.record->education_id != expected->student.education_id)) {
      qa.chip = Status(Code::kVerifyMismatch, "the chip holds another job's record", "record");
    }
  }

  auto payload = layout::DecodeQrFromImage(front);
  if (!payload.ok()) {
    qa.face = payload.status();
  } else if (!qa.record) {
    // No trustworthy chip record to compare with; still check the signature.
    auto claims = verifier.Verify(*payload);
    qa.face = claims.ok() ? Status(Code::kVerifyMismatch, "no chip record to compare the QR with")
                          : claims.status();
    if (claims.ok()) qa.claims = *claims;
  } else {
    layout::QrClaims claims;
    qa.face = CheckFaceAgainstChip(*payload, verifier, *qa.record, qa.uid, &claims);
    if (qa.face.ok() || qa.face.code() == Code::kVerifyMismatch) qa.claims = claims;
  }
  return qa;
}

}  // namespace cardbureau::line
