// The card output writer: the packed K mask bit for bit, and output files
// written with O_DIRECT (the default) against buffered writes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "cardbureau/core/file.h"
#include "cardbureau/layout/card_renderer.h"

namespace cardbureau::layout {
namespace {

namespace fs = std::filesystem;

Bytes ReadFile(const std::string& path) {
  auto text = ReadFileWithLimit(path, size_t{64} << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? ToBytes(*text) : Bytes();
}

// A folder under the test temp dir, emptied first.
std::string TestDir(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "cardbureau-outputs-" + name + "-" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(PackMaskTest, EveryBitMatchesThePixel) {
  cv::RNG rng(11);
  for (int width : {1, 7, 8, 9, 13, 64, 1016, 1017}) {
    cv::Mat mask(5, width, CV_8UC1);
    rng.fill(mask, cv::RNG::UNIFORM, 0, 256);
    // About half the pixels zero; the rest any nonzero value (1, 0x80 and
    // 0xFF included), since "set" is any nonzero byte.
    for (int y = 0; y < mask.rows; ++y) {
      for (int x = 0; x < width; ++x) {
        uint8_t& v = mask.at<uint8_t>(y, x);
        if (v < 128)
          v = 0;
        else if (v < 140)
          v = 1;
        else if (v < 150)
          v = 0x80;
      }
    }
    const Bytes packed = PackMask(mask);
    const size_t stride = (static_cast<size_t>(width) + 7) / 8;
    ASSERT_EQ(packed.size(), stride * 5) << width;
    for (int y = 0; y < mask.rows; ++y) {
      for (size_t b = 0; b < stride; ++b) {
        uint8_t want = 0;
        for (int i = 0; i < 8; ++i) {
          const int x = static_cast<int>(b * 8) + i;
          if (x < width && mask.at<uint8_t>(y, x)) want = static_cast<uint8_t>(want | (0x80 >> i));
        }
        ASSERT_EQ(packed[static_cast<size_t>(y) * stride + b], want)
            << "width " << width << " row " << y << " byte " << b;
      }
    }
  }
}

TEST(WriteOutputFileTest, DirectAndBufferedWriteTheSameBytes) {
  const std::string dir = TestDir("bytes");
  cv::RNG rng(5);
  Bytes data(1016 * 648 * 3 + 4096 + 1);
  rng.fill(cv::Mat(1, static_cast<int>(data.size()), CV_8UC1, data.data()), cv::RNG::UNIFORM, 0,
           256);
  // Sizes around the O_DIRECT threshold (128 kB) and block size (4 kB);
  // offset 1 makes the source unaligned (the writer copies it to aligned
  // memory), offset 0 is as std::vector allocates it.
  for (size_t n : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{131071}, size_t{131072},
                   size_t{131073}, size_t{1016 * 648 * 3}, size_t{1016 * 648 * 3 + 4096}}) {
    for (size_t offset : {size_t{0}, size_t{1}}) {
      for (bool direct : {true, false}) {
        const std::string path = dir + "/f-" + std::to_string(n) + "-" + std::to_string(offset) +
                                 (direct ? "-direct" : "-buffered");
        // An existing longer file is truncated, not overwritten in place.
        std::ofstream(path, std::ios::binary) << std::string(n + 9000, 'x');
        const ByteView view(data.data() + offset, n);
        ASSERT_TRUE(WriteOutputFile(path, view, {.direct_io = direct}).ok()) << path;
        const Bytes back = ReadFile(path);
        ASSERT_EQ(back.size(), n) << path;
        EXPECT_TRUE(std::equal(back.begin(), back.end(), view.begin())) << path;
      }
    }
  }
  fs::remove_all(dir);
}

TEST(WriteOutputFileTest, ErrorsAreIoErrors) {
  const Bytes data(200000, 7);
  for (bool direct : {true, false}) {
    Status s = WriteOutputFile("/nonexistent-dir/front.rgb", data, {.direct_io = direct});
    EXPECT_EQ(s.code(), Code::kIoError);
    EXPECT_NE(s.message().find("/nonexistent-dir/front.rgb"), std::string::npos) << s;
  }
}

// Pages of `path` in the page cache, of its first `n` bytes.
size_t ResidentPages(const std::string& path, size_t n) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SIZE_MAX;
  void* map = ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0);  // maps, reads nothing
  ::close(fd);
  if (map == MAP_FAILED) return SIZE_MAX;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((n + page - 1) / page);
  const int rc = ::mincore(map, n, vec.data());
  ::munmap(map, n);
  if (rc != 0) return SIZE_MAX;
  size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

// Whether the filesystem of `dir` takes O_DIRECT writes at all.
bool DirectIoWorks(const std::string& dir) {
  const std::string probe = dir + "/probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
  if (fd < 0) return false;
  void* buf = std::aligned_alloc(4096, 4096);
  std::memset(buf, 0, 4096);
  const bool ok = ::write(fd, buf, 4096) == 4096;
  std::free(buf);
  ::close(fd);
  fs::remove(probe);
  return ok;
}

TEST(WriteOutputFileTest, DirectWritesBypassThePageCache) {
  const std::string dir = TestDir("cache");
  // Where the filesystem refuses O_DIRECT, the writer falls back to
  // buffered writes, and then the pages are cached like any others.
  const bool direct_works = DirectIoWorks(dir);
  const size_t n = 1016 * 648 * 3;  // a raw panel buffer: 482 whole pages and a tail
  const Bytes data(n, 0x5A);
  const size_t whole_pages = n / 4096;
  ASSERT_TRUE(WriteOutputFile(dir + "/direct.rgb", data, {.direct_io = true}).ok());
  ASSERT_TRUE(WriteOutputFile(dir + "/buffered.rgb", data, {.direct_io = false}).ok());
  // The buffered file sits in the cache (dirty, not yet written back); the
  // direct one went to the device, only its partial last page through the
  // cache.
  EXPECT_EQ(ResidentPages(dir + "/buffered.rgb", whole_pages * 4096), whole_pages);
  EXPECT_EQ(ResidentPages(dir + "/direct.rgb", whole_pages * 4096), direct_works ? 0u : whole_pages)
      << "O_DIRECT " << (direct_works ? "taken" : "refused") << " by the filesystem of " << dir;
  EXPECT_EQ(ReadFile(dir + "/direct.rgb"), data);
  // A small file is written buffered even with direct_io.
  const Bytes small(82296, 0x11);  // a packed K mask
  ASSERT_TRUE(WriteOutputFile(dir + "/front-k.bin", small, {.direct_io = true}).ok());
  EXPECT_EQ(ResidentPages(dir + "/front-k.bin", 81920), 20u);
  fs::remove_all(dir);
}

// A card as the renderer hands it over: noise faces (every PNG byte a
// literal, the worst case) with flat areas, masks with text-like bits.
RenderedCard NoiseCard(int width, int height) {
  cv::RNG rng(static_cast<uint64_t>(width) * 7919u + static_cast<uint64_t>(height));
  RenderedCard card;
  for (cv::Mat* face : {&card.images.front, &card.images.back}) {
    *face = cv::Mat(height, width, CV_8UC3);
    rng.fill(*face, cv::RNG::UNIFORM, 0, 256);
    (*face)(cv::Rect(0, 0, width, height / 3)).setTo(cv::Scalar(0, 196, 245));
  }
  for (cv::Mat* k : {&card.images.front_k, &card.images.back_k}) {
    *k = cv::Mat::zeros(height, width, CV_8UC1);
    cv::Mat noise(height, width, CV_8UC1);
    rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
    k->setTo(255, noise > 200);
  }
  return card;
}

constexpr const char* kOutputs[] = {"front.png", "back.png", "front-k.png", "back-k.png",
                                    "front.rgb", "back.rgb", "front-k.bin", "back-k.bin"};

TEST(WriteCardOutputsTest, DirectAndBufferedWriteTheSameFiles) {
  // The 300 dpi panel, the 600 dpi one, and a face whose raw buffer is a
  // whole number of 4 kB blocks (no buffered tail).
  for (cv::Size size : {cv::Size(1016, 648), cv::Size(2032, 1296), cv::Size(1024, 512)}) {
    const RenderedCard card = NoiseCard(size.width, size.height);
    const std::string dir = TestDir("card");
    // Written twice into the same folder: the second write truncates.
    ASSERT_TRUE(WriteCardOutputs(card, dir + "/direct", {.direct_io = true}).ok());
    ASSERT_TRUE(WriteCardOutputs(card, dir + "/direct", {.direct_io = true}).ok());
    // O_DIRECT without AIO: each direct write waited for in turn.
    ASSERT_TRUE(
        WriteCardOutputs(card, dir + "/direct-sync", {.direct_io = true, .aio = false}).ok());
    ASSERT_TRUE(WriteCardOutputs(card, dir + "/buffered", {.direct_io = false}).ok());
    for (const char* name : kOutputs) {
      const Bytes direct = ReadFile(dir + "/direct/" + name),
                  sync = ReadFile(dir + "/direct-sync/" + name),
                  buffered = ReadFile(dir + "/buffered/" + name);
      ASSERT_FALSE(buffered.empty()) << name;
      EXPECT_EQ(direct, buffered) << name << " at " << size;
      EXPECT_EQ(sync, buffered) << name << " at " << size;
    }
    const Bytes rgb = ReadFile(dir + "/direct/back.rgb");
    ASSERT_EQ(rgb.size(), static_cast<size_t>(size.area()) * 3);
    const cv::Vec3b px = card.images.back.at<cv::Vec3b>(size.height - 1, size.width - 1);
    EXPECT_EQ(rgb[rgb.size() - 3], px[2]);  // the last pixel, in RGB order
    EXPECT_EQ(rgb[rgb.size() - 1], px[0]);
    const cv::Mat png = cv::imread(dir + "/direct/front.png", cv::IMREAD_COLOR);
    EXPECT_EQ(cv::norm(png, card.images.front, cv::NORM_INF), 0);
    fs::remove_all(dir);
  }
}

TEST(WriteCardOutputsTest, LargeFilesBypassThePageCache) {
  const std::string dir = TestDir("card-cache");
  const bool direct_works = DirectIoWorks(dir);  // else: buffered, cached
  const RenderedCard card = NoiseCard(1016, 648);
  ASSERT_TRUE(WriteCardOutputs(card, dir, {.direct_io = true}).ok());
  for (const char* name : {"front.rgb", "back.rgb", "front.png", "back.png"}) {
    const size_t whole = fs::file_size(dir + "/" + name) / 4096 * 4096;
    ASSERT_GT(whole, 0u) << name;
    EXPECT_EQ(ResidentPages(dir + "/" + name, whole), direct_works ? 0u : whole / 4096)
        << name << ": O_DIRECT " << (direct_works ? "taken" : "refused") << " by the filesystem of "
        << dir;
  }
  EXPECT_EQ(ResidentPages(dir + "/front-k.bin", 81920), 20u);  // small: buffered
  fs::remove_all(dir);
}

TEST(WriteCardOutputsTest, EveryFilesystemAtHandGetsTheSameBytes) {
  // The test temp dir and, where the machine has it, /dev/shm (tmpfs:
  // O_DIRECT refused there before Linux 6.6, taken since): the default
  // writer's files equal buffered ones on each.
  const RenderedCard card = NoiseCard(1016, 648);
  const std::string reference = TestDir("card-reference");
  ASSERT_TRUE(WriteCardOutputs(card, reference, {.direct_io = false}).ok());
  std::vector<std::string> dirs = {TestDir("card-tempdir")};
  if (fs::is_directory("/dev/shm"))
    dirs.push_back("/dev/shm/cardbureau-outputs-" + std::to_string(::getpid()));
  for (const std::string& dir : dirs) {
    fs::remove_all(dir);
    ASSERT_TRUE(WriteCardOutputs(card, dir, {.direct_io = true}).ok()) << dir;
    for (const char* name : kOutputs)
      EXPECT_EQ(ReadFile(dir + "/" + name), ReadFile(reference + "/" + name)) << dir << "/" << name;
    fs::remove_all(dir);
  }
  fs::remove_all(reference);
}

TEST(WriteCardOutputsTest, UnwritableFolderIsAnIoErrorAndTheNextCardIsWhole) {
  const RenderedCard card = NoiseCard(1016, 648);
  const std::string dir = TestDir("card-error");
  std::ofstream(dir + "/a-file") << "x";
  for (bool direct : {true, false}) {
    EXPECT_EQ(WriteCardOutputs(card, dir + "/a-file/card", {.direct_io = direct}).code(),
              Code::kIoError);
  }
  // A file in the way of one output: the call fails after the panel
  // buffers were submitted, and waits for them before returning.
  fs::create_directories(dir + "/blocked/front-k.png");
  EXPECT_EQ(WriteCardOutputs(card, dir + "/blocked", {.direct_io = true}).code(), Code::kIoError);
  // The panel buffers in flight are removed: sized before they were
  // written, they must not pass for whole files.
  EXPECT_FALSE(fs::exists(dir + "/blocked/front.rgb"));
  EXPECT_FALSE(fs::exists(dir + "/blocked/back.rgb"));
  // The per-thread buffers are whole again for the next card.
  const RenderedCard other = NoiseCard(1024, 512);
  ASSERT_TRUE(WriteCardOutputs(other, dir + "/next", {.direct_io = true}).ok());
  ASSERT_TRUE(WriteCardOutputs(other, dir + "/next-buffered", {.direct_io = false}).ok());
  for (const char* name : kOutputs) {
    EXPECT_EQ(ReadFile(dir + "/next/" + name), ReadFile(dir + "/next-buffered/" + name)) << name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::layout
