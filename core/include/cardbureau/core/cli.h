// The one command-line helper of every `cardbureau` subcommand: option
// parsing, the message voice, exit codes, usage errors, path checks.
//
// Conventions it enforces (README "Subcommands"):
//   - every message on stderr starts "cardbureau <command>: "; a failure
//     gives the catalogue code ("cardbureau verify: INVALID_KEY keys: ...");
//   - a usage error is ONE line, then "Try 'cardbureau <command> --help'",
//     exit 2 (never the whole help);
//   - exit codes: 0 ok, 1 the input was refused, 2 usage, 3 runtime failure;
//   - `--help` prints synopsis, description, options and ends with examples;
//   - a mistyped option or subcommand suggests the closest ones.
//
// Adopting it in a new command (the whole pattern):
//
//   int RunFrob(int argc, char** argv) {          // argv[0] == "frob"
//     cli::Cli cli("frob", "JOB.json --out DIR [--json]",
//                  "What frob does, in a paragraph or two. Exit 0 ..., 1 ....");
//     std::string job, out;
//     cli.Options()("out", po::value(&out), "output directory")(
//         "json", "print one JSON object")("job", po::value(&job), "job JSON file");
//     cli.Positional("job", "JOB.json");                // named so in messages
//     cli.Example("cardbureau frob fixtures/jobs/valid-junior-reissue.json --out /tmp/f");
//     if (auto rc = cli.Parse(argc, argv)) return *rc;   // --help: 0; usage: 2
//     if (auto rc = cli.Require({"job", "out"})) return *rc;
//     auto text = cli::ReadInputFile(job, kMaxJobJsonBytes, "job");
//     if (!text.ok()) return cli.Fail(text.status());    // 1 or 3 by code
//     if (bad) return cli.Usage("--out must not be the job's folder");
//     cli.Note("waiting for a card");                    // progress, prefixed
//     std::cout << result;                               // results: stdout, unprefixed
//     return cli::kExitOk;
//   }
//
// A command with sub-subcommands (`keys import`) makes its Cli with the two
// words ("keys import"): the prefix and the "Try" line follow. cli.Has("json")
// tells a given switch; cli.Exclusive("image", "reader") refuses both. A new
// command also gets its four rows in tests/cli/cli_table_test.cpp.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/status.h"

namespace cardbureau::cli {

namespace po = boost::program_options;

inline constexpr int kExitOk = 0;       // done
inline constexpr int kExitRefused = 1;  // the input was refused; the message names the code
inline constexpr int kExitUsage = 2;    // usage error
inline constexpr int kExitRuntime = 3;  // runtime failure (I/O, store, device, internal)

// The exit code of a failed Status: 3 for the runtime codes (IO_ERROR,
// STORAGE_ERROR, PROTOCOL_ERROR, INTERNAL, reader/card/printer/station
// failures, SERVER_BUSY), 1 for every other code (the input was refused).
int ExitCodeFor(const Status& s);

// Levenshtein distance (insert, delete, substitute, adjacent swap).
size_t EditDistance(std::string_view a, std::string_view b);

// The candidates closest to `word` (at most 3, best first): within an edit
// distance of max(1, |word|/3) + 1, or having `word` as a prefix. Empty when
// none is close.
std::vector<std::string> ClosestMatches(std::string_view word,
                                        const std::vector<std::string>& candidates);

// "did you mean 'verify'?" / "did you mean 'read' or 'readers'?"; "" when
// nothing is close.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

// `text` as a decimal integer in [min, max]; nullopt for anything else
// ("", "12x", "--help", out of range). For positional numbers of tools
// (bench binaries) that do not take options.
std::optional<int64_t> ParseInteger(std::string_view text, int64_t min, int64_t max);

// Prints "cardbureau <command>: <problem>" and "Try 'cardbureau <command>
// --help'" to stderr; returns kExitUsage. `command` empty: the top level.
int UsageError(std::string_view command, std::string_view problem);

// Prints "cardbureau <command>: <message>" to stderr.
void Message(std::string_view command, std::string_view message);

// Prints "cardbureau <command>: CODE field: message" (and a chmod hint for
// KEY_FILE_INSECURE) to stderr; returns ExitCodeFor(s).
int Fail(std::string_view command, const Status& s);

// ---- paths: messages that name the path and what is wrong with it ------

// An input file: it exists, is not a directory and can be read.
// IO_ERROR naming `path` and the reason ("no such file", "is a directory",
// "the folder /a/b does not exist", "permission denied"), with `field`.
Status CheckInputFile(const std::string& path, std::string_view field);
// An input folder: it exists and is a directory.
Status CheckInputDir(const std::string& path, std::string_view field);
// An output file: its folder exists and is a folder, and the path is not a
// directory. IO_ERROR naming the missing folder otherwise.
Status CheckOutputFile(const std::string& path, std::string_view field);
// An output folder (created by the command): not an existing non-folder,
// and its nearest existing ancestor is a folder.
Status CheckOutputDir(const std::string& path, std::string_view field);
// CheckInputFile, then ReadFileWithLimit (core/file.h).
Result<std::string> ReadInputFile(const std::string& path, size_t limit, std::string_view field);

// ---- one command -------------------------------------------------------

class Cli {
 public:
  // `command`: the words after `cardbureau` ("validate", "keys import").
  // `synopsis`: the arguments after the command ("JOB.json [--json]").
  // `description`: paragraphs of help text (ends with the exit codes).
  Cli(std::string command, std::string synopsis, std::string description);

  // Adds options (--help / -h is always there).
  po::options_description_easy_init Options() { return options_.add_options(); }
  // Options whose values are parsed but not listed in --help.
  po::options_description_easy_init HiddenOptions() { return hidden_.add_options(); }
  // Positional arguments fill `option` (max_count -1: any number); `shown`
  // names it in messages ("JOB.json"; default: the option in capitals).
  void Positional(const char* option, const char* shown = nullptr, int max_count = 1);
  // An example command line for --help (one or two per command).
  void Example(std::string line) { examples_.push_back(std::move(line)); }

  // Parses argv (argv[0] is the last command word). Returns the exit code
  // to return right away: kExitOk after printing --help, kExitUsage after a
  // usage error (unknown option with a suggestion, bad value, missing
  // value); nullopt to go on.
  std::optional<int> Parse(int argc, char** argv);

  const po::variables_map& vm() const { return vm_; }
  // Given on the command line (and, for a string, not empty).
  bool Has(const std::string& option) const;

  // Usage error unless every option is given: "--job is required",
  // "--job and --keys are required", "JOB.json and --out are required
  // (missing --out)".
  std::optional<int> Require(std::initializer_list<const char*> options) const;
  // Usage error when both are given: "--image and --reader are exclusive:
  // give one"; with `one_required`, also when neither is.
  std::optional<int> Exclusive(const char* a, const char* b, bool one_required = false) const;

  // Usage error (one line + Try), kExitUsage.
  int Usage(std::string_view problem) const { return UsageError(command_, problem); }
  // Failure by code: kExitRefused or kExitRuntime (ExitCodeFor).
  int Fail(const Status& s) const { return cli::Fail(command_, s); }
  // The input is refused whatever the code: kExitRefused.
  int Refuse(const Status& s) const;
  // A runtime failure whatever the code: kExitRuntime.
  int Runtime(const Status& s) const;
  // A progress or warning line on stderr, prefixed.
  void Note(std::string_view message) const { Message(command_, message); }

  void PrintHelp(std::ostream& out) const;
  const std::string& command() const { return command_; }

 private:
  std::string Shown(const std::string& option) const;

  std::string command_, synopsis_, description_;
  po::options_description options_{"Options"};
  po::options_description hidden_;
  po::positional_options_description positional_;
  std::vector<std::string> examples_;
  std::vector<std::pair<std::string, std::string>> shown_;  // positional option -> shown name
  po::variables_map vm_;
};

}  // namespace cardbureau::cli
