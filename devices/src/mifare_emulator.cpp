#include "cardbureau/devices/mifare_emulator.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "cardbureau/devices/apdu.h"

namespace cardbureau::devices {
namespace {

constexpr uint8_t kCla = 0xFF;
constexpr uint8_t kInsGetData = 0xCA;
constexpr uint8_t kInsLoadKey = 0x82;
constexpr uint8_t kInsAuthenticate = 0x86;
constexpr uint8_t kInsReadBinary = 0xB0;
constexpr uint8_t kInsUpdateBinary = 0xD6;

// NXP MF1S50 datasheet timings, in microseconds.
constexpr int kSelectMicros = 2500;
constexpr int kAuthMicros = 2000;
constexpr int kReadMicros = 2500;
constexpr int kWriteMicros = 5500;

Bytes Sw(uint16_t value) {
  return {static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value & 0xFF)};
}

Bytes WithSw(Bytes data, uint16_t value) {
  data.push_back(static_cast<uint8_t>(value >> 8));
  data.push_back(static_cast<uint8_t>(value & 0xFF));
  return data;
}

Status CheckShape(size_t image_size, size_t uid_size) {
  if (image_size != kImageSize1K && image_size != kImageSize4K) {
    return Status(Code::kInvalidField,
                  "card image must be 1024 or 4096 bytes, not " + std::to_string(image_size),
                  "image");
  }
  if (uid_size != 4 && uid_size != 7) {
    return Status(Code::kInvalidField, "UID must be 4 or 7 bytes, not " + std::to_string(uid_size),
                  "uid");
  }
  return Status::Ok();
}

}  // namespace

MifareClassicEmulator::MifareClassicEmulator(Bytes image, Bytes uid, FaultPlan faults)
    : image_(std::move(image)), uid_(std::move(uid)), faults_(faults) {
  if (Status s = CheckShape(image_.size(), uid_.size()); !s.ok()) {
    throw std::invalid_argument(s.ToString());
  }
  size_ = image_.size() == kImageSize1K ? CardSize::k1K : CardSize::k4K;
}

Result<std::shared_ptr<MifareClassicEmulator>> MifareClassicEmulator::Create(Bytes image, Bytes uid,
                                                                             FaultPlan faults) {
  CB_RETURN_IF_ERROR(CheckShape(image.size(), uid.size()));
  return std::make_shared<MifareClassicEmulator>(std::move(image), std::move(uid), faults);
}

Result<Bytes> MifareClassicEmulator::Process(ByteView apdu) {
  std::lock_guard lock(mu_);
  if (!present_) return Status(Code::kCardRemoved, "the card is not in the field");
  ++counts_.apdus;
  ++fault_apdus_;
  Bytes response = ProcessLocked(apdu);
  if (faults_.pull_after_apdu && fault_apdus_ == *faults_.pull_after_apdu) {
    present_ = false;
    auth_sector_ = -1;
  }
  return response;
}

Bytes MifareClassicEmulator::ProcessLocked(ByteView apdu) {
  if (apdu.size() < 4) return Sw(sw::kWrongLength);
  if (apdu[0] != kCla) return Sw(sw::kClaNotSupported);
  switch (apdu[1]) {
    case kInsGetData:
      return GetUidLocked(apdu);
    case kInsLoadKey:
      return LoadKeyLocked(apdu);
    case kInsAuthenticate:
      return AuthenticateLocked(apdu);
    case kInsReadBinary:
      return ReadLocked(apdu);
    case kInsUpdateBinary:
      return UpdateLocked(apdu);
    default:
      return Sw(sw::kInsNotSupported);
  }
}

Bytes MifareClassicEmulator::GetUidLocked(ByteView apdu) {
  if (apdu.size() != 4 && apdu.size() != 5) return Sw(sw::kWrongLength);
  if (apdu[2] != 0x00 || apdu[3] != 0x00) return Sw(sw::kFunctionNotSupported);
  const size_t le = apdu.size() == 5 ? apdu[4] : 0;
  if (le != 0 && le < uid_.size()) {
    return Sw(static_cast<uint16_t>(0x6C00 | uid_.size()));  // wrong Le, here is the right one
  }
  DelayLocked(kSelectMicros);
  return WithSw(uid_, sw::kOk);
}

Bytes MifareClassicEmulator::LoadKeyLocked(ByteView apdu) {
  if (apdu.size() != 11 || apdu[4] != 0x06) return Sw(sw::kWrongLength);
  if (apdu[2] != 0x00 || apdu[3] >= kKeySlots) return Sw(sw::kFunctionNotSupported);
  std::array<uint8_t, 6> key;
  std::copy(apdu.begin() + 5, apdu.end(), key.begin());
  slots_[apdu[3]] = key;
  return Sw(sw::kOk);
}

Bytes MifareClassicEmulator::AuthenticateLocked(ByteView apdu) {
  if (apdu.size() != 10 || apdu[4] != 0x05) return Sw(sw::kWrongLength);
  if (apdu[2] != 0x00 || apdu[3] != 0x00) return Sw(sw::kFunctionNotSupported);
  const uint8_t version = apdu[5], msb = apdu[6], block = apdu[7], kt = apdu[8], slot = apdu[9];
  if (version != 0x01) return Sw(sw::kFunctionNotSupported);
  if (kt != static_cast<uint8_t>(KeyType::kA) && kt != static_cast<uint8_t>(KeyType::kB)) {
    return Sw(sw::kFunctionNotSupported);
  }
  if (slot >= kKeySlots) return Sw(sw::kFunctionNotSupported);
  if (msb != 0x00 || block >= BlockCount(size_)) return Sw(sw::kAddressNotFound);
  if (!slots_[slot]) return Sw(sw::kCommandNotAllowed);

  ++counts_.authentications;
  ++fault_auths_;
  DelayLocked(kAuthMicros);
  auth_sector_ = -1;  // any authentication attempt ends the previous session
  const KeyType key_type = static_cast<KeyType>(kt);
  const int sector = SectorOfBlock(block);
  const size_t trailer = static_cast<size_t>(TrailerBlockOfSector(sector)) * kBlockSize;

  if (faults_.fail_auth && fault_auths_ == *faults_.fail_auth) return Sw(sw::kAuthFailed);
  if (faults_.dead_sector && sector == *faults_.dead_sector) return Sw(sw::kAuthFailed);
  auto ac = DecodeAccessBits(ByteView(image_).subspan(trailer + 6, 3));
  if (!ac.ok()) return Sw(sw::kAuthFailed);  // the sector is destroyed
  if (key_type == KeyType::kB && KeyBReadable(ac->c[3])) return Sw(sw::kAuthFailed);
  const size_t key_offset = trailer + (key_type == KeyType::kA ? 0 : 10);
  if (!std::equal(slots_[slot]->begin(), slots_[slot]->end(),
                  image_.begin() + static_cast<std::ptrdiff_t>(key_offset))) {
    return Sw(sw::kAuthFailed);
  }
  auth_sector_ = sector;
  auth_key_ = key_type;
  return Sw(sw::kOk);
}

Bytes MifareClassicEmulator::ReadLocked(ByteView apdu) {
  if (apdu.size() != 5 || apdu[4] != 0x10) return Sw(sw::kWrongLength);
  const uint8_t block = apdu[3];
  if (apdu[2] != 0x00 || block >= BlockCount(size_)) return Sw(sw::kAddressNotFound);
  const int sector = SectorOfBlock(block);
  if (auth_sector_ != sector) return Sw(sw::kSecurityNotSatisfied);
  const size_t trailer = static_cast<size_t>(TrailerBlockOfSector(sector)) * kBlockSize;
  auto ac = DecodeAccessBits(ByteView(image_).subspan(trailer + 6, 3));
  if (!ac.ok()) return Sw(sw::kSecurityNotSatisfied);
  const size_t offset = static_cast<size_t>(block) * kBlockSize;
  Bytes out(image_.begin() + static_cast<std::ptrdiff_t>(offset),
            image_.begin() + static_cast<std::ptrdiff_t>(offset + kBlockSize));
  const uint8_t cond = ac->c[static_cast<size_t>(AccessGroupOfBlock(block))];
  if (IsTrailerBlock(block)) {
    std::fill(out.begin(), out.begin() + 6, 0);  // key A is never readable
    if (!MaskAllows(TrailerAccess(cond, TrailerField::kAccessBits, TrailerOp::kRead), auth_key_)) {
      std::fill(out.begin() + 6, out.begin() + 10, 0);
    }
    if (!MaskAllows(TrailerAccess(cond, TrailerField::kKeyB, TrailerOp::kRead), auth_key_)) {
      std::fill(out.begin() + 10, out.end(), 0);
    }
  } else if (!MaskAllows(DataBlockAccess(cond, DataOp::kRead), auth_key_)) {
    return Sw(sw::kSecurityNotSatisfied);
  }
  DelayLocked(kReadMicros);
  ++counts_.reads;
  return WithSw(std::move(out), sw::kOk);
}

Bytes MifareClassicEmulator::UpdateLocked(ByteView apdu) {
  if (apdu.size() < 5 || apdu[4] != 0x10 || apdu.size() != 5 + kBlockSize) {
    return Sw(sw::kWrongLength);
  }
  const uint8_t block = apdu[3];
  if (apdu[2] != 0x00 || block >= BlockCount(size_)) return Sw(sw::kAddressNotFound);
  const int sector = SectorOfBlock(block);
  if (auth_sector_ != sector) return Sw(sw::kSecurityNotSatisfied);
  if (block == 0) return Sw(sw::kSecurityNotSatisfied);  // manufacturer block
  const size_t trailer = static_cast<size_t>(TrailerBlockOfSector(sector)) * kBlockSize;
  auto ac = DecodeAccessBits(ByteView(image_).subspan(trailer + 6, 3));
  if (!ac.ok()) return Sw(sw::kSecurityNotSatisfied);
  const uint8_t cond = ac->c[static_cast<size_t>(AccessGroupOfBlock(block))];
  const size_t offset = static_cast<size_t>(block) * kBlockSize;
  ByteView data = apdu.subspan(5, kBlockSize);

  Bytes next(image_.begin() + static_cast<std::ptrdiff_t>(offset),
             image_.begin() + static_cast<std::ptrdiff_t>(offset + kBlockSize));
  if (IsTrailerBlock(block)) {
    // Each part of a trailer is written only where the access table allows;
    // the rest keeps its value. Nothing writable at all is a refusal.
    struct Part {
      TrailerField field;
      size_t begin, end;
    };
    bool any = false;
    for (const Part& p : {Part{TrailerField::kKeyA, 0, 6}, Part{TrailerField::kAccessBits, 6, 10},
                          Part{TrailerField::kKeyB, 10, 16}}) {
      if (MaskAllows(TrailerAccess(cond, p.field, TrailerOp::kWrite), auth_key_)) {
        std::copy(data.begin() + static_cast<std::ptrdiff_t>(p.begin),
                  data.begin() + static_cast<std::ptrdiff_t>(p.end),
                  next.begin() + static_cast<std::ptrdiff_t>(p.begin));
        any = true;
      }
    }
    if (!any) return Sw(sw::kSecurityNotSatisfied);
  } else {
    if (!MaskAllows(DataBlockAccess(cond, DataOp::kWrite), auth_key_)) {
      return Sw(sw::kSecurityNotSatisfied);
    }
    next.assign(data.begin(), data.end());
  }
  DelayLocked(kWriteMicros);
  ++counts_.writes;
  ++fault_writes_;
  if (faults_.drop_write && fault_writes_ == *faults_.drop_write) return Sw(sw::kOk);
  std::copy(next.begin(), next.end(), image_.begin() + static_cast<std::ptrdiff_t>(offset));
  if (observer_) observer_(image_);
  return Sw(sw::kOk);
}

void MifareClassicEmulator::DelayLocked(int micros) const {
  if (faults_.delay) std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

void MifareClassicEmulator::Insert() {
  std::lock_guard lock(mu_);
  present_ = true;
  auth_sector_ = -1;
}

void MifareClassicEmulator::Remove() {
  std::lock_guard lock(mu_);
  present_ = false;
  auth_sector_ = -1;
}

bool MifareClassicEmulator::present() const {
  std::lock_guard lock(mu_);
  return present_;
}

void MifareClassicEmulator::Reset() {
  std::lock_guard lock(mu_);
  auth_sector_ = -1;
}

Bytes MifareClassicEmulator::Atr() const { return MifareClassicAtr(size_); }

Bytes MifareClassicEmulator::Uid() const {
  std::lock_guard lock(mu_);
  return uid_;
}

CardSize MifareClassicEmulator::size() const { return size_; }

Bytes MifareClassicEmulator::Image() const {
  std::lock_guard lock(mu_);
  return image_;
}

void MifareClassicEmulator::SetFaults(FaultPlan faults) {
  std::lock_guard lock(mu_);
  faults_ = faults;
  fault_apdus_ = fault_auths_ = fault_writes_ = 0;
}

FaultPlan MifareClassicEmulator::faults() const {
  std::lock_guard lock(mu_);
  return faults_;
}

EmulatorCounts MifareClassicEmulator::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void MifareClassicEmulator::SetWriteObserver(std::function<void(const Bytes&)> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

}  // namespace cardbureau::devices
