#include "cardbureau/core/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <tuple>

#include "cardbureau/core/file.h"

namespace cardbureau::cli {

namespace fs = std::filesystem;

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kIoError:
    case Code::kStorageError:
    case Code::kProtocolError:
    case Code::kInternal:
    case Code::kCardRemoved:
    case Code::kAuthFailed:
    case Code::kReaderUnavailable:
    case Code::kCardError:
    case Code::kCardTimeout:
    case Code::kReaderError:
    case Code::kPrinterJam:
    case Code::kPrinterOutOfRibbon:
    case Code::kPrinterError:
    case Code::kStationUnavailable:
    case Code::kServerBusy:
      return kExitRuntime;
    default:
      return kExitRefused;
  }
}

size_t EditDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance (Damerau-Levenshtein without
  // repeated edits of one substring): "verfiy" is one swap from "verify".
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::vector<std::string> ClosestMatches(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  if (word.empty()) return {};
  const size_t limit = std::max<size_t>(1, word.size() / 3) + 1;
  struct Scored {
    size_t dist, raw;  // the distance a prefix shortens to 1; the plain one
    std::string name;
  };
  std::vector<Scored> scored;
  for (const auto& c : candidates) {
    const size_t raw = EditDistance(word, c);
    size_t dist = raw;
    if (word.size() >= 2 && c.rfind(word, 0) == 0) dist = std::min<size_t>(dist, 1);
    if (dist <= limit) scored.push_back({dist, raw, c});
  }
  std::sort(scored.begin(), scored.end(), [](const Scored& x, const Scored& y) {
    return std::tie(x.dist, x.raw, x.name) < std::tie(y.dist, y.raw, y.name);
  });
  std::vector<std::string> out;
  for (const auto& c : scored) {
    if (c.dist > scored.front().dist) break;  // only the closest ones
    if (std::find(out.begin(), out.end(), c.name) == out.end()) out.push_back(c.name);
    if (out.size() == 3) break;
  }
  return out;
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  const auto close = ClosestMatches(word, candidates);
  if (close.empty()) return "";
  std::string s = "did you mean ";
  for (size_t i = 0; i < close.size(); ++i) {
    if (i > 0) s += i + 1 == close.size() ? " or " : ", ";
    s += "'" + close[i] + "'";
  }
  return s + "?";
}

std::optional<int64_t> ParseInteger(std::string_view text, int64_t min, int64_t max) {
  if (text.empty() || text.size() > 18) return std::nullopt;  // no overflow
  int64_t v = 0;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size()) return std::nullopt;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    v = v * 10 + (text[i] - '0');
  }
  if (text[0] == '-') v = -v;
  if (v < min || v > max) return std::nullopt;
  return v;
}

namespace {

std::string Prefix(std::string_view command) {
  return command.empty() ? std::string("cardbureau: ")
                         : "cardbureau " + std::string(command) + ": ";
}

// "--a", "--a and --b", "--a, --b and --c".
std::string JoinOptions(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) s += i + 1 == names.size() ? " and " : ", ";
    s += names[i];
  }
  return s;
}

std::string Errno(int e) { return std::strerror(e); }

}  // namespace

int UsageError(std::string_view command, std::string_view problem) {
  std::cerr << Prefix(command) << problem << "\n"
            << "Try 'cardbureau" << (command.empty() ? "" : " ") << command << " --help'\n";
  return kExitUsage;
}

void Message(std::string_view command, std::string_view message) {
  std::cerr << Prefix(command) << message << "\n";
}

int Fail(std::string_view command, const Status& s) {
  Message(command, s.ToString());
  if (s.code() == Code::kKeyFileInsecure && s.message().find("chmod") == std::string::npos) {
    std::cerr << Prefix(command) << "the file must be readable by its owner only: chmod 600 FILE\n";
  }
  return ExitCodeFor(s);
}

// ---- paths ---------------------------------------------------------------

namespace {

// The nearest ancestor of `p` that exists ("" when none does).
fs::path NearestExisting(const fs::path& p) {
  std::error_code ec;
  fs::path cur = p;
  while (!cur.empty() && !fs::exists(cur, ec)) {
    const fs::path parent = cur.parent_path();
    if (parent == cur) break;
    cur = parent;
  }
  return cur;
}

// Why `path` (which does not exist) cannot be found: names the first
// missing (or non-folder) component of its folder, or says the file itself
// is missing.
std::string WhyMissing(const fs::path& path, const char* kind = "file") {
  std::error_code ec;
  const fs::path parent = path.parent_path();
  if (parent.empty() || fs::is_directory(parent, ec)) return path.string() + ": no such " + kind;
  fs::path cur;
  for (const auto& part : parent) {
    cur /= part;
    if (!fs::exists(cur, ec))
      return path.string() + ": the folder " + cur.string() + " does not exist";
    if (!fs::is_directory(cur, ec)) return path.string() + ": " + cur.string() + " is not a folder";
  }
  return path.string() + ": no such " + kind;
}

}  // namespace

Status CheckInputFile(const std::string& path, std::string_view field) {
  const std::string f(field);
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
      return Status(Code::kIoError, "cannot open " + path + ": " + ec.message(), f);
    }
    return Status(Code::kIoError, "cannot open " + WhyMissing(path), f);
  }
  if (fs::is_directory(st)) {
    return Status(Code::kIoError, path + " is a directory, not a file", f);
  }
  if (::access(path.c_str(), R_OK) != 0) {
    return Status(Code::kIoError, "cannot read " + path + ": " + Errno(errno), f);
  }
  return Status::Ok();
}

Status CheckInputDir(const std::string& path, std::string_view field) {
  const std::string f(field);
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) {
    return Status(Code::kIoError, "cannot open " + WhyMissing(path, "folder"), f);
  }
  if (!fs::is_directory(st)) return Status(Code::kIoError, path + " is not a folder", f);
  return Status::Ok();
}

Status CheckOutputFile(const std::string& path, std::string_view field) {
  const std::string f(field);
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return Status(Code::kIoError, "cannot write " + path + ": it is a directory", f);
  }
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::exists(parent, ec)) {
    return Status(Code::kIoError, "cannot write " + WhyMissing(path), f);
  }
  if (!fs::is_directory(parent, ec)) {
    return Status(Code::kIoError,
                  "cannot write " + path + ": " + parent.string() + " is not a folder", f);
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    return Status(Code::kIoError, "cannot write in " + parent.string() + ": " + Errno(errno), f);
  }
  return Status::Ok();
}

Status CheckOutputDir(const std::string& path, std::string_view field) {
  const std::string f(field);
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec)) {
    return Status(Code::kIoError, "cannot use " + path + " as a folder: it is a file", f);
  }
  const fs::path existing = NearestExisting(fs::path(path));
  if (!existing.empty() && !fs::is_directory(existing, ec)) {
    return Status(Code::kIoError,
                  "cannot create " + path + ": " + existing.string() + " is not a folder", f);
  }
  return Status::Ok();
}

Result<std::string> ReadInputFile(const std::string& path, size_t limit, std::string_view field) {
  CB_RETURN_IF_ERROR(CheckInputFile(path, field));
  auto data = ReadFileWithLimit(path, limit);
  if (!data.ok()) {
    const Status& s = data.status();
    return Status(s.code(), s.message(), s.field().empty() ? std::string(field) : s.field());
  }
  return data;
}

// ---- Cli -----------------------------------------------------------------

Cli::Cli(std::string command, std::string synopsis, std::string description)
    : command_(std::move(command)),
      synopsis_(std::move(synopsis)),
      description_(std::move(description)) {
  options_.add_options()("help,h", "show this help");
}

std::optional<int> Cli::Parse(int argc, char** argv) {
  po::options_description all;
  all.add(options_).add(hidden_);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional_).run(), vm_);
    if (vm_.count("help")) {
      PrintHelp(std::cout);
      return kExitOk;
    }
    po::notify(vm_);
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    std::string what = "unknown option '" + name + "'";
    std::vector<std::string> longs;
    for (const auto& o : options_.options()) longs.push_back("--" + o->long_name());
    if (name.rfind("--", 0) == 0) {
      const std::string hint = DidYouMean(name, longs);
      if (!hint.empty()) what += "; " + hint;
    }
    return Usage(what);
  } catch (const po::too_many_positional_options_error&) {
    return Usage(positional_.max_total_count() == 0
                     ? "this command takes options only, no arguments"
                     : "too many arguments");
  } catch (const po::error& e) {
    return Usage(e.what());
  }
  return std::nullopt;
}

bool Cli::Has(const std::string& option) const {
  auto it = vm_.find(option);
  if (it == vm_.end() || it->second.defaulted()) return false;
  // A switch (no value: --json) is stored as an empty string: given.
  const po::option_description* d = options_.find_nothrow(option, false);
  if (!d) d = hidden_.find_nothrow(option, false);
  if (d && d->semantic()->max_tokens() == 0) return true;
  if (const auto* s = boost::any_cast<std::string>(&it->second.value())) return !s->empty();
  return true;
}

void Cli::Positional(const char* option, const char* shown, int max_count) {
  positional_.add(option, max_count);
  std::string name = shown ? shown : option;
  if (!shown) {
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  shown_.emplace_back(option, name);
}

std::string Cli::Shown(const std::string& option) const {
  for (const auto& [o, name] : shown_) {
    if (o == option) return name;
  }
  return "--" + option;
}

std::optional<int> Cli::Require(std::initializer_list<const char*> options) const {
  std::vector<std::string> all, missing;
  for (const char* o : options) {
    all.push_back(Shown(o));
    if (!Has(o)) missing.push_back(all.back());
  }
  if (missing.empty()) return std::nullopt;
  if (all.size() == 1) return Usage(all[0] + " is required");
  if (missing.size() == all.size()) return Usage(JoinOptions(all) + " are required");
  return Usage(JoinOptions(all) + " are required (missing " + JoinOptions(missing) + ")");
}

std::optional<int> Cli::Exclusive(const char* a, const char* b, bool one_required) const {
  const std::string da = Shown(a), db = Shown(b);
  if (Has(a) && Has(b)) return Usage(da + " and " + db + " are exclusive: give one");
  if (one_required && !Has(a) && !Has(b))
    return Usage("one of " + da + " or " + db + " is required");
  return std::nullopt;
}

int Cli::Refuse(const Status& s) const {
  (void)cli::Fail(command_, s);
  return kExitRefused;
}

int Cli::Runtime(const Status& s) const {
  (void)cli::Fail(command_, s);
  return kExitRuntime;
}

void Cli::PrintHelp(std::ostream& out) const {
  out << "Usage: cardbureau " << command_ << " " << synopsis_ << "\n\n"
      << description_ << "\n\n"
      << options_;
  if (!examples_.empty()) {
    out << "\n" << (examples_.size() == 1 ? "Example:" : "Examples:") << "\n";
    for (const auto& e : examples_) out << "  " << e << "\n";
  }
}

}  // namespace cardbureau::cli
