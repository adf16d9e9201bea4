// The dashboard's audit trail: every action taken through the HTTP API
// (who, role, when, what, on which id, and the outcome), hash-chained and
// stored durably in DATA/dashboard-audit.jsonl (one JSON object per line,
// fdatasync'd before Append returns).
//
// Chain: entry n carries "prev" = the "hash" of entry n-1 (64 zeros for the
// first entry) and "hash" = SHA-256 hex of prev + "\n" + the canonical JSON
// (sorted keys, no spaces) of the entry without its "hash" field. Editing,
// removing or reordering any line breaks the chain at that line, which
// VerifyAuditFile reports. Only ids, codes and reasons are recorded, never
// names or photos of students.
//
// Truncation: removing the LAST lines leaves a valid chain, so the chain's
// head (entry count and last hash) is kept apart from the trail, in an
// AuditHeadStore written after every append: the bureau keeps it in its
// job store (bureau.db, table audit_head: http::StoreAuditHead,
// store_audit_head.h); `dashboard-demo`, which has no store, in the file
// DATA/dashboard-audit.head (FileAuditHead, the default of the overloads
// without a head store). VerifyAuditTrail checks the trail against it: a
// missing data dir, a missing or empty trail, a missing head, a broken
// chain, or a trail that does not end where the head says (truncated, or
// entries appended behind the bureau's back) all fail, naming the first bad
// entry. Open refuses a trail shorter than its head (continuing it would
// hide the truncation).
//
// Thread-safety: Append and Tail are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/clock.h"
#include "cardbureau/core/status.h"

namespace cardbureau::http {

inline constexpr std::string_view kAuditFileName = "dashboard-audit.jsonl";
inline constexpr std::string_view kAuditHeadFileName = "dashboard-audit.head";

struct AuditRecord {
  int64_t seq = 0;  // 1, 2, ...
  int64_t at_ms = 0;
  std::string actor;    // token name
  std::string role;     // "operator" / "qa" / "admin"
  std::string action;   // "reprint.request", "reprint.approve", "station.pause", ...
  std::string target;   // job / reprint / station id
  std::string outcome;  // "OK" or the catalogue code of the refusal
  std::string detail;   // reason text or new ids; never personal data
  std::string prev;     // hash of the previous entry
  std::string hash;     // hash of this entry
};

// Canonical hash of `r` (ignores r.hash). Pure.
std::string AuditRecordHash(const AuditRecord& r);
// One line (without '\n') for `r`, and its inverse. ParseAuditLine is pure:
// INVALID_JSON for anything that is not a complete record.
std::string AuditRecordToLine(const AuditRecord& r);
Result<AuditRecord> ParseAuditLine(std::string_view line);

// The chain's head: entry count and the last entry's hash.
struct AuditHead {
  int64_t entries = 0;
  std::string last_hash;
};

// Where the head is kept. Implementations are thread-compatible (the trail
// calls them under its lock).
class AuditHeadStore {
 public:
  virtual ~AuditHeadStore() = default;
  // nullopt when no head was ever written; STORAGE_ERROR when unreadable.
  virtual Result<std::optional<AuditHead>> Read() = 0;
  // Durable when it returns.
  virtual Status Write(const AuditHead& head) = 0;
  // Where the head is, for messages ("bureau.db", a file path).
  virtual std::string Describe() const = 0;
};

// The head in DATA/dashboard-audit.head (JSON, written atomically).
class FileAuditHead final : public AuditHeadStore {
 public:
  explicit FileAuditHead(std::filesystem::path data_dir) : data_dir_(std::move(data_dir)) {}
  Result<std::optional<AuditHead>> Read() override;
  Status Write(const AuditHead& head) override;
  std::string Describe() const override;

 private:
  std::filesystem::path data_dir_;
};

class AuditTrail {
 public:
  // Opens or creates DATA/dashboard-audit.jsonl (mode 0600). A final line
  // without its '\n' (a write torn by a crash, never acknowledged) is cut
  // off. STORAGE_ERROR when the last complete line is not a record (the
  // chain cannot be continued; run `cardbureau audit verify`), IO_ERROR for
  // the disk. `clock` must outlive the trail.
  // The head is kept in `heads` (the bureau's store); without it in
  // DATA/dashboard-audit.head (FileAuditHead).
  static Result<std::unique_ptr<AuditTrail>> Open(const std::filesystem::path& data_dir,
                                                  const Clock& clock);
  static Result<std::unique_ptr<AuditTrail>> Open(const std::filesystem::path& data_dir,
                                                  const Clock& clock,
                                                  std::shared_ptr<AuditHeadStore> heads);
  ~AuditTrail();
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  // Appends one entry (seq, at_ms, prev and hash are filled in) and syncs
  // it to disk. Returns the stored record. IO_ERROR when it cannot be
  // written (the in-memory chain is not advanced then).
  Result<AuditRecord> Append(std::string_view actor, std::string_view role, std::string_view action,
                             std::string_view target, std::string_view outcome,
                             std::string_view detail);
  // The newest `limit` entries, newest first (read back from the file).
  Result<std::vector<AuditRecord>> Tail(size_t limit);

  const std::filesystem::path& path() const { return path_; }

 private:
  AuditTrail(std::filesystem::path path, int fd, int64_t last_seq, std::string last_hash,
             const Clock& clock, std::shared_ptr<AuditHeadStore> heads);

  std::mutex mu_;
  std::filesystem::path path_;
  int fd_ = -1;  // owned; closed by the destructor
  int64_t last_seq_ = 0;
  std::string last_hash_;
  const Clock& clock_;
  std::shared_ptr<AuditHeadStore> heads_;

  Status WriteHead();  // under mu_
};

struct AuditVerifyReport {
  int64_t entries = 0;                 // complete lines checked
  std::optional<int64_t> broken_line;  // first broken line (1-based), nullopt if intact
  std::string problem;                 // what is wrong there
};

// Checks the whole chain of FILE. A missing file is an intact, empty trail.
// IO_ERROR when it cannot be read.
Result<AuditVerifyReport> VerifyAuditFile(const std::filesystem::path& file);
// Same, on the text of the file (pure; the fuzz target and tests use it).
AuditVerifyReport VerifyAuditText(std::string_view text);

// The head file DATA/dashboard-audit.head (FileAuditHead::Read): nullopt
// when there is none; STORAGE_ERROR when it is unreadable.
Result<std::optional<AuditHead>> ReadAuditHead(const std::filesystem::path& data_dir);
// What `cardbureau audit verify` checks: the trail of `data_dir` and its
// head. broken_line names the first bad entry (1-based; for a truncated
// trail the first missing one, entries + 1); a missing data dir, trail or
// head, or an empty trail, is reported broken at entry 1. IO_ERROR only
// when a file exists but cannot be read.
// The head is read from `heads`; without it from DATA/dashboard-audit.head.
Result<AuditVerifyReport> VerifyAuditTrail(const std::filesystem::path& data_dir,
                                           AuditHeadStore& heads);
Result<AuditVerifyReport> VerifyAuditTrail(const std::filesystem::path& data_dir);

}  // namespace cardbureau::http
