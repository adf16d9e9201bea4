#include "cardbureau/devices/blank_stock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

#include "cardbureau/core/unique_fd.h"

namespace cardbureau::devices {
namespace {

class StockRandom {
 public:
  explicit StockRandom(uint64_t seed) : engine_(seed) {}
  // Uses raw engine output only: std::mt19937_64 is specified bit-exactly,
  // distributions are not, so images are the same on every platform.
  uint8_t Byte() { return static_cast<uint8_t>(engine_() >> 56); }
  void Fill(uint8_t* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = Byte();
  }

 private:
  std::mt19937_64 engine_;
};

uint8_t* BlockPtr(Bytes& image, int block) {
  return image.data() + static_cast<size_t>(block) * kBlockSize;
}

void PutTrailer(Bytes& image, int sector, ByteView key_a, const AccessConditions& ac, uint8_t gpb,
                ByteView key_b) {
  uint8_t* t = BlockPtr(image, TrailerBlockOfSector(sector));
  std::copy(key_a.begin(), key_a.end(), t);
  const auto bits = EncodeAccessBits(ac);
  std::copy(bits.begin(), bits.end(), t + 6);
  t[9] = gpb;
  std::copy(key_b.begin(), key_b.end(), t + 10);
}

// Writes a MAD: CRC, info byte, then one AID per sector (application code
// first) starting at `first_sector`.
void PutMad(Bytes& image, int mad_sector, int first_sector, int count, uint8_t info,
            uint16_t (*aid_of)(int)) {
  Bytes mad;
  mad.push_back(info);
  for (int s = first_sector; s < first_sector + count; ++s) {
    const uint16_t aid = aid_of(s);
    mad.push_back(static_cast<uint8_t>(aid & 0xFF));
    mad.push_back(static_cast<uint8_t>(aid >> 8));
  }
  mad.insert(mad.begin(), MadCrc8(mad));
  // MAD1 starts at block 1 of sector 0, MAD2 at block 0 of sector 16.
  const int first_block = FirstBlockOfSector(mad_sector) + (mad_sector == 0 ? 1 : 0);
  std::copy(mad.begin(), mad.end(), BlockPtr(image, first_block));
}

uint16_t DefaultAid(int sector) {
  if (sector >= kFirstTransitSector && sector <= kLastTransitSector) return kAidTransit;
  if (sector >= kFirstStudentSector && sector <= kLastStudentSector) return kAidStudent;
  return 0x0000;
}

void PutValueBlock(uint8_t* b, uint32_t value, uint8_t address) {
  for (int i = 0; i < 4; ++i) {
    const auto v = static_cast<uint8_t>(value >> (8 * i));  // little-endian
    b[i] = v;
    b[4 + i] = static_cast<uint8_t>(~v);
    b[8 + i] = v;
  }
  b[12] = address;
  b[13] = static_cast<uint8_t>(~address);
  b[14] = address;
  b[15] = static_cast<uint8_t>(~address);
}

}  // namespace

std::string_view StockKindName(StockKind kind) {
  return kind == StockKind::kBjt1k ? "bjt-1k" : "bjt-4k";
}

Result<StockKind> ParseStockKind(std::string_view name) {
  if (name == "bjt-1k") return StockKind::kBjt1k;
  if (name == "bjt-4k") return StockKind::kBjt4k;
  return Status(Code::kInvalidConfig,
                "unknown card stock '" + std::string(name) + "' (bjt-1k or bjt-4k)", "stock");
}

CardSize StockCardSize(StockKind kind) {
  return kind == StockKind::kBjt1k ? CardSize::k1K : CardSize::k4K;
}

Bytes StockUid(uint64_t seed) {
  StockRandom rnd(seed ^ 0x5549445345454421ULL);
  Bytes uid(4);
  do {
    rnd.Fill(uid.data(), uid.size());
  } while (uid[0] == 0x08 || uid == Bytes(4, 0));
  return uid;
}

Bytes MakeBlankStock(StockKind kind, uint64_t seed) {
  return MakeBlankStock(kind, seed, StockUid(seed));
}

Bytes MakeBlankStock(StockKind kind, uint64_t seed, ByteView uid) {
  if (uid.size() != 4 && uid.size() != 7) {
    throw std::invalid_argument("MakeBlankStock: UID must be 4 or 7 bytes");
  }
  const CardSize size = StockCardSize(kind);
  Bytes image(ImageSize(size), 0);
  StockRandom rnd(seed);

  // Block 0: manufacturer block.
  uint8_t* b0 = BlockPtr(image, 0);
  std::copy(uid.begin(), uid.end(), b0);
  size_t at = uid.size();
  if (uid.size() == 4) b0[at++] = static_cast<uint8_t>(uid[0] ^ uid[1] ^ uid[2] ^ uid[3]);
  b0[at++] = size == CardSize::k1K ? 0x08 : 0x18;  // SAK
  b0[at++] = uid.size() == 4 ? 0x04 : 0x44;        // ATQA
  b0[at++] = 0x00;
  rnd.Fill(b0 + at, kBlockSize - at);

  const AccessConditions mad{{4, 4, 4, 3}};
  const AccessConditions wallet{{6, 4, 4, 3}};

  for (int s = 0; s < SectorCount(size); ++s) {
    std::array<uint8_t, 6> key_a{}, key_b{};
    if (s == 0 || s == 16) {
      if (s == 16 && size == CardSize::k1K) continue;
      rnd.Fill(key_b.data(), key_b.size());
      const uint8_t gpb = size == CardSize::k1K ? 0xC1 : 0xC2;
      PutTrailer(image, s, kMadKeyA, mad, gpb, key_b);
    } else if (DefaultAid(s) == kAidTransit) {
      rnd.Fill(key_a.data(), key_a.size());
      rnd.Fill(key_b.data(), key_b.size());
      PutTrailer(image, s, key_a, wallet, 0x00, key_b);
      const uint32_t balance = (static_cast<uint32_t>(rnd.Byte()) << 8 | rnd.Byte()) * 10;
      PutValueBlock(BlockPtr(image, FirstBlockOfSector(s)), balance,
                    static_cast<uint8_t>(FirstBlockOfSector(s)));
    } else {
      std::copy(kTransportTrailer.begin(), kTransportTrailer.end(),
                BlockPtr(image, TrailerBlockOfSector(s)));
    }
  }
  PutMad(image, 0, 1, 15, 0x00, &DefaultAid);
  if (size == CardSize::k4K) PutMad(image, 16, 17, 23, 0x00, &DefaultAid);
  return image;
}

Result<Bytes> UidFromImage(ByteView image) {
  if (image.size() < kBlockSize) {
    return Status(Code::kInvalidField, "card image has no block 0", "image");
  }
  // 7-byte layout: UID(7) SAK ATQA(44 00); 4-byte layout: UID(4) BCC SAK ATQA(04 00).
  const bool sak_at_7 = image[7] == 0x08 || image[7] == 0x18;
  const bool double_size_atqa_at_8 = (image[8] & 0xC0) == 0x40;
  if (sak_at_7 && double_size_atqa_at_8) return Bytes(image.begin(), image.begin() + 7);
  const uint8_t bcc = image[0] ^ image[1] ^ image[2] ^ image[3];
  if (image[4] == bcc) return Bytes(image.begin(), image.begin() + 4);
  return Bytes(image.begin(), image.begin() + 7);
}

std::optional<Bytes> SerialStockUid(std::string_view bureau, uint32_t serial) {
  // FNV-1a of the bureau id keys the permutation.
  uint32_t key = 2166136261u;
  for (char c : bureau) key = (key ^ static_cast<uint8_t>(c)) * 16777619u;
  // Each step is a bijection of 32-bit words, so distinct serials give
  // distinct UIDs (xor, odd multiply, xorshift).
  uint32_t x = serial ^ key;
  x *= 0x9E3779B1u;
  x ^= x >> 15;
  x *= 0x85EBCA77u;
  x ^= x >> 13;
  x ^= key >> 7;
  Bytes uid = {static_cast<uint8_t>(x >> 24), static_cast<uint8_t>(x >> 16),
               static_cast<uint8_t>(x >> 8), static_cast<uint8_t>(x)};
  if (uid[0] == 0x08 || uid[0] == 0x88 || x == 0) return std::nullopt;
  return uid;
}

namespace {

// The counter's current value (0 for a new or empty file).
uint64_t ReadSerial(int fd, Status* error) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n < 0) {
    *error = Status(Code::kIoError, std::string("stock serial read: ") + std::strerror(errno));
    return 0;
  }
  uint64_t serial = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) {
    serial = serial * 10 + static_cast<uint64_t>(buf[i] - '0');
  }
  return serial;
}

uint64_t SerialLimit(uint32_t base) { return base == 0 ? kSerialBase4k - 1 : 0xFFFFFFFFull - base; }

}  // namespace

uint32_t StockSerialBase(StockKind kind) { return kind == StockKind::kBjt4k ? kSerialBase4k : 0; }

std::filesystem::path StockSerialFile(const std::filesystem::path& serial_file, StockKind kind) {
  if (kind == StockKind::kBjt1k) return serial_file;
  return std::filesystem::path(serial_file.string() + "-4k");
}

Result<Bytes> NextStockUid(const std::filesystem::path& serial_file, std::string_view bureau,
                           uint32_t base) {
  const UniqueFd owner(::open(serial_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  const int fd = owner.handle();  // closing it also releases the flock
  if (fd < 0) {
    return Status(Code::kIoError,
                  "stock serial " + serial_file.string() + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX) != 0) {
    return Status(Code::kIoError, std::string("stock serial lock: ") + std::strerror(errno));
  }
  Status error;
  uint64_t serial = ReadSerial(fd, &error);
  if (!error.ok()) return error;
  std::optional<Bytes> uid;
  do {
    ++serial;
    if (serial > SerialLimit(base)) return Status(Code::kIoError, "stock serials exhausted");
    uid = SerialStockUid(bureau, static_cast<uint32_t>(serial + base));
  } while (!uid);
  const std::string text = std::to_string(serial) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd) != 0) {
    return Status(Code::kIoError, std::string("stock serial write: ") + std::strerror(errno));
  }
  return *uid;
}

Result<std::vector<SerialUid>> PeekStockUids(const std::filesystem::path& serial_file,
                                             std::string_view bureau, uint32_t base, int count) {
  uint64_t serial = 0;
  const UniqueFd owner(::open(serial_file.c_str(), O_RDONLY | O_CLOEXEC));
  const int fd = owner.handle();
  if (fd >= 0) {
    if (::flock(fd, LOCK_SH) != 0) {
      return Status(Code::kIoError, std::string("stock serial lock: ") + std::strerror(errno));
    }
    Status error;
    serial = ReadSerial(fd, &error);
    if (!error.ok()) return error;
  } else if (errno != ENOENT) {
    return Status(Code::kIoError,
                  "stock serial " + serial_file.string() + ": " + std::strerror(errno));
  }
  std::vector<SerialUid> out;
  while (static_cast<int>(out.size()) < count) {
    ++serial;
    if (serial > SerialLimit(base)) return Status(Code::kIoError, "stock serials exhausted");
    auto uid = SerialStockUid(bureau, static_cast<uint32_t>(serial + base));
    if (uid) out.push_back(SerialUid{static_cast<uint32_t>(serial), std::move(*uid)});
  }
  return out;
}

}  // namespace cardbureau::devices
