#include "cardbureau/http/auth.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/file.h"

namespace cardbureau::http {

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kOperator:
      return "operator";
    case Role::kQa:
      return "qa";
    case Role::kAdmin:
      return "admin";
  }
  return "operator";
}

std::optional<Role> RoleFromString(std::string_view text) {
  if (text == "operator") return Role::kOperator;
  if (text == "qa") return Role::kQa;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string HashToken(std::string_view token) { return Sha256Hex(AsBytes(token)); }

Result<TokenTable> TokenTable::Parse(std::string_view json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status(Code::kInvalidConfig, "token file is not a JSON object");
  }
  auto tokens = doc.find("tokens");
  if (tokens == doc.end() || !tokens->is_array()) {
    return Status(Code::kInvalidConfig, "missing array", "tokens");
  }
  TokenTable table;
  std::set<std::string> names;
  std::set<std::string> hashes;
  for (size_t i = 0; i < tokens->size(); ++i) {
    const auto& t = (*tokens)[i];
    const std::string path = "tokens[" + std::to_string(i) + "]";
    if (!t.is_object()) return Status(Code::kInvalidConfig, "not an object", path);
    auto str = [&](const char* key) -> std::optional<std::string> {
      auto it = t.find(key);
      if (it == t.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    auto name = str("name");
    if (!name || name->empty() || name->size() > 64) {
      return Status(Code::kInvalidConfig, "name must be 1-64 characters", path + ".name");
    }
    auto role_text = str("role");
    auto role = role_text ? RoleFromString(*role_text) : std::nullopt;
    if (!role) {
      return Status(Code::kInvalidConfig, "role must be operator, qa or admin", path + ".role");
    }
    auto hash_text = str("sha256");
    if (!hash_text || hash_text->size() != 64) {
      return Status(Code::kInvalidConfig, "sha256 must be 64 hex digits", path + ".sha256");
    }
    auto hash = FromHex(*hash_text);
    if (!hash.ok() || hash->size() != 32) {
      return Status(Code::kInvalidConfig, "sha256 must be 64 hex digits", path + ".sha256");
    }
    if (!names.insert(*name).second) {
      return Status(Code::kInvalidConfig, "duplicate name", path + ".name");
    }
    if (!hashes.insert(ToHex(*hash)).second) {
      return Status(Code::kInvalidConfig, "duplicate token hash", path + ".sha256");
    }
    Entry e;
    e.name = *name;
    e.role = *role;
    std::copy(hash->begin(), hash->end(), e.hash.begin());
    table.entries_.push_back(std::move(e));
  }
  return table;
}

Result<TokenTable> TokenTable::Load(const std::filesystem::path& file) {
  // Token hashes are secrets too (core/file.h: mode 0600, no symlink).
  CB_ASSIGN_OR_RETURN(std::string text, ReadSecretFile(file.string(), 1 << 20, "token file"));
  return Parse(text);
}

Result<Principal> TokenTable::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.empty()) {
    return Status(Code::kUnauthorized, "missing bearer token");
  }
  if (authorization.size() <= kScheme.size() ||
      authorization.substr(0, kScheme.size()) != kScheme) {
    return Status(Code::kUnauthorized, "Authorization must be 'Bearer <token>'");
  }
  const std::string_view token = authorization.substr(kScheme.size());
  if (token.size() > 256) return Status(Code::kUnauthorized, "token too long");
  const Bytes digest = Sha256(AsBytes(token));
  const Entry* match = nullptr;
  for (const auto& e : entries_) {
    // Every entry is compared; no early exit on a match or a mismatch.
    const bool equal = CRYPTO_memcmp(e.hash.data(), digest.data(), e.hash.size()) == 0;
    if (equal && match == nullptr) match = &e;
  }
  if (match == nullptr) return Status(Code::kUnauthorized, "unknown token");
  return Principal{match->name, match->role};
}

}  // namespace cardbureau::http
