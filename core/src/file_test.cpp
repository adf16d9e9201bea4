#include "cardbureau/core/file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cardbureau/core/unique_fd.h"

namespace cardbureau {
namespace {

namespace fs = std::filesystem;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cb-file-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Names in dir_ other than `keep` (left-over temporary files).
  std::vector<std::string> Others(const std::string& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename() != keep) out.push_back(e.path().filename().string());
    }
    return out;
  }
  fs::path dir_;
};

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST_F(FileTest, ReadFileWithLimitReadsUpToTheLimitAndRefusesMore) {
  const auto path = dir_ / "f";
  std::ofstream(path, std::ios::binary) << std::string(70000, 'x');  // more than one chunk
  auto ok = ReadFileWithLimit(path, 70000);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, std::string(70000, 'x'));
  EXPECT_EQ(ReadFileWithLimit(path.string(), 69999).status().code(), Code::kInputTooLarge);
  std::ofstream(dir_ / "empty", std::ios::binary).flush();
  auto empty = ReadFileWithLimit(dir_ / "empty", 0);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST_F(FileTest, ReadFileWithLimitNamesThePathOfAMissingFileOrAFolder) {
  auto missing = ReadFileWithLimit(dir_ / "nope", 10);
  EXPECT_EQ(missing.status().code(), Code::kIoError);
  EXPECT_NE(missing.status().message().find((dir_ / "nope").string()), std::string::npos);
  // A folder opens but does not read: an error, not an empty file.
  EXPECT_EQ(ReadFileWithLimit(dir_, 10).status().code(), Code::kIoError);
}

TEST_F(FileTest, ReadFileWithLimitBoundsAStreamWithoutASize) {
  const auto fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // The writer stops when the reader closes (EPIPE): the read must stop
  // at the limit, not wait for an end of file that never comes.
  std::thread writer([&] {
    ::signal(SIGPIPE, SIG_IGN);
    UniqueFd w(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
    const std::string block(4096, 'y');
    for (int i = 0; i < 1024; ++i) {
      if (::write(w.handle(), block.data(), block.size()) < 0) break;
    }
  });
  auto r = ReadFileWithLimit(fifo, 10000);
  writer.join();
  EXPECT_EQ(r.status().code(), Code::kInputTooLarge);
}

TEST_F(FileTest, UniqueFdClosesOnceOnDestructionCloseOrMove) {
  int raw = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd a(raw);
    EXPECT_TRUE(a.valid());
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state
    EXPECT_EQ(b.handle(), raw);
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));

  UniqueFd c(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const int c_raw = c.handle();
  EXPECT_EQ(c.Close(), 0);
  EXPECT_FALSE(c.valid());
  EXPECT_FALSE(IsOpen(c_raw));
  EXPECT_EQ(c.Close(), 0);  // idempotent

  UniqueFd d(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd e(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const int d_raw = d.handle();
  const int e_raw = e.handle();
  d = std::move(e);  // closes d's own descriptor, takes e's
  EXPECT_FALSE(IsOpen(d_raw));
  EXPECT_EQ(d.handle(), e_raw);
  const int released = d.Release();
  EXPECT_FALSE(d.valid());
  EXPECT_TRUE(IsOpen(released));  // the caller owns it now
  ::close(released);
}

TEST_F(FileTest, WriteFileAtomicReplacesTheFileWithTheModeAndLeavesNoTemporary) {
  const auto path = dir_ / "record.json";
  std::ofstream(path) << "old";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("new contents")).ok());
  EXPECT_EQ(Slurp(path), "new contents");
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);  // 0600 by default
  EXPECT_TRUE(Others("record.json").empty());

  const auto shared = dir_ / "shared.png";
  ASSERT_TRUE(WriteFileAtomic(shared, AsBytes("x"), {.mode = 0640}).ok());
  EXPECT_EQ(fs::status(shared).permissions() & fs::perms::group_all, fs::perms::group_read);
}

TEST_F(FileTest, WriteFileAtomicCreatesParentsOnlyWhenAsked) {
  const auto path = dir_ / "a" / "b" / "card.mfd";
  auto refused = WriteFileAtomic(path, AsBytes("x"));
  EXPECT_EQ(refused.code(), Code::kIoError);
  EXPECT_FALSE(fs::exists(dir_ / "a"));
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("x"), {.create_parents = true}).ok());
  EXPECT_EQ(Slurp(path), "x");
}

TEST_F(FileTest, WriteFileAtomicThatFailsKeepsTheOldFileAndRemovesItsTemporary) {
  // The target is a non-empty folder: the rename fails after the
  // temporary file was written and synced.
  const auto path = dir_ / "busy";
  fs::create_directories(path / "inside");
  auto s = WriteFileAtomic(path, AsBytes("data"));
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find("rename"), std::string::npos) << s;
  EXPECT_TRUE(fs::is_directory(path / "inside"));
  EXPECT_TRUE(Others("busy").empty());
}

TEST_F(FileTest, FsyncDirectoryNamesAMissingFolder) {
  EXPECT_TRUE(FsyncDirectory(dir_).ok());
  auto s = FsyncDirectory(dir_ / "gone");
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find((dir_ / "gone").string()), std::string::npos);
}

}  // namespace
}  // namespace cardbureau
