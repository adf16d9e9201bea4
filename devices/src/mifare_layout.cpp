#include "cardbureau/devices/mifare_layout.h"

#include <algorithm>
#include <iterator>

namespace cardbureau::devices {
namespace {

using M = KeyMask;

// Data-block table, indexed by (C1 << 2) | (C2 << 1) | C3:
// read, write, increment, decrement/transfer/restore.
constexpr std::array<std::array<KeyMask, 4>, 8> kDataTable = {{
    /*000*/ {M::kAB, M::kAB, M::kAB, M::kAB},
    /*001*/ {M::kAB, M::kNever, M::kNever, M::kAB},
    /*010*/ {M::kAB, M::kNever, M::kNever, M::kNever},
    /*011*/ {M::kB, M::kB, M::kNever, M::kNever},
    /*100*/ {M::kAB, M::kB, M::kNever, M::kNever},
    /*101*/ {M::kB, M::kNever, M::kNever, M::kNever},
    /*110*/ {M::kAB, M::kB, M::kB, M::kAB},
    /*111*/ {M::kNever, M::kNever, M::kNever, M::kNever},
}};

// Trailer table: key A read/write, access bits read/write, key B read/write.
constexpr std::array<std::array<KeyMask, 6>, 8> kTrailerTable = {{
    /*000*/ {M::kNever, M::kA, M::kA, M::kNever, M::kA, M::kA},
    /*001*/ {M::kNever, M::kA, M::kA, M::kA, M::kA, M::kA},
    /*010*/ {M::kNever, M::kNever, M::kA, M::kNever, M::kA, M::kNever},
    /*011*/ {M::kNever, M::kB, M::kAB, M::kB, M::kNever, M::kB},
    /*100*/ {M::kNever, M::kB, M::kAB, M::kNever, M::kNever, M::kB},
    /*101*/ {M::kNever, M::kNever, M::kAB, M::kB, M::kNever, M::kNever},
    /*110*/ {M::kNever, M::kNever, M::kAB, M::kNever, M::kNever, M::kNever},
    /*111*/ {M::kNever, M::kNever, M::kAB, M::kNever, M::kNever, M::kNever},
}};

}  // namespace

int SectorCount(CardSize size) { return size == CardSize::k1K ? 16 : 40; }
int BlockCount(CardSize size) { return size == CardSize::k1K ? 64 : 256; }
size_t ImageSize(CardSize size) { return size == CardSize::k1K ? kImageSize1K : kImageSize4K; }
int BlocksInSector(int sector) { return sector < 32 ? 4 : 16; }
int FirstBlockOfSector(int sector) { return sector < 32 ? sector * 4 : 128 + (sector - 32) * 16; }
int TrailerBlockOfSector(int sector) {
  return FirstBlockOfSector(sector) + BlocksInSector(sector) - 1;
}
int SectorOfBlock(int block) { return block < 128 ? block / 4 : 32 + (block - 128) / 16; }
bool IsTrailerBlock(int block) { return TrailerBlockOfSector(SectorOfBlock(block)) == block; }

int AccessGroupOfBlock(int block) {
  const int sector = SectorOfBlock(block);
  const int offset = block - FirstBlockOfSector(sector);
  if (BlocksInSector(sector) == 4) return offset;
  return offset == 15 ? 3 : offset / 5;
}

std::array<uint8_t, 3> EncodeAccessBits(const AccessConditions& ac) {
  uint8_t c1 = 0, c2 = 0, c3 = 0;
  for (int i = 0; i < 4; ++i) {
    const uint8_t c = ac.c[static_cast<size_t>(i)] & 7;
    c1 = static_cast<uint8_t>(c1 | (((c >> 2) & 1) << i));
    c2 = static_cast<uint8_t>(c2 | (((c >> 1) & 1) << i));
    c3 = static_cast<uint8_t>(c3 | ((c & 1) << i));
  }
  const uint8_t n1 = static_cast<uint8_t>(~c1 & 0x0F);
  const uint8_t n2 = static_cast<uint8_t>(~c2 & 0x0F);
  const uint8_t n3 = static_cast<uint8_t>(~c3 & 0x0F);
  return {static_cast<uint8_t>((n2 << 4) | n1), static_cast<uint8_t>((c1 << 4) | n3),
          static_cast<uint8_t>((c3 << 4) | c2)};
}

Result<AccessConditions> DecodeAccessBits(ByteView bits) {
  if (bits.size() < 3) return Status(Code::kCardError, "access bits need 3 bytes");
  const uint8_t c1 = bits[1] >> 4, n1 = bits[0] & 0x0F;
  const uint8_t c2 = bits[2] & 0x0F, n2 = bits[0] >> 4;
  const uint8_t c3 = bits[2] >> 4, n3 = bits[1] & 0x0F;
  if ((c1 ^ n1) != 0x0F || (c2 ^ n2) != 0x0F || (c3 ^ n3) != 0x0F) {
    return Status(Code::kCardError, "inconsistent access bits " + ToSpacedHex(bits.first(3)));
  }
  AccessConditions ac;
  for (int i = 0; i < 4; ++i) {
    ac.c[static_cast<size_t>(i)] =
        static_cast<uint8_t>((((c1 >> i) & 1) << 2) | (((c2 >> i) & 1) << 1) | ((c3 >> i) & 1));
  }
  return ac;
}

bool MaskAllows(KeyMask mask, KeyType key) {
  const auto m = static_cast<uint8_t>(mask);
  return key == KeyType::kA ? (m & 1) != 0 : (m & 2) != 0;
}

KeyMask DataBlockAccess(uint8_t cond, DataOp op) {
  return kDataTable[cond & 7][static_cast<size_t>(op)];
}

KeyMask TrailerAccess(uint8_t cond, TrailerField field, TrailerOp op) {
  const size_t col = static_cast<size_t>(field) * 2 + (op == TrailerOp::kWrite ? 1 : 0);
  return kTrailerTable[cond & 7][col];
}

bool KeyBReadable(uint8_t trailer_cond) {
  return TrailerAccess(trailer_cond, TrailerField::kKeyB, TrailerOp::kRead) != KeyMask::kNever;
}

uint8_t MadCrc8(ByteView data) {
  uint8_t crc = 0xC7;
  for (uint8_t b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x80) ? static_cast<uint8_t>((crc << 1) ^ 0x1D) : static_cast<uint8_t>(crc << 1);
    }
  }
  return crc;
}

std::optional<Part3Atr> ParsePart3Atr(ByteView atr) {
  static constexpr uint8_t kRid[] = {0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06};
  for (size_t i = 0; i + sizeof kRid + 3 <= atr.size(); ++i) {
    if (std::equal(std::begin(kRid), std::end(kRid), atr.begin() + static_cast<long>(i))) {
      const size_t at = i + sizeof kRid;
      return Part3Atr{atr[at], static_cast<uint16_t>(atr[at + 1] << 8 | atr[at + 2])};
    }
  }
  return std::nullopt;
}

std::optional<CardSize> MifareClassicSizeFromAtr(ByteView atr) {
  auto p = ParsePart3Atr(atr);
  if (!p || p->standard != 0x03) return std::nullopt;
  if (p->card_name == 0x0001) return CardSize::k1K;
  if (p->card_name == 0x0002) return CardSize::k4K;
  return std::nullopt;
}

Bytes MifareClassicAtr(CardSize size) {
  Bytes atr = {0x3B, 0x8F, 0x80, 0x01, 0x80,
               0x4F, 0x0C, 0xA0, 0x00, 0x00,
               0x03, 0x06, 0x03, 0x00, size == CardSize::k1K ? uint8_t{0x01} : uint8_t{0x02},
               0x00, 0x00, 0x00, 0x00};
  // TCK: XOR of all bytes from T0 to the last historical byte.
  uint8_t tck = 0;
  for (size_t i = 1; i < atr.size(); ++i) tck ^= atr[i];
  atr.push_back(tck);
  return atr;
}

}  // namespace cardbureau::devices
