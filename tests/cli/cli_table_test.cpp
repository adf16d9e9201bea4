// The command line as an operator meets it, with the real executable: every
// subcommand x (no arguments, a mistyped option, a bad path or value,
// --help) -> exit code and first line (README "Subcommands"; core/cli.h).
// A command added to `cardbureau --help` without rows here fails
// EveryCommandHasRows.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cardbureau/testing/files.h"
#include "cardbureau/testing/process.h"

namespace cardbureau {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::RunCardbureau;

const std::string kSource = CARDBUREAU_SOURCE_DIR;
const std::string kJob = kSource + "/fixtures/jobs/valid-junior-reissue.json";
const std::string kPhoto = kSource + "/fixtures/photos/astronaut.png";
const std::string kPub = kSource + "/fixtures/keys/qr-test-ed25519.pub.pem";
const std::string kMissing = "/nonexistent-cb-dir";  // a folder that does not exist

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The names `cardbureau --help` lists under "Commands:".
std::vector<std::string> ListedCommands() {
  auto r = RunCardbureau({"--help"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> names;
  bool in_list = false;
  for (const auto& line : Lines(r.out)) {
    if (line == "Commands:") {
      in_list = true;
      continue;
    }
    if (in_list && line.empty()) break;
    if (in_list) names.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  return names;
}

enum class Kind { kNoArgs, kTypo, kBadPath, kHelp };

struct Row {
  std::string command;  // the first word (the one `cardbureau --help` lists)
  Kind kind;
  std::vector<std::string> args;
  int code;
  // Usage errors (2): the whole first line; other failures: its start, and
  // `contains` must be in it; --help: ignored (checked by rule).
  std::string first_line;
  std::string contains = "";
};

class CliTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cb-cli-table-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    testing::CopyTestKeys(kSource, dir_ / "keys");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<Row> Table() const {
    const std::string keys = (dir_ / "keys/keystore-test.json").string();
    const std::string tmp = dir_.string();
    auto usage = [](const std::string& cmd, const std::string& problem) {
      return "cardbureau " + cmd + ": " + problem;
    };
    auto typo = [&](const std::string& cmd, const std::string& bad, const std::string& good) {
      return usage(cmd, "unknown option '" + bad + "'; did you mean '" + good + "'?");
    };
    return {
        // validate
        {"validate", Kind::kNoArgs, {"validate"}, 2, usage("validate", "JOB.json is required")},
        {"validate",
         Kind::kTypo,
         {"validate", kJob, "--jsno"},
         2,
         typo("validate", "--jsno", "--json")},
        {"validate",
         Kind::kBadPath,
         {"validate", "/tmp"},
         3,
         "cardbureau validate: IO_ERROR job: /tmp is a directory, not a file"},
        {"validate", Kind::kHelp, {"validate", "--help"}, 0, ""},
        // render
        {"render",
         Kind::kNoArgs,
         {"render"},
         2,
         usage("render", "JOB.json, --photo and --out are required")},
        {"render",
         Kind::kTypo,
         {"render", kJob, "--phtoo", kPhoto},
         2,
         typo("render", "--phtoo", "--photo")},
        {"render",
         Kind::kBadPath,
         {"render", kMissing + "/jobs/job.json", "--photo", kPhoto, "--out", tmp + "/render",
          "--sign-key", (dir_ / "keys/qr-test-ed25519.pem").string()},
         3,
         "cardbureau render: IO_ERROR job: cannot open " + kMissing +
             "/jobs/job.json: the folder " + kMissing + " does not exist"},
        {"render", Kind::kHelp, {"render", "--help"}, 0, ""},
        // qr-verify
        {"qr-verify",
         Kind::kNoArgs,
         {"qr-verify"},
         2,
         usage("qr-verify", "one of --image or --payload is required")},
        {"qr-verify",
         Kind::kTypo,
         {"qr-verify", "--pubkye", kPub},
         2,
         typo("qr-verify", "--pubkye", "--pubkey")},
        {"qr-verify",
         Kind::kBadPath,
         {"qr-verify", "--image", tmp, "--pubkey", kPub},
         3,
         "cardbureau qr-verify: IO_ERROR image: " + tmp + " is a directory, not a file"},
        {"qr-verify", Kind::kHelp, {"qr-verify", "--help"}, 0, ""},
        // readers (pcscd made unreachable: PCSCLITE_CSOCK_NAME below)
        {"readers", Kind::kNoArgs, {"readers"}, 3, "cardbureau readers: ", ""},
        {"readers", Kind::kTypo, {"readers", "--wacth"}, 2, typo("readers", "--wacth", "--watch")},
        {"readers",
         Kind::kBadPath,
         {"readers", "--timeout", "soon"},
         2,
         usage("readers", "the argument ('soon') for option '--timeout' is invalid")},
        {"readers", Kind::kHelp, {"readers", "--help"}, 0, ""},
        // vcard
        {"vcard", Kind::kNoArgs, {"vcard"}, 2, usage("vcard", "--image is required")},
        {"vcard",
         Kind::kTypo,
         {"vcard", "--imgae", tmp + "/c.mfd"},
         2,
         typo("vcard", "--imgae", "--image")},
        {"vcard",
         Kind::kBadPath,
         {"vcard", "--image", kMissing + "/card.mfd"},
         3,
         "cardbureau vcard: IO_ERROR image: cannot write " + kMissing + "/card.mfd: the folder " +
             kMissing + " does not exist"},
        {"vcard", Kind::kHelp, {"vcard", "--help"}, 0, ""},
        // encode
        {"encode",
         Kind::kNoArgs,
         {"encode"},
         2,
         usage("encode", "--reader, --job and --keys are required")},
        {"encode",
         Kind::kTypo,
         {"encode", "--raeder", "X"},
         2,
         typo("encode", "--raeder", "--reader")},
        {"encode",
         Kind::kBadPath,
         {"encode", "--reader", "X", "--job", kJob, "--keys", kMissing + "/keys.json"},
         3,
         "cardbureau encode: IO_ERROR",
         kMissing + "/keys.json"},
        {"encode", Kind::kHelp, {"encode", "--help"}, 0, ""},
        // read
        {"read",
         Kind::kNoArgs,
         {"read"},
         2,
         usage("read", "one of --reader or --image is required")},
        {"read", Kind::kTypo, {"read", "--raeder", "X"}, 2, typo("read", "--raeder", "--reader")},
        {"read",
         Kind::kBadPath,
         {"read", "--reader", "X", "--keys", kMissing + "/keys.json"},
         3,
         "cardbureau read: IO_ERROR",
         kMissing + "/keys.json"},
        {"read", Kind::kHelp, {"read", "--help"}, 0, ""},
        // keys
        {"keys",
         Kind::kNoArgs,
         {"keys"},
         2,
         usage("keys", "a subcommand is required: import, generate or pubkey")},
        {"keys",
         Kind::kTypo,
         {"keys", "improt"},
         2,
         usage("keys", "unknown subcommand 'improt'; did you mean 'import'?")},
        {"keys",
         Kind::kBadPath,
         {"keys", "pubkey", "--keys", kMissing + "/pkcs11.json"},
         3,
         "cardbureau keys pubkey: IO_ERROR",
         kMissing + "/pkcs11.json"},
        {"keys", Kind::kHelp, {"keys", "pubkey", "--help"}, 0, ""},
        // verify
        {"verify", Kind::kNoArgs, {"verify"}, 2, usage("verify", "--face and --keys are required")},
        {"verify",
         Kind::kTypo,
         {"verify", "--fcae", kPhoto},
         2,
         typo("verify", "--fcae", "--face")},
        {"verify",
         Kind::kBadPath,
         {"verify", "--face", kPhoto, "--keys", keys, "--image", kMissing + "/card.mfd"},
         3,
         "cardbureau verify: IO_ERROR image: cannot open " + kMissing + "/card.mfd: the folder " +
             kMissing + " does not exist"},
        {"verify", Kind::kHelp, {"verify", "--help"}, 0, ""},
        // verify --scan (its own form: scan_verify_command.cpp)
        {"verify",
         Kind::kNoArgs,
         {"verify", "--scan", kPhoto},
         2,
         usage("verify", "--scan and --keys are required (missing --keys)")},
        {"verify",
         Kind::kNoArgs,
         {"verify", "--scan", kPhoto, "--keys", keys, "--image", kPhoto},
         2,
         usage("verify", "--job with --photo, or --data, is required")},
        {"verify",
         Kind::kTypo,
         {"verify", "--scan", kPhoto, "--kyes", keys},
         2,
         typo("verify", "--kyes", "--keys")},
        {"verify",
         Kind::kBadPath,
         {"verify", "--scan", kMissing + "/card.jpg", "--keys", keys, "--image", kPhoto, "--data",
          tmp},
         3,
         "cardbureau verify: IO_ERROR scan: cannot open " + kMissing + "/card.jpg: the folder " +
             kMissing + " does not exist"},
        {"verify",
         Kind::kBadPath,
         {"verify", "--scan", kPhoto, "--keys", keys, "--image", kPhoto, "--data", kMissing},
         1,
         "cardbureau verify: NOT_FOUND data: cannot open " + kMissing + ": no such folder"},
        {"verify", Kind::kHelp, {"verify", "--scan", "--help"}, 0, ""},
        // audit
        {"audit", Kind::kNoArgs, {"audit"}, 2, usage("audit", "a subcommand is required: verify")},
        {"audit",
         Kind::kTypo,
         {"audit", "verfiy"},
         2,
         usage("audit", "unknown subcommand 'verfiy'; did you mean 'verify'?")},
        // A missing data folder fails the check (README: exit 1), naming it.
        {"audit",
         Kind::kBadPath,
         {"audit", "verify", "--data", kMissing},
         1,
         "cardbureau audit verify: VERIFY_MISMATCH",
         "no data directory " + kMissing},
        {"audit", Kind::kHelp, {"audit", "verify", "--help"}, 0, ""},
        // dashboard-token
        {"dashboard-token",
         Kind::kNoArgs,
         {"dashboard-token"},
         2,
         usage("dashboard-token", "--name and --role are required")},
        {"dashboard-token",
         Kind::kTypo,
         {"dashboard-token", "--nmae", "x"},
         2,
         typo("dashboard-token", "--nmae", "--name")},
        {"dashboard-token",
         Kind::kBadPath,
         {"dashboard-token", "--name", "x", "--role", "wizard"},
         1,
         "cardbureau dashboard-token: INVALID_FIELD role: role must be operator, qa or admin"},
        {"dashboard-token", Kind::kHelp, {"dashboard-token", "--help"}, 0, ""},
        // dashboard-demo
        {"dashboard-demo",
         Kind::kNoArgs,
         {"dashboard-demo"},
         2,
         usage("dashboard-demo", "--tokens and --data are required")},
        {"dashboard-demo",
         Kind::kTypo,
         {"dashboard-demo", "--tokesn", "x"},
         2,
         typo("dashboard-demo", "--tokesn", "--tokens")},
        {"dashboard-demo",
         Kind::kBadPath,
         {"dashboard-demo", "--tokens", kMissing + "/tokens.json", "--data", tmp + "/demo"},
         1,
         "cardbureau dashboard-demo: IO_ERROR",
         kMissing + "/tokens.json"},
        {"dashboard-demo", Kind::kHelp, {"dashboard-demo", "--help"}, 0, ""},
        // serve
        {"serve",
         Kind::kNoArgs,
         {"serve"},
         2,
         usage("serve", "--centre (or \"centre\" in the config) is required")},
        {"serve",
         Kind::kTypo,
         {"serve", "--cnetre", "tcp://127.0.0.1:1"},
         2,
         typo("serve", "--cnetre", "--centre")},
        {"serve",
         Kind::kBadPath,
         {"serve", "--config", kMissing + "/etc/serve.json"},
         3,
         "cardbureau serve: IO_ERROR config: cannot open " + kMissing +
             "/etc/serve.json: the folder " + kMissing + " does not exist"},
        {"serve", Kind::kHelp, {"serve", "--help"}, 0, ""},
        // centre
        {"centre",
         Kind::kNoArgs,
         {"centre"},
         2,
         usage("centre", "--bind, --jobs, --photos and --reports are required")},
        {"centre",
         Kind::kTypo,
         {"centre", "--bnid", "tcp://127.0.0.1:1"},
         2,
         typo("centre", "--bnid", "--bind")},
        {"centre",
         Kind::kBadPath,
         {"centre", "--bind", "tcp://127.0.0.1:1", "--jobs", kJob, "--photos", kMissing,
          "--reports", tmp + "/reports.jsonl"},
         3,
         "cardbureau centre: IO_ERROR photos: cannot open " + kMissing + ": no such folder"},
        {"centre", Kind::kHelp, {"centre", "--help"}, 0, ""},
        // keygen
        {"keygen", Kind::kNoArgs, {"keygen"}, 2, usage("keygen", "--out is required")},
        {"keygen", Kind::kTypo, {"keygen", "--otu", "x"}, 2, typo("keygen", "--otu", "--out")},
        {"keygen",
         Kind::kBadPath,
         {"keygen", "--out", "/missing/dir/x"},
         3,
         "cardbureau keygen: IO_ERROR out: cannot write /missing/dir/x.key: the folder /missing "
         "does not exist"},
        {"keygen", Kind::kHelp, {"keygen", "--help"}, 0, ""},
        // history
        {"history",
         Kind::kNoArgs,
         {"history"},
         2,
         usage("history", "JOB_ID and --data are required")},
        {"history",
         Kind::kTypo,
         {"history", "J1", "--dtaa", tmp},
         2,
         typo("history", "--dtaa", "--data")},
        {"history",
         Kind::kBadPath,
         {"history", "J1", "--data", kMissing},
         1,
         "cardbureau history: NOT_FOUND data: cannot open " + kMissing + ": no such folder"},
        {"history", Kind::kHelp, {"history", "--help"}, 0, ""},
        // stock (and each of its subcommands)
        {"stock",
         Kind::kNoArgs,
         {"stock"},
         2,
         usage("stock", "a subcommand is required: import, report, spoiled or sim-lot")},
        {"stock",
         Kind::kTypo,
         {"stock", "improt"},
         2,
         usage("stock", "unknown subcommand 'improt'; did you mean 'import'?")},
        {"stock",
         Kind::kBadPath,
         {"stock", "import", "--data", tmp + "/stock", kMissing + "/LOT-A.csv"},
         3,
         "cardbureau stock import: IO_ERROR lot: cannot open " + kMissing +
             "/LOT-A.csv: the folder " + kMissing + " does not exist"},
        {"stock", Kind::kHelp, {"stock", "import", "--help"}, 0, ""},
        {"stock",
         Kind::kNoArgs,
         {"stock", "import"},
         2,
         usage("stock import", "--data and LOT.csv are required")},
        {"stock",
         Kind::kTypo,
         {"stock", "import", "--dtaa", tmp},
         2,
         typo("stock import", "--dtaa", "--data")},
        {"stock",
         Kind::kNoArgs,
         {"stock", "report"},
         2,
         usage("stock report", "--data is required")},
        {"stock",
         Kind::kTypo,
         {"stock", "report", "--data", tmp, "--jsno"},
         2,
         typo("stock report", "--jsno", "--json")},
        {"stock",
         Kind::kBadPath,
         {"stock", "report", "--data", kMissing},
         1,
         "cardbureau stock report: NOT_FOUND data: cannot open " + kMissing + ": no such folder"},
        {"stock",
         Kind::kBadPath,
         {"stock", "report", "--data", tmp},
         1,
         "cardbureau stock report: NOT_FOUND data: no job store in " + tmp},
        {"stock", Kind::kHelp, {"stock", "report", "--help"}, 0, ""},
        {"stock",
         Kind::kNoArgs,
         {"stock", "spoiled"},
         2,
         usage("stock spoiled", "--data and --since are required")},
        {"stock",
         Kind::kBadPath,
         {"stock", "spoiled", "--data", tmp, "--since", "yesterday"},
         2,
         usage("stock spoiled", "--since must be a date YYYY-MM-DD, not 'yesterday'")},
        {"stock", Kind::kHelp, {"stock", "spoiled", "--help"}, 0, ""},
        {"stock",
         Kind::kNoArgs,
         {"stock", "sim-lot"},
         2,
         usage("stock sim-lot", "--data and --count are required")},
        {"stock",
         Kind::kTypo,
         {"stock", "sim-lot", "--cuont", "5"},
         2,
         typo("stock sim-lot", "--cuont", "--count")},
        {"stock",
         Kind::kBadPath,
         {"stock", "sim-lot", "--data", tmp, "--count", "0"},
         2,
         usage("stock sim-lot", "--count must be 1..100000")},
        {"stock",
         Kind::kBadPath,
         {"stock", "sim-lot", "--data", tmp, "--count", "5", "--out", kMissing + "/LOT.csv"},
         3,
         "cardbureau stock sim-lot: IO_ERROR out: cannot write " + kMissing +
             "/LOT.csv: the folder " + kMissing + " does not exist"},
        {"stock", Kind::kHelp, {"stock", "sim-lot", "--help"}, 0, ""},
    };
  }

  fs::path dir_;
};

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNoArgs:
      return "no arguments";
    case Kind::kTypo:
      return "a mistyped option";
    case Kind::kBadPath:
      return "a bad path or value";
    case Kind::kHelp:
      return "--help";
  }
  return "?";
}

TEST_F(CliTableTest, EverySubcommandAnswersInOneVoice) {
  // `readers` must not find a pcscd another test started: the no-arguments
  // row is then the same runtime failure (3) everywhere.
  const std::vector<std::string> env = {"PCSCLITE_CSOCK_NAME=" + (dir_ / "no-pcscd.sock").string()};
  for (const Row& row : Table()) {
    SCOPED_TRACE("cardbureau " + row.command + ", " + KindName(row.kind));
    const ProcessResult r = RunCardbureau(row.args, std::chrono::seconds(60), env);
    std::string shown;
    for (const auto& a : row.args) shown += " " + a;
    ASSERT_EQ(r.code, row.code) << "cardbureau" << shown << "\nstdout: " << r.out
                                << "\nstderr: " << r.err;
    if (row.kind == Kind::kHelp) {
      // Synopsis first, examples last, nothing on stderr.
      std::string cmd = row.args[0];
      if (row.args.size() > 2) cmd += " " + row.args[1];
      EXPECT_EQ(r.out.rfind("Usage: cardbureau " + cmd + " ", 0), 0u) << r.out;
      const auto lines = Lines(r.out);
      ASSERT_FALSE(lines.empty());
      EXPECT_EQ(lines.back().rfind("  cardbureau " + row.args[0], 0), 0u)
          << "the help must end with an example:\n"
          << r.out;
      EXPECT_NE(r.out.find("\nExample"), std::string::npos) << r.out;
      EXPECT_EQ(r.err, "");
      continue;
    }
    const std::string first = FirstLine(r.err);
    if (row.code == 2) {
      // One line, then the Try line; never the whole help.
      const std::string cmd = row.first_line.substr(11, row.first_line.find(':') - 11);
      EXPECT_EQ(r.err, row.first_line + "\nTry 'cardbureau " + cmd + " --help'\n");
      continue;
    }
    EXPECT_EQ(first.rfind(row.first_line, 0), 0u) << "stderr: " << r.err;
    EXPECT_NE(first.find(row.contains), std::string::npos) << "stderr: " << r.err;
    // Every stderr line speaks in the command's voice.
    for (const auto& line : Lines(r.err)) {
      EXPECT_EQ(line.rfind("cardbureau " + row.command, 0), 0u) << "stderr: " << r.err;
    }
  }
}

TEST_F(CliTableTest, EveryCommandHasRows) {
  std::map<std::string, std::set<Kind>> covered;
  for (const Row& row : Table()) covered[row.command].insert(row.kind);
  const auto listed = ListedCommands();
  ASSERT_GE(listed.size(), 10u);
  for (const auto& name : listed) {
    EXPECT_EQ(covered[name].size(), 4u) << "no full rows for `cardbureau " << name << "`";
  }
}

TEST_F(CliTableTest, TopLevelUsageAndMistypedCommands) {
  auto r = RunCardbureau({"verfy", "--face", "x"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "cardbureau: unknown command 'verfy'; did you mean 'verify'?\n"
            "Try 'cardbureau --help'\n");
  r = RunCardbureau({"rea"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(FirstLine(r.err),
            "cardbureau: unknown command 'rea'; did you mean 'read' or 'readers'?");
  r = RunCardbureau({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "cardbureau: unknown command 'frobnicate'\nTry 'cardbureau --help'\n");
  r = RunCardbureau({});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(FirstLine(r.err).rfind("cardbureau: a command is required: ", 0), 0u) << r.err;
  EXPECT_NE(FirstLine(r.err).find("verify"), std::string::npos) << r.err;
  r = RunCardbureau({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(Lines(r.out).back().rfind("  cardbureau ", 0), 0u) << r.out;
}

TEST_F(CliTableTest, SwitchesAndPositionalsStillWork) {
  // --json is a switch (no value); the job is the first argument.
  auto r = RunCardbureau({"validate", kJob, "--json", "--today", "2026-11-25"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"code\":\"OK\"", 0), 0u) << r.out;
  r = RunCardbureau({"validate", kJob, "--today", "2026-11-25"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "OK\n");
  r = RunCardbureau({"validate", kJob, kJob});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(FirstLine(r.err), "cardbureau validate: too many arguments");
  r = RunCardbureau({"keygen", "--out", (dir_ / "a").string(), "extra"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(FirstLine(r.err), "cardbureau keygen: this command takes options only, no arguments");
}

TEST_F(CliTableTest, MessagesSayWhatIsWrong) {
  // Exclusive options are named as such.
  auto r = RunCardbureau({"verify", "--face", kPhoto, "--keys", "k.json", "--image", "c.mfd",
                          "--reader", "Virtual PCD 00 00"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(FirstLine(r.err), "cardbureau verify: --image and --reader are exclusive: give one");
  // A directory where a file belongs, for an output too.
  fs::create_directories(dir_ / "k.key");
  r = RunCardbureau({"keygen", "--out", (dir_ / "k").string()});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(FirstLine(r.err).find((dir_ / "k.key").string() + ": it is a directory"),
            std::string::npos)
      << r.err;
  // keygen never overwrites a secret key: refused, naming it.
  r = RunCardbureau({"keygen", "--out", (dir_ / "pair").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  r = RunCardbureau({"keygen", "--out", (dir_ / "pair").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(FirstLine(r.err), "cardbureau keygen: ALREADY_EXISTS out: " +
                                  (dir_ / "pair.key").string() + " exists; not overwritten");
}

// Every option `serve --help` lists is in the README's serve options, and
// the other way round.
TEST_F(CliTableTest, ServeHelpAndReadmeAgree) {
  auto r = RunCardbureau({"serve", "--help"});
  ASSERT_EQ(r.code, 0);
  const std::regex option_re(R"((?:^|[\s\[(`|])(--[a-z][a-z0-9-]*))");
  auto options_in = [&](const std::string& text) {
    std::set<std::string> out;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), option_re);
         it != std::sregex_iterator(); ++it) {
      out.insert((*it)[1]);
    }
    return out;
  };
  // The options block of the help (from "Options:" to the examples).
  const std::string help = r.out;
  const auto from = help.find("Options:");
  const auto to = help.find("\nExample");
  ASSERT_NE(from, std::string::npos);
  std::set<std::string> in_help = options_in(help.substr(from, to - from));
  in_help.erase("--help");
  // The README section "### `serve` options" up to the next heading.
  const std::string readme = testing::Slurp(kSource + "/README.md");
  const auto start = readme.find("### `serve` options");
  ASSERT_NE(start, std::string::npos) << "README.md has no \"### `serve` options\" section";
  const auto end = readme.find("\n#", start + 1);
  std::set<std::string> in_readme = options_in(readme.substr(start, end - start));
  in_readme.erase("--help");
  EXPECT_EQ(in_help, in_readme);
  EXPECT_GE(in_help.size(), 20u);
}

}  // namespace
}  // namespace cardbureau
