#include "cardbureau/encoder/keystore.h"

#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "cardbureau/core/file.h"
#include "cardbureau/encoder/pkcs11_keystore.h"

namespace cardbureau::encoder {
namespace {

Result<AesKey> KeyField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Status(Code::kInvalidJson, "missing or not a string", name);
  }
  auto key = AesKey::FromHex(it->get_ref<const std::string&>());
  if (!key.ok()) return Status(Code::kInvalidKey, "must be 32 hex digits", name);
  return key;
}

}  // namespace

Result<KeySet> ParseKeystore(std::string_view json_text, const std::filesystem::path& base_dir) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(Code::kInvalidJson, "keystore is not a JSON object");
  }
  if (auto b = j.find("backend"); b != j.end()) {
    if (!b->is_string() || (*b != "file" && *b != "pkcs11")) {
      return Status(Code::kInvalidJson, "must be \"file\" or \"pkcs11\"", "backend");
    }
    if (*b == "pkcs11") {
      // The keys stay on the token (pkcs11_keystore.h).
      CB_ASSIGN_OR_RETURN(Pkcs11Config config, ParsePkcs11Config(json_text, base_dir));
      KeySet keys;
      CB_ASSIGN_OR_RETURN(keys.backend, OpenPkcs11Backend(config));
      return keys;
    }
  }
  KeySet keys;
  Status first;
  {
    auto r = KeyField(j, "master_read");
    auto w = KeyField(j, "master_write");
    auto m = KeyField(j, "master_mac");
    for (auto* res : {&r, &w, &m}) {
      if (!res->ok() && first.ok()) first = res->status();
    }
    if (first.ok()) {
      keys.master_read = std::move(*r);
      keys.master_write = std::move(*w);
      keys.master_mac = std::move(*m);
    }
  }
  // Scrub the hex copies held by the JSON tree.
  for (const char* name : {"master_read", "master_write", "master_mac"}) {
    auto it = j.find(name);
    if (it != j.end() && it->is_string()) {
      auto& s = it->get_ref<std::string&>();
      SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
    }
  }
  if (!first.ok()) return first;
  auto sk = j.find("sign_key");
  if (sk == j.end() || !sk->is_string() || sk->get_ref<const std::string&>().empty()) {
    return Status(Code::kInvalidJson, "missing or not a string", "sign_key");
  }
  std::filesystem::path sign(sk->get<std::string>());
  if (sign.is_relative()) sign = base_dir / sign;
  keys.sign_key_path = sign.lexically_normal().string();
  return keys;
}

Result<KeySet> LoadKeystore(const std::filesystem::path& path) {
  // The one rule for secrets (core/file.h): regular file, no symlink, mode
  // 0600 or stricter, bounded size.
  CB_ASSIGN_OR_RETURN(std::string text,
                      ReadSecretFile(path.string(), kMaxKeystoreBytes, "keystore"));
  auto keys = ParseKeystore(text, std::filesystem::absolute(path).parent_path());
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size()));
  return keys;
}

}  // namespace cardbureau::encoder
