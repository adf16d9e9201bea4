// MIFARE Classic 1K/4K memory geometry, sector-trailer access conditions and
// the MAD CRC. Pure functions, thread-safe. Used by the emulator and the
// blank-stock generator; the rules are the NXP MF1S50/MF1S70 datasheet's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/apdu.h"

namespace cardbureau::devices {

enum class CardSize { k1K, k4K };

inline constexpr size_t kBlockSize = 16;
inline constexpr size_t kImageSize1K = 1024;
inline constexpr size_t kImageSize4K = 4096;

// 16 on 1K, 40 on 4K.
int SectorCount(CardSize size);
// 64 on 1K, 256 on 4K.
int BlockCount(CardSize size);
size_t ImageSize(CardSize size);
// Sectors 0-31 have 4 blocks, 32-39 (4K only) 16 blocks.
int BlocksInSector(int sector);
int FirstBlockOfSector(int sector);
int TrailerBlockOfSector(int sector);
// Precondition: 0 <= block < 256.
int SectorOfBlock(int block);
bool IsTrailerBlock(int block);

// Access conditions of one sector: for each of the 4 access groups, the bits
// C1C2C3 packed as (C1 << 2) | (C2 << 1) | C3. Groups 0-2 are the data blocks
// (in a 16-block sector, group g covers blocks 5g..5g+4), group 3 the trailer.
struct AccessConditions {
  std::array<uint8_t, 4> c{};
  friend bool operator==(const AccessConditions&, const AccessConditions&) = default;
};

// Encodes trailer bytes 6..8: b6 = ~C2‖~C1, b7 = C1‖~C3, b8 = C3‖C2 (high
// nibble first, bit i of a nibble = group i). Values >7 are masked.
std::array<uint8_t, 3> EncodeAccessBits(const AccessConditions& ac);
// Decodes trailer bytes 6..8 (`bits` must hold at least 3 bytes).
// CARD_ERROR when the inverted copies do not match (a real card then locks
// the sector for ever) or fewer than 3 bytes are given.
Result<AccessConditions> DecodeAccessBits(ByteView bits);

// Index of the access group a block belongs to within its sector (0..3).
int AccessGroupOfBlock(int block);

// Who may do an operation: a bit set per key.
enum class KeyMask : uint8_t { kNever = 0, kA = 1, kB = 2, kAB = 3 };
bool MaskAllows(KeyMask mask, KeyType key);

enum class DataOp { kRead, kWrite, kIncrement, kDecrementTransferRestore };
// The data-block table (datasheet 8.7.3) for a condition 0..7.
KeyMask DataBlockAccess(uint8_t cond, DataOp op);

enum class TrailerField { kKeyA, kAccessBits, kKeyB };
enum class TrailerOp { kRead, kWrite };
// The sector-trailer table (datasheet 8.7.2) for a condition 0..7. The access
// bits permissions also govern the general-purpose byte (byte 9).
KeyMask TrailerAccess(uint8_t cond, TrailerField field, TrailerOp op);
// True when the trailer condition lets key A read key B (conditions 000, 001,
// 010); key B then cannot be used to authenticate.
bool KeyBReadable(uint8_t trailer_cond);

// MAD CRC-8: polynomial 0x1D, initial value 0xC7, no reflection, no final
// XOR, over the info byte and the AID bytes (i.e. a MAD sector's bytes 1..).
uint8_t MadCrc8(ByteView data);

// The card identification a contactless reader puts into a synthesized ATR
// (PC/SC Part 3): historical bytes 80 4F 0C, RID A0 00 00 03 06, standard
// byte SS, card name C0 C1, 4 RFU bytes.
struct Part3Atr {
  uint8_t standard = 0;    // 03 = ISO 14443-3 type A
  uint16_t card_name = 0;  // 0001 MIFARE Classic 1K, 0002 4K, 0003 Ultralight, ...
};
// nullopt unless `atr` holds the Part 3 RID (other bytes are tolerated).
std::optional<Part3Atr> ParsePart3Atr(ByteView atr);
// MIFARE Classic size from an ATR: standard 03 with card name 0001 (1K) or
// 0002 (4K); nullopt for anything else.
std::optional<CardSize> MifareClassicSizeFromAtr(ByteView atr);

// ATR a contactless reader synthesizes for a MIFARE Classic card
// (PC/SC Part 3 with RID A0 00 00 03 06, standard 03, card name 00 01 / 00 02).
Bytes MifareClassicAtr(CardSize size);

}  // namespace cardbureau::devices
