// Bearer-token authentication and roles for the HTTP API.
//
// The token file (JSON) holds only SHA-256 hashes of the tokens:
//   {"tokens": [{"name": "wang.operator", "role": "operator",
//                "sha256": "<64 lower-case hex of SHA-256(token)>"}]}
// `cardbureau dashboard-token --name N --role R` makes a token and prints
// the entry. Names are unique (they appear in the audit trail); roles are
// "operator", "qa", "admin".
//
// Thread-safety: TokenTable is immutable after Parse/Load; const methods are
// thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cardbureau/core/status.h"

namespace cardbureau::http {

enum class Role { kOperator, kQa, kAdmin };

std::string_view ToString(Role role);  // "operator", "qa", "admin"
std::optional<Role> RoleFromString(std::string_view text);

// The authenticated caller.
struct Principal {
  std::string name;
  Role role = Role::kOperator;
};

// Lower-case hex SHA-256 of a token, as stored in the token file.
std::string HashToken(std::string_view token);

class TokenTable {
 public:
  TokenTable() = default;  // empty: nobody can log in

  // Pure parser of the token file's text. INVALID_CONFIG (with the field
  // path) for malformed JSON, a missing/unknown role, a hash that is not 64
  // hex digits, or a duplicate name or hash.
  static Result<TokenTable> Parse(std::string_view json_text);
  // Reads and parses FILE. IO_ERROR when unreadable; KEY_FILE_INSECURE when
  // the file is writable by group or others (anyone could add a token).
  static Result<TokenTable> Load(const std::filesystem::path& file);

  // Authenticates the value of an Authorization header ("Bearer <token>").
  // Compares the token's hash with every entry in constant time (no early
  // exit). UNAUTHORIZED when the header is missing, malformed or the token
  // is unknown; the message never contains the token.
  Result<Principal> Authenticate(std::string_view authorization) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;
    Role role = Role::kOperator;
    std::array<uint8_t, 32> hash{};
  };
  std::vector<Entry> entries_;
};

}  // namespace cardbureau::http
