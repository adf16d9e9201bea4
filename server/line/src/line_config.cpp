#include "cardbureau/line/line_config.h"

#include <nlohmann/json.hpp>

#include "cardbureau/core/file.h"

namespace cardbureau::line {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Status Bad(const std::string& key, const std::string& msg) {
  return Status(Code::kInvalidConfig, msg, key);
}

fs::path Resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return path.is_absolute() || base.empty() ? path : base / path;
}

Status GetInt(const json& o, const char* key, const std::string& prefix, int lo, int hi, int& out) {
  if (!o.contains(key)) return Status::Ok();
  const json& v = o[key];
  if (!v.is_number_integer()) return Bad(prefix + key, "must be an integer");
  int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    return Bad(prefix + key,
               "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  out = static_cast<int>(x);
  return Status::Ok();
}

Status GetString(const json& o, const char* key, const std::string& prefix, std::string& out) {
  if (!o.contains(key)) return Status::Ok();
  if (!o[key].is_string() || o[key].get<std::string>().empty())
    return Bad(prefix + key, "must be a non-empty string");
  out = o[key].get<std::string>();
  return Status::Ok();
}

Status GetBool(const json& o, const char* key, const std::string& prefix, bool& out) {
  if (!o.contains(key)) return Status::Ok();
  if (!o[key].is_boolean()) return Bad(prefix + key, "must be true or false");
  out = o[key].get<bool>();
  return Status::Ok();
}

Status IntSet(const json& o, const char* key, const std::string& prefix, std::set<int>& out) {
  if (!o.contains(key)) return Status::Ok();
  if (!o[key].is_array()) return Bad(prefix + key, "must be an array of card numbers");
  for (const auto& v : o[key]) {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1000000) {
      return Bad(prefix + key, "must hold integers >= 1");
    }
    out.insert(static_cast<int>(v.get<int64_t>()));
  }
  return Status::Ok();
}

Status CheckKeys(const json& o, const std::string& prefix,
                 std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : o.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || k == a;
    if (!known) return Bad(prefix + k, "unknown key");
  }
  return Status::Ok();
}

Result<StationConfig> ParseStation(const json& s, size_t index, const fs::path& base) {
  const std::string prefix = "stations[" + std::to_string(index) + "].";
  if (!s.is_object()) return Bad("stations[" + std::to_string(index) + "]", "must be an object");
  CB_RETURN_IF_ERROR(CheckKeys(
      s, prefix,
      {"name", "printer", "reader", "hopper", "dir", "queue", "server", "port", "vpcd_port", "seed",
       "time_per_card_ms", "ribbon_prints", "card_stock", "card_types", "faults"}));
  StationConfig c;
  CB_RETURN_IF_ERROR(GetString(s, "name", prefix, c.name));
  if (c.name.empty()) return Bad(prefix + "name", "is required");
  CB_RETURN_IF_ERROR(GetString(s, "printer", prefix, c.printer));
  if (c.printer != "sim" && c.printer != "hotfolder" && c.printer != "cups") {
    return Bad(prefix + "printer", "must be sim, hotfolder or cups");
  }
  CB_RETURN_IF_ERROR(GetString(s, "reader", prefix, c.reader));
  if (c.reader != "loopback" && c.reader.rfind("pcsc:", 0) != 0) {
    return Bad(prefix + "reader", "must be loopback or pcsc:<reader name>");
  }
  if (c.reader == "loopback" && c.printer != "sim") {
    return Bad(prefix + "reader", "the loopback reader exists only inside a sim printer");
  }
  std::string hopper = "hopper/" + c.name, dir;
  CB_RETURN_IF_ERROR(GetString(s, "hopper", prefix, hopper));
  c.hopper = Resolve(base, hopper);
  CB_RETURN_IF_ERROR(GetString(s, "dir", prefix, dir));
  if (c.printer == "hotfolder" && dir.empty())
    return Bad(prefix + "dir", "a hotfolder printer needs its folder");
  if (!dir.empty()) c.dir = Resolve(base, dir);
  CB_RETURN_IF_ERROR(GetString(s, "queue", prefix, c.queue));
  if (c.printer == "cups" && c.queue.empty())
    return Bad(prefix + "queue", "a cups printer needs its queue");
  CB_RETURN_IF_ERROR(GetString(s, "server", prefix, c.server));
  CB_RETURN_IF_ERROR(GetInt(s, "port", prefix, 1, 65535, c.port));
  CB_RETURN_IF_ERROR(GetInt(s, "vpcd_port", prefix, 1, 65535, c.vpcd_port));
  if (c.vpcd_port && c.printer != "sim")
    return Bad(prefix + "vpcd_port", "only a sim printer inserts through vpcd");
  if (c.vpcd_port && c.reader == "loopback") {
    return Bad(prefix + "reader", "a card inserted through vpcd is read with a pcsc: reader");
  }
  int seed = 1;
  CB_RETURN_IF_ERROR(GetInt(s, "seed", prefix, 0, 1 << 30, seed));
  c.seed = static_cast<uint64_t>(seed);
  CB_RETURN_IF_ERROR(GetInt(s, "time_per_card_ms", prefix, 0, 600000, c.time_per_card_ms));
  CB_RETURN_IF_ERROR(GetInt(s, "ribbon_prints", prefix, 1, 1000000, c.ribbon_prints));
  CB_RETURN_IF_ERROR(GetInt(s, "card_stock", prefix, 1, 1000000, c.card_stock));
  if (s.contains("card_types")) {
    if (!s["card_types"].is_array() || s["card_types"].empty()) {
      return Bad(prefix + "card_types", "must be a non-empty array");
    }
    c.card_types.clear();
    for (const auto& t : s["card_types"]) {
      if (t == "mifare-classic-1k") {
        c.card_types.insert(CardType::kMifareClassic1K);
      } else if (t == "mifare-classic-4k") {
        c.card_types.insert(CardType::kMifareClassic4K);
      } else {
        return Bad(prefix + "card_types", "must hold mifare-classic-1k / mifare-classic-4k");
      }
    }
  }
  if (s.contains("faults")) {
    const json& f = s["faults"];
    const std::string fp = prefix + "faults.";
    if (!f.is_object()) return Bad(prefix + "faults", "must be an object");
    CB_RETURN_IF_ERROR(CheckKeys(f, fp, {"jam_feed", "jam_print", "ribbon_after", "cards"}));
    CB_RETURN_IF_ERROR(IntSet(f, "jam_feed", fp, c.jam_feed));
    CB_RETURN_IF_ERROR(IntSet(f, "jam_print", fp, c.jam_print));
    if (f.contains("ribbon_after")) {
      int r = 0;
      CB_RETURN_IF_ERROR(GetInt(f, "ribbon_after", fp, 0, 1000000, r));
      c.ribbon_after = r;
    }
    if (f.contains("cards")) {
      if (!f["cards"].is_object()) return Bad(fp + "cards", "must map card numbers to fault specs");
      for (const auto& [k, v] : f["cards"].items()) {
        int n = 0;
        try {
          n = std::stoi(k);
        } catch (...) {
          n = 0;
        }
        if (n < 1 || !v.is_string())
          return Bad(fp + "cards." + k, "must be \"<n>\": \"<fault spec>\"");
        auto plan = devices::ParseFaultPlan(v.get<std::string>());
        if (!plan.ok()) return Bad(fp + "cards." + k, plan.status().message());
        c.card_faults[n] = *plan;
      }
    }
  }
  return c;
}

}  // namespace

Result<LineConfig> ParseLineConfig(std::string_view text, const fs::path& base) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Bad("", "line config is not a JSON object");
  CB_RETURN_IF_ERROR(CheckKeys(
      j, "",
      {"keys", "template", "profile", "render_threads", "max_tries", "station_failure_limit",
       "card_wait_ms", "batches_dir", "direct_io", "stations", "stock"}));
  LineConfig c;
  std::string keys, batches = "batches";
  CB_RETURN_IF_ERROR(GetString(j, "keys", "", keys));
  if (keys.empty()) return Bad("keys", "the keystore file is required");
  c.keys = Resolve(base, keys);
  CB_RETURN_IF_ERROR(GetString(j, "template", "", c.template_name));
  CB_RETURN_IF_ERROR(GetString(j, "profile", "", c.profile));
  CB_RETURN_IF_ERROR(GetInt(j, "render_threads", "", 1, 16, c.render_threads));
  CB_RETURN_IF_ERROR(GetInt(j, "max_tries", "", 1, 20, c.max_tries));
  CB_RETURN_IF_ERROR(GetInt(j, "station_failure_limit", "", 1, 1000, c.station_failure_limit));
  CB_RETURN_IF_ERROR(GetInt(j, "card_wait_ms", "", 10, 600000, c.card_wait_ms));
  CB_RETURN_IF_ERROR(GetString(j, "batches_dir", "", batches));
  CB_RETURN_IF_ERROR(GetBool(j, "direct_io", "", c.direct_io));
  c.batches_dir = Resolve(base, batches);
  if (j.contains("stock")) {
    const json& st = j["stock"];
    if (!st.is_object()) return Bad("stock", "must be an object");
    CB_RETURN_IF_ERROR(CheckKeys(st, "stock.", {"required", "low_level"}));
    CB_RETURN_IF_ERROR(GetBool(st, "required", "stock.", c.stock_required));
    CB_RETURN_IF_ERROR(GetInt(st, "low_level", "stock.", 0, 10000000, c.stock_low_level));
  }
  if (!j.contains("stations") || !j["stations"].is_array() || j["stations"].empty()) {
    return Bad("stations", "at least one station is required");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < j["stations"].size(); ++i) {
    CB_ASSIGN_OR_RETURN(StationConfig s, ParseStation(j["stations"][i], i, base));
    if (!names.insert(s.name).second)
      return Bad("stations[" + std::to_string(i) + "].name", "duplicate name");
    c.stations.push_back(std::move(s));
  }
  return c;
}

Result<LineConfig> LoadLineConfig(const fs::path& path) {
  CB_ASSIGN_OR_RETURN(std::string text, ReadFileWithLimit(path, 1024 * 1024));
  return ParseLineConfig(text, path.parent_path());
}

}  // namespace cardbureau::line
