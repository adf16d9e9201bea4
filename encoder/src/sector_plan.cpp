#include "cardbureau/encoder/sector_plan.h"

#include <string>

namespace cardbureau::encoder {
namespace {

using devices::CardSize;

Status StockInvalid(std::string msg) { return Status(Code::kCardStockInvalid, std::move(msg)); }

// AIDs are stored application-code first: bytes (app, cluster) -> 0xCCAA.
uint16_t AidAt(ByteView area, size_t index) {
  const uint8_t app = area[2 + 2 * index];
  const uint8_t cluster = area[3 + 2 * index];
  return static_cast<uint16_t>((cluster << 8) | app);
}

void PutAid(Bytes& area, size_t index, uint16_t aid) {
  area[2 + 2 * index] = static_cast<uint8_t>(aid & 0xFF);
  area[3 + 2 * index] = static_cast<uint8_t>(aid >> 8);
}

}  // namespace

Result<MadDirectory> ParseMad(CardSize size, ByteView mad1, ByteView mad2) {
  if (mad1.size() != kMad1Bytes) return StockInvalid("MAD1 must be 32 bytes");
  if (devices::MadCrc8(mad1.subspan(1)) != mad1[0]) {
    return StockInvalid("MAD1 CRC mismatch");
  }
  MadDirectory mad;
  mad.size = size;
  mad.mad1_info = mad1[1];
  mad.aid.assign(static_cast<size_t>(devices::SectorCount(size)), 0);
  for (size_t s = 1; s < 16; ++s) mad.aid[s] = AidAt(mad1, s - 1);
  if (size == CardSize::k1K) {
    if (!mad2.empty()) return StockInvalid("a 1K card has no MAD2");
    return mad;
  }
  if (mad2.size() != kMad2Bytes) return StockInvalid("4K card without a 48-byte MAD2");
  if (devices::MadCrc8(mad2.subspan(1)) != mad2[0]) {
    return StockInvalid("MAD2 CRC mismatch");
  }
  mad.mad2_info = mad2[1];
  for (size_t s = 17; s < 40; ++s) mad.aid[s] = AidAt(mad2, s - 17);
  return mad;
}

Bytes EncodeMad1(const MadDirectory& mad) {
  Bytes area(kMad1Bytes, 0);
  area[1] = mad.mad1_info;
  for (size_t s = 1; s < 16 && s < mad.aid.size(); ++s) PutAid(area, s - 1, mad.aid[s]);
  area[0] = devices::MadCrc8(ByteView(area).subspan(1));
  return area;
}

Bytes EncodeMad2(const MadDirectory& mad) {
  Bytes area(kMad2Bytes, 0);
  area[1] = mad.mad2_info;
  for (size_t s = 17; s < 40 && s < mad.aid.size(); ++s) PutAid(area, s - 17, mad.aid[s]);
  area[0] = devices::MadCrc8(ByteView(area).subspan(1));
  return area;
}

std::string_view ToString(SectorRole role) {
  switch (role) {
    case SectorRole::kMad:
      return "mad";
    case SectorRole::kStudent:
      return "student";
    case SectorRole::kTransit:
      return "transit";
    case SectorRole::kFree:
      return "free";
    case SectorRole::kOther:
      return "other";
  }
  return "other";
}

Result<SectorPlan> SectorPlan::FromMad(const MadDirectory& mad, const AidConfig& aids) {
  const size_t count = static_cast<size_t>(devices::SectorCount(mad.size));
  if (mad.aid.size() != count) return StockInvalid("MAD does not cover every sector");
  SectorPlan plan;
  plan.size_ = mad.size;
  plan.student_aid_ = aids.student_aid;
  plan.roles_.assign(count, SectorRole::kOther);
  for (size_t s = 0; s < count; ++s) {
    SectorRole role = SectorRole::kOther;
    const uint16_t aid = mad.aid[s];
    if (s == kMad1Sector || (mad.size == CardSize::k4K && s == kMad2Sector)) {
      role = SectorRole::kMad;
    } else if (aid == aids.student_aid) {
      role = SectorRole::kStudent;
    } else if (aid == aids.transit_aid) {
      role = SectorRole::kTransit;
    } else if (aid == kAidFree) {
      role = SectorRole::kFree;
    }
    plan.roles_[s] = role;
    if (role == SectorRole::kStudent) {
      const int sector = static_cast<int>(s);
      plan.student_sectors_.push_back(sector);
      for (int b : plan.DataBlocksOf(sector)) plan.record_blocks_.push_back(b);
    }
  }
  if (plan.student_sectors_.empty()) {
    return StockInvalid("the MAD names no student sector (AID " +
                        ToHex(Bytes{static_cast<uint8_t>(aids.student_aid >> 8),
                                    static_cast<uint8_t>(aids.student_aid & 0xFF)}) +
                        ")");
  }
  return plan;
}

SectorRole SectorPlan::RoleOf(int sector) const {
  if (sector < 0 || static_cast<size_t>(sector) >= roles_.size()) return SectorRole::kOther;
  return roles_[static_cast<size_t>(sector)];
}

std::vector<int> SectorPlan::SectorsWithRole(SectorRole role) const {
  std::vector<int> out;
  for (size_t s = 0; s < roles_.size(); ++s) {
    if (roles_[s] == role) out.push_back(static_cast<int>(s));
  }
  return out;
}

std::vector<int> SectorPlan::DataBlocksOf(int sector) const {
  std::vector<int> out;
  const int first = devices::FirstBlockOfSector(sector);
  const int trailer = devices::TrailerBlockOfSector(sector);
  for (int b = first; b < trailer; ++b) out.push_back(b);
  return out;
}

Status SectorPlan::CheckWritable(int block, bool trailer) const {
  const std::string what = "block " + std::to_string(block);
  if (block <= 0 || block >= devices::BlockCount(size_)) {
    return Status(Code::kForbidden, what + " is never written (block 0 or outside the card)");
  }
  const int sector = devices::SectorOfBlock(block);
  if (RoleOf(sector) != SectorRole::kStudent) {
    return Status(Code::kForbidden, what + " is in sector " + std::to_string(sector) +
                                        ", which the MAD does not give to the student record");
  }
  if (devices::IsTrailerBlock(block) != trailer) {
    return Status(Code::kForbidden, what + (trailer ? " is not a sector trailer"
                                                    : " is a sector trailer: only a "
                                                      "SectorTrailer may be written there"));
  }
  return Status::Ok();
}

Status SectorPlan::CheckAuthenticate(int sector) const {
  const SectorRole role = RoleOf(sector);
  if (role == SectorRole::kStudent || role == SectorRole::kMad) return Status::Ok();
  return Status(Code::kForbidden, "sector " + std::to_string(sector) + " (" +
                                      std::string(ToString(role)) + ") is not the bureau's");
}

}  // namespace cardbureau::encoder
