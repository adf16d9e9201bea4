#include "card_session.h"

#include <algorithm>
#include <array>
#include <string>

namespace cardbureau::encoder {

Result<devices::CardSize> CardSizeFromAtr(ByteView atr) {
  static constexpr std::array<uint8_t, 6> kRidStandard = {0xA0, 0x00, 0x00, 0x03, 0x06, 0x03};
  auto it = std::search(atr.begin(), atr.end(), kRidStandard.begin(), kRidStandard.end());
  if (it == atr.end() || atr.end() - it < static_cast<long>(kRidStandard.size() + 2)) {
    return Status(Code::kCardStockInvalid,
                  "not a PC/SC storage card (ATR " + ToSpacedHex(atr) + ")");
  }
  const uint8_t hi = it[6], lo = it[7];
  if (hi == 0x00 && lo == 0x01) return devices::CardSize::k1K;
  if (hi == 0x00 && lo == 0x02) return devices::CardSize::k4K;
  return Status(Code::kCardStockInvalid,
                "card is not MIFARE Classic 1K/4K (card name " + ToHex(Bytes{hi, lo}) + ")");
}

Result<Bytes> CardSession::Send(const Bytes& apdu) {
  ++apdus_;
  return devices::TransmitChecked(channel_, apdu);
}

Status CardSession::CheckSector(int sector) const {
  if (plan_ != nullptr) return plan_->CheckAuthenticate(sector);
  if (sector == kMad1Sector || sector == kMad2Sector) return Status::Ok();
  return Status(Code::kForbidden,
                "sector " + std::to_string(sector) + " before the MAD has been read");
}

Result<Bytes> CardSession::GetUid() {
  CB_ASSIGN_OR_RETURN(Bytes uid, Send(devices::Apdu::GetUid()));
  if (uid.size() != 4 && uid.size() != 7) {
    return Status(Code::kCardError, "UID of " + std::to_string(uid.size()) + " bytes");
  }
  return uid;
}

Status CardSession::LoadKey(uint8_t slot, const MifareKey& key) {
  Bytes apdu = devices::Apdu::LoadKey(slot, key.view());
  auto r = Send(apdu);
  SecureZero(apdu);
  return r.status();
}

Status CardSession::Authenticate(int sector, devices::KeyType type, uint8_t slot) {
  CB_RETURN_IF_ERROR(CheckSector(sector));
  const int trailer = devices::TrailerBlockOfSector(sector);
  return Send(devices::Apdu::Authenticate(static_cast<uint8_t>(trailer), type, slot)).status();
}

Result<Bytes> CardSession::ReadBlock(int block) {
  if (block < 0 || block > 255) return Status(Code::kForbidden, "block outside the card");
  CB_RETURN_IF_ERROR(CheckSector(devices::SectorOfBlock(block)));
  CB_ASSIGN_OR_RETURN(Bytes data, Send(devices::Apdu::ReadBlock(static_cast<uint8_t>(block))));
  if (data.size() != devices::kBlockSize) {
    return Status(Code::kCardError, "read of block " + std::to_string(block) + " returned " +
                                        std::to_string(data.size()) + " bytes");
  }
  return data;
}

Status CardSession::WriteDataBlock(int block, ByteView data16) {
  if (plan_ == nullptr) return Status(Code::kForbidden, "no write before the sector plan exists");
  CB_RETURN_IF_ERROR(plan_->CheckWritable(block, /*trailer=*/false));
  if (data16.size() != devices::kBlockSize) {
    return Status(Code::kInternal, "data block must be 16 bytes");
  }
  return Send(devices::Apdu::UpdateBlock(static_cast<uint8_t>(block), data16)).status();
}

Status CardSession::WriteTrailer(int sector, const SectorTrailer& trailer) {
  if (plan_ == nullptr) return Status(Code::kForbidden, "no write before the sector plan exists");
  const int block = devices::TrailerBlockOfSector(sector);
  CB_RETURN_IF_ERROR(plan_->CheckWritable(block, /*trailer=*/true));
  Bytes apdu = devices::Apdu::UpdateBlock(static_cast<uint8_t>(block), trailer.bytes());
  auto r = Send(apdu);
  SecureZero(apdu);
  return r.status();
}

}  // namespace cardbureau::encoder

namespace cardbureau::encoder {

Result<MadDirectory> ReadMad(CardSession& session, devices::CardSize size) {
  CB_RETURN_IF_ERROR(session.LoadKey(kSlotMad, MadKeyA()));
  auto read_area = [&](int sector, int first, int count) -> Result<Bytes> {
    CB_RETURN_IF_ERROR(session.Authenticate(sector, devices::KeyType::kA, kSlotMad));
    Bytes area;
    const int base = devices::FirstBlockOfSector(sector);
    for (int b = first; b < first + count; ++b) {
      CB_ASSIGN_OR_RETURN(Bytes block, session.ReadBlock(base + b));
      area.insert(area.end(), block.begin(), block.end());
    }
    return area;
  };
  CB_ASSIGN_OR_RETURN(Bytes mad1, read_area(kMad1Sector, 1, 2));
  Bytes mad2;
  if (size == devices::CardSize::k4K) {
    CB_ASSIGN_OR_RETURN(mad2, read_area(kMad2Sector, 0, 3));
  }
  return ParseMad(size, mad1, mad2);
}

}  // namespace cardbureau::encoder
