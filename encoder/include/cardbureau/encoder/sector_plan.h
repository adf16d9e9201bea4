// The MIFARE Application Directory (MAD1/MAD2) and the sector plan derived
// from it: which sectors hold the student record (ours) and which belong to
// somebody else (never authenticated, never written).
//
// Everything here is pure (bytes in, value or Status out) and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/mifare_layout.h"

namespace cardbureau::encoder {

// Application ids (card-format.md "Sector ownership"). Configuration; the
// defaults are the specified ones.
struct AidConfig {
  uint16_t student_aid = 0x5801;
  uint16_t transit_aid = 0x2101;
};

inline constexpr uint16_t kAidFree = 0x0000;
inline constexpr uint16_t kAidDefect = 0x0001;
inline constexpr uint16_t kAidReserved = 0x0002;

// Size of the MAD areas as read from the card: MAD1 = blocks 1-2 of sector
// 0, MAD2 = blocks 0-2 of sector 16 (4K only).
inline constexpr size_t kMad1Bytes = 32;
inline constexpr size_t kMad2Bytes = 48;
inline constexpr int kMad1Sector = 0;
inline constexpr int kMad2Sector = 16;

// A parsed, CRC-checked directory. aid[s] is the AID of sector s
// (big-endian value, e.g. 0x5801); the MAD sectors themselves (0 and, on
// 4K, 16) carry 0 here.
struct MadDirectory {
  devices::CardSize size = devices::CardSize::k1K;
  uint8_t mad1_info = 0;
  uint8_t mad2_info = 0;      // 0 on 1K
  std::vector<uint16_t> aid;  // SectorCount(size) entries
};

// Parses MAD1 (32 bytes: CRC, info, 15 AIDs application-code first) and,
// for 4K, MAD2 (48 bytes: CRC, info, 23 AIDs for sectors 17-39). `mad2` must
// be empty for 1K. Pure. Errors: CARD_STOCK_INVALID (wrong CRC, wrong
// length, MAD2 missing on 4K).
Result<MadDirectory> ParseMad(devices::CardSize size, ByteView mad1, ByteView mad2);

// The inverse (for building test stock and fixtures): CRCs computed.
Bytes EncodeMad1(const MadDirectory& mad);
Bytes EncodeMad2(const MadDirectory& mad);

enum class SectorRole {
  kMad,      // sector 0 / 16: read with the public MAD key, never written
  kStudent,  // ours: the student record
  kTransit,  // the transit operator's e-wallet: never touched
  kFree,     // 0x0000
  kOther,    // defect, reserved, or any other application
};
std::string_view ToString(SectorRole role);  // "mad", "student", ...

// Which sectors the bureau may touch, from the MAD. Immutable value;
// thread-safe to share.
class SectorPlan {
 public:
  // CARD_STOCK_INVALID when no sector carries the student AID.
  static Result<SectorPlan> FromMad(const MadDirectory& mad, const AidConfig& aids);

  devices::CardSize size() const { return size_; }
  uint16_t student_aid() const { return student_aid_; }
  SectorRole RoleOf(int sector) const;
  // Ascending.
  const std::vector<int>& student_sectors() const { return student_sectors_; }
  std::vector<int> SectorsWithRole(SectorRole role) const;

  // The data blocks of the student sectors in record order (ascending
  // sector, ascending block): record byte i lives in block i / 16.
  const std::vector<int>& record_blocks() const { return record_blocks_; }
  // Record bytes the student sectors hold (48 per 4-block sector).
  size_t capacity() const { return record_blocks_.size() * devices::kBlockSize; }
  // The block holding record offset 0 (the magic "BJSC").
  int magic_block() const { return record_blocks_.front(); }
  // Data blocks of one student sector, ascending.
  std::vector<int> DataBlocksOf(int sector) const;

  // THE gate for every write: OK only for a data block or the trailer of a
  // student sector; FORBIDDEN for block 0, any other sector, or a block
  // outside the card. `trailer` says which kind of write is intended (a data
  // write to a trailer block, or a trailer write to a data block, is refused
  // too).
  Status CheckWritable(int block, bool trailer) const;
  // The gate for authentication: OK for student sectors and the MAD sectors
  // (public key A); FORBIDDEN for every other sector (transit is never
  // authenticated).
  Status CheckAuthenticate(int sector) const;

 private:
  SectorPlan() = default;
  devices::CardSize size_ = devices::CardSize::k1K;
  uint16_t student_aid_ = 0;
  std::vector<SectorRole> roles_;
  std::vector<int> student_sectors_;
  std::vector<int> record_blocks_;
};

}  // namespace cardbureau::encoder
