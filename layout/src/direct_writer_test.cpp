// DirectWriter (direct_writer.h): O_DIRECT files by libaio and
// synchronously write the bytes they were given, whatever the size; the
// error paths leave no file that could pass for a whole one.
#include "direct_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/file.h"

namespace cardbureau::layout::output {
namespace {

namespace fs = std::filesystem;

std::string TestDir(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "cardbureau-direct-writer-" + name + "-" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

Bytes Pattern(size_t n, uint32_t seed) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    b[i] = static_cast<uint8_t>(x >> 24);
  }
  return b;
}

Bytes ReadAll(const std::string& path) {
  auto text = ReadFileWithLimit(path, size_t{64} << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? ToBytes(*text) : Bytes();
}

using Mode = DirectWriter::Mode;

class DirectWriterTest : public ::testing::TestWithParam<Mode> {};

// Sizes under a block, on a block boundary, with a partial last block, and
// a card's panel buffer (1016 x 648 x 3).
TEST_P(DirectWriterTest, EverySizeGetsItsBytes) {
  const std::string dir = TestDir(GetParam() == Mode::kAio ? "sizes-aio" : "sizes-sync");
  DirectWriter w(GetParam());
  EXPECT_EQ(w.async(), GetParam() == Mode::kAio) << "io_setup refused (fs.aio-max-nr reached?)";
  const std::vector<size_t> sizes = {
      1, 4095, 4096, 4097, kDirectIoAlign * 300 + 17, size_t{1016} * 648 * 3};
  uint32_t seed = 1;
  for (size_t n : sizes) {
    const Bytes data = Pattern(n, seed++);
    std::memcpy(w.Buffer(0, n), data.data(), n);
    const std::string path = dir + "/f" + std::to_string(n);
    ASSERT_TRUE(w.Submit(0, path, n).ok()) << n;
    ASSERT_TRUE(w.Finish().ok()) << n;
    EXPECT_EQ(fs::file_size(path), n);
    EXPECT_TRUE(ReadAll(path) == data) << n;
  }
}

// Every slot in flight at once, then a second round over the same slots
// and files (truncated, not appended; the aligned buffers reused).
TEST_P(DirectWriterTest, FourFilesInFlightAndAgain) {
  const std::string dir = TestDir(GetParam() == Mode::kAio ? "slots-aio" : "slots-sync");
  DirectWriter w(GetParam());
  for (uint32_t round = 0; round < 2; ++round) {
    std::vector<Bytes> want;
    for (size_t slot = 0; slot < DirectWriter::kSlots; ++slot) {
      const size_t n = (round == 0 ? 2'000'000 : 300'000) + slot * 1000 + 3;
      want.push_back(Pattern(n, static_cast<uint32_t>(10 * round + slot)));
      std::memcpy(w.Buffer(slot, n), want.back().data(), n);
      ASSERT_TRUE(w.Submit(slot, dir + "/s" + std::to_string(slot), n).ok());
    }
    ASSERT_TRUE(w.Finish().ok());
    for (size_t slot = 0; slot < DirectWriter::kSlots; ++slot) {
      EXPECT_TRUE(ReadAll(dir + "/s" + std::to_string(slot)) == want[slot]) << round << " " << slot;
    }
  }
}

TEST_P(DirectWriterTest, UnopenablePathIsAnIoErrorAndLeavesNoFile) {
  const std::string dir = TestDir(GetParam() == Mode::kAio ? "err-aio" : "err-sync");
  DirectWriter w(GetParam());
  const size_t n = kDirectIoAlign * 64 + 5;
  const Bytes data = Pattern(n, 7);
  std::memcpy(w.Buffer(0, n), data.data(), n);
  Status s = w.Submit(0, dir + "/missing/front.rgb", n);
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find("missing/front.rgb"), std::string::npos) << s;
  EXPECT_TRUE(w.Finish().ok());  // nothing in flight
  EXPECT_FALSE(fs::exists(dir + "/missing"));
  // The writer is still good.
  ASSERT_TRUE(w.Submit(0, dir + "/ok.rgb", n).ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_TRUE(ReadAll(dir + "/ok.rgb") == data);
}

std::string ModeName(const ::testing::TestParamInfo<Mode>& p) {
  return p.param == Mode::kAio ? "Aio" : "Sync";
}
INSTANTIATE_TEST_SUITE_P(Modes, DirectWriterTest, ::testing::Values(Mode::kAio, Mode::kSync),
                         ModeName);

// An early error return Drains instead of Finishing: the files still in
// flight were sized before their data landed, so they are removed rather
// than left as zeros of the right length.
TEST(DirectWriterDrainTest, DrainRemovesFilesLeftInFlight) {
  const std::string dir = TestDir("drain");
  DirectWriter w(Mode::kAio);
  ASSERT_TRUE(w.async()) << "io_setup refused (fs.aio-max-nr reached?)";
  const size_t n = 2'000'000;
  for (size_t slot = 0; slot < 2; ++slot) {
    std::memset(w.Buffer(slot, n), 0x5a, n);
    ASSERT_TRUE(w.Submit(slot, dir + "/d" + std::to_string(slot), n).ok());
  }
  w.Drain();
  EXPECT_FALSE(fs::exists(dir + "/d0"));
  EXPECT_FALSE(fs::exists(dir + "/d1"));
  EXPECT_TRUE(w.Finish().ok());  // nothing left
  // The destructor drains too: a writer going away mid-card leaves no file.
  {
    DirectWriter w2(Mode::kAio);
    std::memset(w2.Buffer(0, n), 1, n);
    ASSERT_TRUE(w2.Submit(0, dir + "/gone", n).ok());
  }
  EXPECT_FALSE(fs::exists(dir + "/gone"));
}

TEST(WriteBytesTest, TruncatesAndReportsErrors) {
  const std::string dir = TestDir("bytes");
  const Bytes big = Pattern(10'000, 3), small = Pattern(10, 4);
  ASSERT_TRUE(WriteBytes(dir + "/x", big.data(), big.size()).ok());
  ASSERT_TRUE(WriteBytes(dir + "/x", small.data(), small.size()).ok());
  EXPECT_TRUE(ReadAll(dir + "/x") == small);
  EXPECT_EQ(WriteBytes(dir + "/no/x", small.data(), small.size()).code(), Code::kIoError);
}

}  // namespace
}  // namespace cardbureau::layout::output
