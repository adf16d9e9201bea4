#include "cardbureau/encoder/card_reader.h"

#include <nlohmann/json.hpp>

#include "card_session.h"
#include "cardbureau/encoder/diversify.h"

namespace cardbureau::encoder {

std::string_view ToString(StudentSectorState s) {
  switch (s) {
    case StudentSectorState::kPersonalized:
      return "personalized";
    case StudentSectorState::kTransport:
      return "transport";
    case StudentSectorState::kUnreadable:
      return "unreadable";
  }
  return "unreadable";
}

namespace {

bool IsTransportError(const Status& s) {
  return s.code() == Code::kCardRemoved || s.code() == Code::kReaderUnavailable ||
         s.code() == Code::kReaderError;
}

}  // namespace

Result<CardReport> ReadCard(devices::CardChannel& channel, const KeySet* keys,
                            const AidConfig& aids) {
  CB_ASSIGN_OR_RETURN(devices::CardSize size, CardSizeFromAtr(channel.Atr()));
  CardSession s(channel);
  CardReport report;
  report.size = size;
  CB_ASSIGN_OR_RETURN(report.uid, s.GetUid());

  auto mad = ReadMad(s, size);
  if (!mad.ok()) {
    if (IsTransportError(mad.status())) return mad.status();
    report.mad_status = mad.status();
    report.apdus = s.apdu_count();
    return report;
  }
  auto plan = SectorPlan::FromMad(*mad, aids);
  if (!plan.ok()) report.mad_status = plan.status();
  for (size_t sector = 0; sector < mad->aid.size(); ++sector) {
    SectorReport sr;
    sr.sector = static_cast<int>(sector);
    sr.aid = mad->aid[sector];
    sr.role = plan.ok() ? plan->RoleOf(sr.sector)
              : (sector == 0 || (size == devices::CardSize::k4K && sector == 16))
                  ? SectorRole::kMad
                  : SectorRole::kOther;
    report.sectors.push_back(sr);
  }
  if (!plan.ok()) {
    report.apdus = s.apdu_count();
    return report;
  }
  s.SetPlan(&*plan);

  std::optional<AesKey> mac_key;
  if (keys != nullptr) {
    CB_ASSIGN_OR_RETURN(mac_key, DeriveMacKey(*keys, report.uid, aids.student_aid));
  }
  CB_RETURN_IF_ERROR(s.LoadKey(kSlotTransport, TransportKey()));
  Bytes area;
  report.record_status = Status::Ok();
  for (int sector : plan->student_sectors()) {
    StudentSectorState state = StudentSectorState::kUnreadable;
    Status opened(Code::kAuthFailed, "not tried");
    if (keys != nullptr) {
      CB_ASSIGN_OR_RETURN(MifareKey key_a, DeriveKeyA(*keys, report.uid, aids.student_aid,
                                                      static_cast<uint8_t>(sector)));
      CB_RETURN_IF_ERROR(s.LoadKey(kSlotSectorKey, key_a));
      opened = s.Authenticate(sector, devices::KeyType::kA, kSlotSectorKey);
      if (opened.ok()) state = StudentSectorState::kPersonalized;
    }
    if (!opened.ok()) {
      if (IsTransportError(opened)) return opened;
      opened = s.Authenticate(sector, devices::KeyType::kA, kSlotTransport);
      if (opened.ok()) state = StudentSectorState::kTransport;
      if (IsTransportError(opened)) return opened;
    }
    for (auto& sr : report.sectors) {
      if (sr.sector == sector) sr.state = state;
    }
    if (state == StudentSectorState::kUnreadable) {
      if (report.record_status.ok()) {
        report.record_status =
            Status(Code::kAuthFailed, "sector " + std::to_string(sector) + " could not be opened");
      }
      continue;
    }
    for (int block : plan->DataBlocksOf(sector)) {
      CB_ASSIGN_OR_RETURN(Bytes data, s.ReadBlock(block));
      area.insert(area.end(), data.begin(), data.end());
    }
  }
  if (report.record_status.ok()) {
    auto parsed = ParseRecord(area);
    if (!parsed.ok()) {
      report.record_status = parsed.status();
    } else {
      if (mac_key) report.mac_status = VerifyRecordMac(area, *parsed, report.uid, *mac_key);
      report.record = std::move(*parsed);
    }
  }
  report.apdus = s.apdu_count();
  return report;
}

nlohmann::json CardReportToJson(const CardReport& r) {
  using nlohmann::json;
  json j;
  j["uid"] = ToHex(r.uid);
  j["card_type"] = r.size == devices::CardSize::k1K ? "mifare-classic-1k" : "mifare-classic-4k";
  j["mad"] = r.mad_status.ok() ? json("OK") : json(r.mad_status.ToString());
  json sectors = json::array();
  for (const SectorReport& s : r.sectors) {
    json e;
    e["sector"] = s.sector;
    char aid[8];
    std::snprintf(aid, sizeof aid, "%04X", s.aid);
    e["aid"] = aid;
    e["role"] = std::string(ToString(s.role));
    if (s.state) {
      e["state"] = std::string(ToString(*s.state));
    } else if (s.role != SectorRole::kMad) {
      e["state"] = "not ours, not touched";
    }
    sectors.push_back(e);
  }
  j["sectors"] = sectors;
  j["record_status"] = r.record_status.ok() ? json("OK") : json(r.record_status.ToString());
  if (r.record) {
    const StudentRecord& rec = r.record->record;
    j["record"] = {
        {"version", r.record->version},
        {"issue_sequence", rec.issue_sequence},
        {"education_id", rec.education_id},
        {"student_no", rec.student_no},
        {"name", rec.name},
        {"gender", std::string(1, rec.gender)},
        {"school_code", rec.school_code},
        {"card_no", rec.card_no},
        {"valid_until", rec.valid_until.ToIso()},
        {"issued_on", rec.issued_on.ToIso()},
        {"level", std::string(1, rec.level)},
        {"job_id", rec.job_id},
        {"unknown_tags", r.record->unknown_tags},
    };
  }
  if (r.mac_status) {
    j["mac"] = r.mac_status->ok() ? json("OK") : json(r.mac_status->ToString());
  } else {
    j["mac"] = "not checked (no keys)";
  }
  j["apdus"] = r.apdus;
  return j;
}

}  // namespace cardbureau::encoder
