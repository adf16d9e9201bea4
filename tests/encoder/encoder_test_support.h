// Shared helpers for the encoder integration tests: fixture jobs, the test
// keystore, blank cards and image comparisons.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/personalizer.h"

namespace cardbureau::encoder::testing {

inline const std::filesystem::path kRepo = CARDBUREAU_SOURCE_DIR;

inline Job LoadJob(const std::string& name) {
  std::ifstream in(kRepo / "fixtures/jobs" / name);
  std::stringstream ss;
  ss << in.rdbuf();
  auto job = ParseJob(ss.str());
  EXPECT_TRUE(job.ok()) << name << ": " << job.status();
  Job j = job.value_or(Job{});
  const ManualClock clock = ManualClock::AtBeijingDate({2026, 11, 25});
  ValidationOptions opts;
  opts.clock = &clock;
  const Status s = ValidateJob(j, opts);
  EXPECT_TRUE(s.ok()) << name << ": " << s;
  return j;
}

// The TEST-ONLY keystore, parsed without the file-mode check (the mode
// check has its own tests; git does not keep 0600).
inline KeySet TestKeys() {
  std::ifstream in(kRepo / "fixtures/keys/keystore-test.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseKeystore(ss.str(), kRepo / "fixtures/keys").value();
}

inline EncodeParams Params(uint8_t seq = 1) {
  EncodeParams p;
  p.issued_on = {2026, 11, 25};
  p.issue_sequence = seq;
  return p;
}

inline std::shared_ptr<devices::MifareClassicEmulator> NewCard(devices::StockKind kind,
                                                               uint64_t seed) {
  Bytes image = devices::MakeBlankStock(kind, seed);
  Bytes uid = devices::UidFromImage(image).value();
  return std::make_shared<devices::MifareClassicEmulator>(std::move(image), std::move(uid));
}

// The bytes of every block NOT in a student sector (7-11 on the default
// stock): block 0, the MAD, transit and free sectors.
inline Bytes NonStudentBytes(ByteView image, const std::vector<int>& student_sectors) {
  Bytes out;
  const int blocks = static_cast<int>(image.size() / devices::kBlockSize);
  for (int b = 0; b < blocks; ++b) {
    const int sector = devices::SectorOfBlock(b);
    if (std::find(student_sectors.begin(), student_sectors.end(), sector) !=
        student_sectors.end()) {
      continue;
    }
    auto blk = image.subspan(static_cast<size_t>(b) * devices::kBlockSize, devices::kBlockSize);
    out.insert(out.end(), blk.begin(), blk.end());
  }
  return out;
}

// Every sector trailer in the image has consistent access bits (a sector
// with inconsistent ones is bricked for ever).
inline void ExpectNoBrickedSector(ByteView image) {
  const int sectors = image.size() == devices::kImageSize1K ? 16 : 40;
  for (int s = 0; s < sectors; ++s) {
    const size_t off = static_cast<size_t>(devices::TrailerBlockOfSector(s)) * devices::kBlockSize;
    EXPECT_TRUE(devices::DecodeAccessBits(image.subspan(off + 6, 3)).ok()) << "sector " << s;
  }
}

inline const std::vector<int> kDefaultStudentSectors = {7, 8, 9, 10, 11};

}  // namespace cardbureau::encoder::testing
