#include "cardbureau/server/config.h"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <span>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/file.h"

namespace cardbureau::server {
namespace {

using json = nlohmann::json;

Status Bad(const std::string& key, const std::string& why) {
  return Status(Code::kInvalidConfig, why, key);
}

Status GetInt(const json& v, const std::string& key, int64_t& out) {
  if (!v.is_number_integer()) return Bad(key, "must be an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return Bad(key, "out of range");
  }
  out = v.get<int64_t>();
  return Status::Ok();
}
Status GetStr(const json& v, const std::string& key, std::string& out) {
  if (!v.is_string()) return Bad(key, "must be a string");
  out = v.get<std::string>();
  return Status::Ok();
}
Status GetPath(const json& v, const std::string& key, std::filesystem::path& out) {
  std::string s;
  CB_RETURN_IF_ERROR(GetStr(v, key, s));
  out = s;
  return Status::Ok();
}

using Setter = std::function<Status(const json&, const std::string&, ServeConfig&)>;

Status ApplyObject(const json& obj, const std::string& prefix,
                   const std::map<std::string, Setter>& setters, ServeConfig& c) {
  if (!obj.is_object()) return Bad(prefix.empty() ? "(root)" : prefix, "must be a JSON object");
  for (const auto& [k, v] : obj.items()) {
    const std::string key = prefix.empty() ? k : prefix + "." + k;
    auto it = setters.find(k);
    if (it == setters.end()) return Bad(key, "unknown setting");
    CB_RETURN_IF_ERROR(it->second(v, key, c));
  }
  return Status::Ok();
}

#define CB_INT(name)                                                                             \
  {                                                                                              \
#name,                                                                                       \
        [](const json& v, const std::string& k, ServeConfig& c) { return GetInt(v, k, c.name); } \
  }
#define CB_STR(name)                                                                             \
  {                                                                                              \
#name,                                                                                       \
        [](const json& v, const std::string& k, ServeConfig& c) { return GetStr(v, k, c.name); } \
  }

const std::map<std::string, Setter>& CurveSetters() {
  static const std::map<std::string, Setter> s = {
      {"centre_public_key", [](const json& v, const std::string& k,
                               ServeConfig& c) { return GetStr(v, k, c.curve.centre_public_key); }},
      {"public_key", [](const json& v, const std::string& k,
                        ServeConfig& c) { return GetStr(v, k, c.curve.public_key); }},
      {"secret_key_file", [](const json& v, const std::string& k, ServeConfig& c) {
         return GetPath(v, k, c.curve.secret_key_file);
       }}};
  return s;
}

const std::map<std::string, Setter>& ProductionSetters() {
  static const std::map<std::string, Setter> s = {
      {"kind", [](const json& v, const std::string& k,
                  ServeConfig& c) { return GetStr(v, k, c.production.kind); }},
      {"delay_ms", [](const json& v, const std::string& k,
                      ServeConfig& c) { return GetInt(v, k, c.production.delay_ms); }},
      {"log", [](const json& v, const std::string& k,
                 ServeConfig& c) { return GetPath(v, k, c.production.log); }},
      {"fail_every", [](const json& v, const std::string& k,
                        ServeConfig& c) { return GetInt(v, k, c.production.fail_every); }},
      {"hold", [](const json& v, const std::string& k, ServeConfig& c) {
         return GetStr(v, k, c.production.hold);
       }}};
  return s;
}

const std::map<std::string, Setter>& HttpSetters() {
  static const std::map<std::string, Setter> s = {
      {"listen", [](const json& v, const std::string& k,
                    ServeConfig& c) { return GetStr(v, k, c.http.listen); }},
      {"tokens", [](const json& v, const std::string& k,
                    ServeConfig& c) { return GetPath(v, k, c.http.tokens_file); }},
      {"web", [](const json& v, const std::string& k, ServeConfig& c) {
         return GetPath(v, k, c.http.web_dir);
       }}};
  return s;
}

const std::map<std::string, Setter>& RootSetters() {
  static const std::map<std::string, Setter> s = {
      CB_STR(bureau_id),
      CB_STR(centre),
      {"data_dir", [](const json& v, const std::string& k,
                      ServeConfig& c) { return GetPath(v, k, c.data_dir); }},
      CB_INT(queue_capacity),
      CB_INT(stations),
      CB_INT(intake_batch),
      CB_INT(heartbeat_interval_ms),
      CB_INT(peer_timeout_ms),
      CB_INT(reconnect_min_ms),
      CB_INT(reconnect_max_ms),
      CB_INT(report_retry_min_ms),
      CB_INT(report_retry_max_ms),
      CB_STR(data_group),
      CB_INT(retention_days),
      CB_INT(purge_interval_s),
      CB_STR(validation),
      {"curve", [](const json& v, const std::string& k,
                   ServeConfig& c) { return ApplyObject(v, k, CurveSetters(), c); }},
      {"production", [](const json& v, const std::string& k,
                        ServeConfig& c) { return ApplyObject(v, k, ProductionSetters(), c); }},
      {"http", [](const json& v, const std::string& k, ServeConfig& c) {
         return ApplyObject(v, k, HttpSetters(), c);
       }}};
  return s;
}

#undef CB_INT
#undef CB_STR

Status Range(int64_t v, int64_t lo, int64_t hi, const std::string& key) {
  if (v < lo || v > hi) {
    return Bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return Status::Ok();
}

bool IsZ85Char(char c) {
  static constexpr std::string_view kAlphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  return kAlphabet.find(c) != std::string_view::npos;
}

}  // namespace

Status CheckZ85Key(std::string_view key, std::string_view what) {
  if (key.size() != 40)
    return Status(Code::kInvalidKey, std::string(what) + " must be 40 Z85 chars");
  for (char c : key) {
    if (!IsZ85Char(c)) return Status(Code::kInvalidKey, std::string(what) + " is not Z85");
  }
  return Status::Ok();
}

Status CheckServeConfig(const ServeConfig& c) {
  if (c.bureau_id.empty() || c.bureau_id.size() > 64) {
    return Bad("bureau_id", "must be 1-64 characters");
  }
  CB_RETURN_IF_ERROR(Range(c.queue_capacity, 1, 100000, "queue_capacity"));
  CB_RETURN_IF_ERROR(Range(c.stations, 1, 256, "stations"));
  CB_RETURN_IF_ERROR(Range(c.intake_batch, 1, 10000, "intake_batch"));
  CB_RETURN_IF_ERROR(Range(c.heartbeat_interval_ms, 10, 2000, "heartbeat_interval_ms"));
  CB_RETURN_IF_ERROR(Range(c.peer_timeout_ms, 100, 600000, "peer_timeout_ms"));
  CB_RETURN_IF_ERROR(Range(c.reconnect_min_ms, 1, 600000, "reconnect_min_ms"));
  CB_RETURN_IF_ERROR(Range(c.reconnect_max_ms, c.reconnect_min_ms, 600000, "reconnect_max_ms"));
  CB_RETURN_IF_ERROR(Range(c.report_retry_min_ms, 1, 3600000, "report_retry_min_ms"));
  CB_RETURN_IF_ERROR(
      Range(c.report_retry_max_ms, c.report_retry_min_ms, 3600000, "report_retry_max_ms"));
  CB_RETURN_IF_ERROR(Range(c.retention_days, 0, 3650, "retention_days"));
  CB_RETURN_IF_ERROR(Range(c.purge_interval_s, 1, 86400, "purge_interval_s"));
  CB_RETURN_IF_ERROR(Range(c.production.delay_ms, 0, 600000, "production.delay_ms"));
  CB_RETURN_IF_ERROR(Range(c.production.fail_every, 0, 1000000, "production.fail_every"));
  if (c.production.hold != "none" && c.production.hold != "before-encoding" &&
      c.production.hold != "after-encoding") {
    return Bad("production.hold", "must be none, before-encoding or after-encoding");
  }
  if (c.validation != "full" && c.validation != "core") {
    return Bad("validation", "must be full or core");
  }
  if (c.production.kind.empty()) return Bad("production.kind", "must not be empty");
  const auto& k = c.curve;
  if (!k.centre_public_key.empty() || !k.public_key.empty() || !k.secret_key_file.empty()) {
    if (k.centre_public_key.empty() || k.public_key.empty() || k.secret_key_file.empty()) {
      return Bad("curve", "centre_public_key, public_key and secret_key_file go together");
    }
    if (!CheckZ85Key(k.centre_public_key, "key").ok()) {
      return Bad("curve.centre_public_key", "must be 40 Z85 chars");
    }
    if (!CheckZ85Key(k.public_key, "key").ok()) {
      return Bad("curve.public_key", "must be 40 Z85 chars");
    }
  }
  if (c.http.enabled() && c.http.tokens_file.empty()) {
    return Bad("http.tokens", "the dashboard needs a token file (docs/dashboard.md)");
  }
  return Status::Ok();
}

Result<ServeConfig> ParseServeConfig(std::string_view text, ServeConfig base) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("(file)", "not well-formed JSON");
  CB_RETURN_IF_ERROR(ApplyObject(j, "", RootSetters(), base));
  return base;
}

Result<ServeConfig> LoadServeConfig(const std::filesystem::path& path, ServeConfig base) {
  CB_ASSIGN_OR_RETURN(std::string text, ReadFileWithLimit(path, 1u << 20));
  return ParseServeConfig(text, std::move(base));
}

Result<std::string> ReadSecretKeyFile(const std::filesystem::path& path) {
  CB_ASSIGN_OR_RETURN(std::string text, ReadSecretFile(path.string(), 4096, "CURVE secret key"));
  std::string key = text.substr(0, text.find('\n'));
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size()));
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  Status form = CheckZ85Key(key, "secret key in " + path.string());
  if (!form.ok()) {
    SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(key.data()), key.size()));
    return form;
  }
  return key;
}

}  // namespace cardbureau::server
