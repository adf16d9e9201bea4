#include "cardbureau/http/audit_trail.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/file.h"

namespace cardbureau::http {

namespace {

const std::string kGenesis(64, '0');

nlohmann::json BodyJson(const AuditRecord& r) {
  return nlohmann::json{{"seq", r.seq},         {"at_ms", r.at_ms},   {"actor", r.actor},
                        {"role", r.role},       {"action", r.action}, {"target", r.target},
                        {"outcome", r.outcome}, {"detail", r.detail}, {"prev", r.prev}};
}

int64_t NowMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

Result<std::string> ReadAll(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot read " + file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status(Code::kIoError, "cannot read " + file.string());
  return ss.str();
}

}  // namespace

std::string AuditRecordHash(const AuditRecord& r) {
  const std::string canonical = r.prev + "\n" + BodyJson(r).dump();
  return Sha256Hex(AsBytes(canonical));
}

std::string AuditRecordToLine(const AuditRecord& r) {
  nlohmann::json j = BodyJson(r);
  j["hash"] = r.hash;
  return j.dump();
}

Result<AuditRecord> ParseAuditLine(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status(Code::kInvalidJson, "not a JSON object");
  AuditRecord r;
  auto str = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  auto num = [&](const char* key, int64_t* out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return false;
    *out = it->get<int64_t>();
    return true;
  };
  if (!num("seq", &r.seq) || !num("at_ms", &r.at_ms) || !str("actor", &r.actor) ||
      !str("role", &r.role) || !str("action", &r.action) || !str("target", &r.target) ||
      !str("outcome", &r.outcome) || !str("detail", &r.detail) || !str("prev", &r.prev) ||
      !str("hash", &r.hash)) {
    return Status(Code::kInvalidJson, "missing or mistyped field");
  }
  return r;
}

AuditVerifyReport VerifyAuditText(std::string_view text) {
  AuditVerifyReport rep;
  std::string prev = kGenesis;
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    ++line_no;
    if (nl == std::string_view::npos) {
      rep.broken_line = line_no;
      rep.problem = "incomplete last line (no newline)";
      return rep;
    }
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    auto r = ParseAuditLine(line);
    if (!r.ok()) {
      rep.broken_line = line_no;
      rep.problem = "not an audit record: " + r.status().message();
      return rep;
    }
    if (r->seq != line_no) {
      rep.broken_line = line_no;
      rep.problem = "sequence " + std::to_string(r->seq) + ", expected " + std::to_string(line_no);
      return rep;
    }
    if (r->prev != prev) {
      rep.broken_line = line_no;
      rep.problem = "prev does not match the hash of the entry before";
      return rep;
    }
    if (AuditRecordHash(*r) != r->hash) {
      rep.broken_line = line_no;
      rep.problem = "hash does not match the entry's contents";
      return rep;
    }
    prev = r->hash;
    rep.entries++;
  }
  return rep;
}

Result<AuditVerifyReport> VerifyAuditFile(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return AuditVerifyReport{};
  CB_ASSIGN_OR_RETURN(std::string text, ReadAll(file));
  return VerifyAuditText(text);
}

namespace {

Status WriteHeadFile(const std::filesystem::path& data_dir, int64_t entries,
                     const std::string& hash) {
  const auto path = data_dir / std::string(kAuditHeadFileName);
  const std::string text = nlohmann::json{{"entries", entries}, {"last_hash", hash}}.dump() + "\n";
  return WriteFileAtomic(path, AsBytes(text));  // file and folder synced
}

}  // namespace

Result<std::optional<AuditHead>> ReadAuditHead(const std::filesystem::path& data_dir) {
  const auto path = data_dir / std::string(kAuditHeadFileName);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<AuditHead>();
  CB_ASSIGN_OR_RETURN(std::string text, ReadAll(path));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("entries") ||
      !j["entries"].is_number_integer() || !j.contains("last_hash") ||
      !j["last_hash"].is_string()) {
    return Status(Code::kStorageError, path.string() + " is not an audit chain head");
  }
  return std::optional<AuditHead>(
      AuditHead{j["entries"].get<int64_t>(), j["last_hash"].get<std::string>()});
}

Result<std::optional<AuditHead>> FileAuditHead::Read() { return ReadAuditHead(data_dir_); }

Status FileAuditHead::Write(const AuditHead& head) {
  return WriteHeadFile(data_dir_, head.entries, head.last_hash);
}

std::string FileAuditHead::Describe() const {
  return (data_dir_ / std::string(kAuditHeadFileName)).string();
}

Result<AuditVerifyReport> VerifyAuditTrail(const std::filesystem::path& data_dir) {
  FileAuditHead heads(data_dir);
  return VerifyAuditTrail(data_dir, heads);
}

Result<AuditVerifyReport> VerifyAuditTrail(const std::filesystem::path& data_dir,
                                           AuditHeadStore& heads) {
  AuditVerifyReport rep;
  std::error_code ec;
  auto broken = [&](int64_t line, std::string problem) {
    rep.broken_line = line;
    rep.problem = std::move(problem);
    return rep;
  };
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return broken(1, "no data directory " + data_dir.string());
  }
  const auto file = data_dir / std::string(kAuditFileName);
  if (!std::filesystem::exists(file, ec)) return broken(1, "no audit trail " + file.string());
  CB_ASSIGN_OR_RETURN(std::string text, ReadAll(file));
  rep = VerifyAuditText(text);
  if (rep.broken_line) return rep;
  if (rep.entries == 0) return broken(1, "the audit trail is empty");
  auto head = heads.Read();
  if (!head.ok()) return broken(1, head.status().message());
  if (!*head) return broken(1, "no chain head (" + heads.Describe() + ")");
  const AuditHead& h = **head;
  if (rep.entries < h.entries) {
    return broken(rep.entries + 1, "truncated: the head records " + std::to_string(h.entries) +
                                       " entries, the trail has " + std::to_string(rep.entries));
  }
  // The last entry's hash is the chain's; compare it with the head's.
  const size_t end = text.size() - 1;
  const size_t start = text.rfind('\n', end - 1);
  auto last = ParseAuditLine(
      std::string_view(text).substr(start == std::string::npos ? 0 : start + 1,
                                    end - (start == std::string::npos ? 0 : start + 1)));
  if (rep.entries > h.entries) {
    return broken(h.entries + 1,
                  "entries after the recorded head (" + std::to_string(h.entries) + " entries)");
  }
  if (!last.ok() || last->hash != h.last_hash) {
    return broken(rep.entries, "the last entry's hash differs from the recorded head");
  }
  return rep;
}

Result<std::unique_ptr<AuditTrail>> AuditTrail::Open(const std::filesystem::path& data_dir,
                                                     const Clock& clock) {
  return Open(data_dir, clock, std::make_shared<FileAuditHead>(data_dir));
}

Result<std::unique_ptr<AuditTrail>> AuditTrail::Open(const std::filesystem::path& data_dir,
                                                     const Clock& clock,
                                                     std::shared_ptr<AuditHeadStore> heads) {
  if (!heads) return Status(Code::kInternal, "audit trail without a head store");
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status(Code::kIoError, "cannot create " + data_dir.string());
  const auto path = data_dir / std::string(kAuditFileName);
  std::string text;
  if (std::filesystem::exists(path, ec)) {
    CB_ASSIGN_OR_RETURN(text, ReadAll(path));
  }
  // Cut a torn final line (written without its '\n', never acknowledged).
  const size_t keep = text.empty()                            ? 0
                      : text.rfind('\n') == std::string::npos ? 0
                                                              : text.rfind('\n') + 1;
  if (keep != text.size()) {
    std::filesystem::resize_file(path, keep, ec);
    if (ec) return Status(Code::kIoError, "cannot truncate torn line of " + path.string());
    text.resize(keep);
  }
  int64_t last_seq = 0;
  std::string last_hash = kGenesis;
  if (!text.empty()) {
    const size_t start = text.rfind('\n', text.size() - 2);
    const std::string_view last =
        std::string_view(text).substr(start == std::string::npos ? 0 : start + 1);
    auto r = ParseAuditLine(last.substr(0, last.size() - 1));
    if (!r.ok()) {
      return Status(Code::kStorageError,
                    "last line of " + path.string() + " is not an audit record");
    }
    last_seq = r->seq;
    last_hash = r->hash;
  }
  // The head: a trail shorter than it was truncated; continuing it would
  // hide that. One entry past the head is an append whose head update a
  // crash cut off: the head is brought up to date.
  CB_ASSIGN_OR_RETURN(auto head, heads->Read());
  if (head && (head->entries > last_seq || head->entries < last_seq - 1 ||
               (head->entries == last_seq && head->last_hash != last_hash))) {
    return Status(Code::kStorageError, path.string() + " does not end where its head says (" +
                                           std::to_string(head->entries) + " entries recorded in " +
                                           heads->Describe() + ", " + std::to_string(last_seq) +
                                           " found); run `cardbureau audit verify`");
  }
  if (!head || head->entries != last_seq) {
    CB_RETURN_IF_ERROR(heads->Write(AuditHead{last_seq, last_hash}));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return Status(Code::kIoError, "cannot open " + path.string() + ": " + std::strerror(errno));
  return std::unique_ptr<AuditTrail>(
      new AuditTrail(path, fd, last_seq, last_hash, clock, std::move(heads)));
}

AuditTrail::AuditTrail(std::filesystem::path path, int fd, int64_t last_seq, std::string last_hash,
                       const Clock& clock, std::shared_ptr<AuditHeadStore> heads)
    : path_(std::move(path)),
      fd_(fd),
      last_seq_(last_seq),
      last_hash_(std::move(last_hash)),
      clock_(clock),
      heads_(std::move(heads)) {}

AuditTrail::~AuditTrail() {
  if (fd_ >= 0) ::close(fd_);
}

Result<AuditRecord> AuditTrail::Append(std::string_view actor, std::string_view role,
                                       std::string_view action, std::string_view target,
                                       std::string_view outcome, std::string_view detail) {
  std::lock_guard lock(mu_);
  AuditRecord r;
  r.seq = last_seq_ + 1;
  r.at_ms = NowMs(clock_);
  r.actor = actor;
  r.role = role;
  r.action = action;
  r.target = target;
  r.outcome = outcome;
  r.detail = detail;
  r.prev = last_hash_;
  r.hash = AuditRecordHash(r);
  const std::string line = AuditRecordToLine(r) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Code::kIoError, "cannot append to " + path_.string());
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return Status(Code::kIoError, "cannot sync " + path_.string());
  last_seq_ = r.seq;
  last_hash_ = r.hash;
  CB_RETURN_IF_ERROR(WriteHead());
  return r;
}

Status AuditTrail::WriteHead() { return heads_->Write(AuditHead{last_seq_, last_hash_}); }

Result<std::vector<AuditRecord>> AuditTrail::Tail(size_t limit) {
  std::string text;
  {
    std::lock_guard lock(mu_);
    CB_ASSIGN_OR_RETURN(text, ReadAll(path_));
  }
  std::vector<AuditRecord> all;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto r = ParseAuditLine(line);
    if (r.ok()) all.push_back(std::move(*r));
  }
  std::vector<AuditRecord> out;
  for (auto it = all.rbegin(); it != all.rend() && out.size() < limit; ++it) out.push_back(*it);
  return out;
}

}  // namespace cardbureau::http
