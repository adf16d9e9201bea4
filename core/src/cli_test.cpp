#include "cardbureau/core/cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace cardbureau::cli {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kCommands = {"serve", "centre",  "validate", "render", "verify",
                                            "read",  "readers", "encode",   "keygen", "history",
                                            "audit", "vcard",   "qr-verify"};

TEST(CliTest, EditDistanceCountsEditsAndSwaps) {
  EXPECT_EQ(EditDistance("verify", "verify"), 0u);
  EXPECT_EQ(EditDistance("verfy", "verify"), 1u);
  EXPECT_EQ(EditDistance("verfiy", "verify"), 1u);  // adjacent swap
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(CliTest, DidYouMeanNamesTheClosestCommands) {
  EXPECT_EQ(DidYouMean("verfy", kCommands), "did you mean 'verify'?");
  EXPECT_EQ(DidYouMean("serv", kCommands), "did you mean 'serve'?");
  EXPECT_EQ(DidYouMean("rea", kCommands), "did you mean 'read' or 'readers'?");
  EXPECT_EQ(DidYouMean("frobnicate", kCommands), "");
  EXPECT_EQ(DidYouMean("", kCommands), "");
}

TEST(CliTest, ExitCodesFollowTheConvention) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), kExitOk);
  EXPECT_EQ(ExitCodeFor(Status(Code::kInvalidField, "x")), kExitRefused);
  EXPECT_EQ(ExitCodeFor(Status(Code::kKeyFileInsecure, "x")), kExitRefused);
  EXPECT_EQ(ExitCodeFor(Status(Code::kIoError, "x")), kExitRuntime);
  EXPECT_EQ(ExitCodeFor(Status(Code::kCardRemoved, "x")), kExitRuntime);
}

class CliPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cb-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "file.txt") << "x";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CliPathTest, MessagesNameThePathAndTheReason) {
  EXPECT_TRUE(CheckInputFile((dir_ / "file.txt").string(), "job").ok());
  Status s = CheckInputFile(dir_.string(), "job");
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(s.field(), "job");
  EXPECT_NE(s.message().find(dir_.string() + " is a directory"), std::string::npos) << s;
  s = CheckInputFile((dir_ / "none.json").string(), "job");
  EXPECT_NE(s.message().find("none.json: no such file"), std::string::npos) << s;
  s = CheckInputFile((dir_ / "missing/deeper/x.json").string(), "job");
  EXPECT_NE(s.message().find("the folder " + (dir_ / "missing").string() + " does not exist"),
            std::string::npos)
      << s;
  s = CheckOutputFile((dir_ / "missing/x").string(), "out");
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find("the folder " + (dir_ / "missing").string() + " does not exist"),
            std::string::npos)
      << s;
  EXPECT_TRUE(CheckOutputFile((dir_ / "new.key").string(), "out").ok());
  s = CheckOutputFile(dir_.string(), "out");
  EXPECT_NE(s.message().find("it is a directory"), std::string::npos) << s;
  s = CheckOutputFile((dir_ / "file.txt/x").string(), "out");
  EXPECT_NE(s.message().find("file.txt is not a folder"), std::string::npos) << s;
  EXPECT_TRUE(CheckOutputDir((dir_ / "a/b/c").string(), "out").ok());
  s = CheckOutputDir((dir_ / "file.txt").string(), "out");
  EXPECT_NE(s.message().find("it is a file"), std::string::npos) << s;
  EXPECT_TRUE(CheckInputDir(dir_.string(), "data").ok());
  EXPECT_FALSE(CheckInputDir((dir_ / "file.txt").string(), "data").ok());
}

int ParseWith(Cli& cli, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  auto rc = cli.Parse(static_cast<int>(argv.size()), argv.data());
  return rc ? *rc : -1;
}

TEST(CliTest, UsageErrorsAreOneLineAndATryLine) {
  std::string image, reader;
  Cli cli("verify", "--image F | --reader N", "Checks a card.");
  cli.Options()("image", po::value(&image), "dump")("reader", po::value(&reader), "reader");
  cli.Example("cardbureau verify --image card.mfd");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(ParseWith(cli, {"verify", "--imgae", "x"}), kExitUsage);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "cardbureau verify: unknown option '--imgae'; did you mean '--image'?\n"
            "Try 'cardbureau verify --help'\n");

  Cli both("verify", "--image F | --reader N", "Checks a card.");
  both.Options()("image", po::value(&image), "dump")("reader", po::value(&reader), "reader");
  EXPECT_EQ(ParseWith(both, {"verify", "--image", "a", "--reader", "b"}), -1);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(both.Exclusive("image", "reader"), kExitUsage);
  EXPECT_EQ(both.Require({"image"}), std::nullopt);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "cardbureau verify: --image and --reader are exclusive: give one\n"
            "Try 'cardbureau verify --help'\n");

  // Has(): a switch is given, an empty string value is not, a default is not.
  std::string empty_value;
  int port = 0;
  Cli has("x", "[--json]", "X.");
  has.Options()("json", "switch")("name", po::value(&empty_value), "a string")(
      "port", po::value(&port)->default_value(1), "a number");
  EXPECT_EQ(ParseWith(has, {"x", "--json", "--name", ""}), -1);
  EXPECT_TRUE(has.Has("json"));
  EXPECT_FALSE(has.Has("name"));
  EXPECT_FALSE(has.Has("port"));

  ::testing::internal::CaptureStdout();
  Cli help("verify", "--image F", "Checks a card.");
  help.Example("cardbureau verify --image card.mfd");
  EXPECT_EQ(ParseWith(help, {"verify", "--help"}), kExitOk);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out.rfind("Usage: cardbureau verify --image F\n", 0), 0u) << out;
  EXPECT_NE(out.find("Example:\n  cardbureau verify --image card.mfd\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace cardbureau::cli
