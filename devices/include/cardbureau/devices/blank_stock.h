// Blank card stock as the transit operator delivers it (card-format.md
// "Blank card stock"), for the emulator and the tests. Pure, thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/devices/mifare_layout.h"

namespace cardbureau::devices {

enum class StockKind { kBjt1k, kBjt4k };

// "bjt-1k" / "bjt-4k".
std::string_view StockKindName(StockKind kind);
// INVALID_CONFIG for anything but "bjt-1k" / "bjt-4k".
Result<StockKind> ParseStockKind(std::string_view name);
CardSize StockCardSize(StockKind kind);

// Default layout of the bureau's stock (AIDs are configuration elsewhere).
inline constexpr uint16_t kAidStudent = 0x5801;
inline constexpr uint16_t kAidTransit = 0x2101;
inline constexpr int kFirstTransitSector = 1, kLastTransitSector = 6;
inline constexpr int kFirstStudentSector = 7, kLastStudentSector = 11;

// The transport configuration of a student sector's trailer.
inline constexpr std::array<uint8_t, 16> kTransportTrailer = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x80, 0x69, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
// Public MAD key A.
inline constexpr std::array<uint8_t, 6> kMadKeyA = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5};

// A 4-byte UID derived from `seed` (first byte never 0x08, the "random ID"
// prefix; never all zero).
Bytes StockUid(uint64_t seed);

// A blank card image (1024 or 4096 bytes, .mfd layout):
//  - block 0: UID, BCC (4-byte UIDs only), SAK 08/18, ATQA, manufacturer data;
//  - sector 0: MAD1 with correct CRC (info byte 00), sector 1-6 AID 2101,
//    7-11 AID 5801, the rest 0000; trailer A0A1A2A3A4A5 78 77 88 C1 <key B>
//    (GPB C2 on 4K, which also has MAD2 in sector 16 with the same key A and
//    GPB C2, all its AIDs 0000);
//  - sectors 1-6: random key A/B (from `seed`), block 0 an e-wallet value
//    block, access: value block 110, others 100, trailer 011;
//  - every other sector (student and free): transport configuration
//    FFFFFFFFFFFF FF0780 69 FFFFFFFFFFFF, data zero.
// Same kind + seed + uid gives the same bytes. `uid` must be 4 or 7 bytes
// (throws std::invalid_argument); without it StockUid(seed) is used.
Bytes MakeBlankStock(StockKind kind, uint64_t seed);
// The 4-byte UID of stock serial `serial` of bureau `bureau`: a bijection of
// the serial (keyed by the bureau), so distinct serials never give the same
// UID. nullopt for the few serials whose UID would be invalid (first byte 08
// = random ID, 88 = cascade tag, or all zero): skip them.
std::optional<Bytes> SerialStockUid(std::string_view bureau, uint32_t serial);
// Takes the next serial from `serial_file` (a decimal counter, created at 0,
// flock'ed, fsynced before the UID is used: never repeats within a data dir,
// across printers, processes and restarts) and returns its UID
// (SerialStockUid, skipping invalid ones). IO_ERROR.
// `base` offsets the serial space: the 1K stock counts serials 1.. (base
// 0), the 4K stock kSerialBase4k + 1.. in its own counter file
// (StockSerialFile), so a data dir's two stocks never share a UID and each
// can be listed ahead as a stock lot (PeekStockUids, `cardbureau stock
// sim-lot`).
Result<Bytes> NextStockUid(const std::filesystem::path& serial_file, std::string_view bureau,
                           uint32_t base = 0);
inline constexpr uint32_t kSerialBase4k = 0x80000000u;
uint32_t StockSerialBase(StockKind kind);
// The counter file of `kind`'s stock: `serial_file` itself for bjt-1k,
// "<serial_file>-4k" for bjt-4k.
std::filesystem::path StockSerialFile(const std::filesystem::path& serial_file, StockKind kind);
// The UIDs the next `count` NextStockUid calls on the same counter would
// return, with their serials (the counter is not advanced). IO_ERROR.
struct SerialUid {
  uint32_t serial = 0;
  Bytes uid;
};
Result<std::vector<SerialUid>> PeekStockUids(const std::filesystem::path& serial_file,
                                             std::string_view bureau, uint32_t base, int count);
Bytes MakeBlankStock(StockKind kind, uint64_t seed, ByteView uid);

// The UID stored in block 0 of an image (a .mfd file does not record the UID
// length): 7 bytes when bytes 7-8 look like SAK 08/18 + a double-size ATQA,
// else 4 bytes when byte 4 is their BCC, else 7 bytes. Pass --uid when in
// doubt. INVALID_FIELD for an image shorter than 16 bytes.
Result<Bytes> UidFromImage(ByteView image);

}  // namespace cardbureau::devices
