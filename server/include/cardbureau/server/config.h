// `cardbureau serve` settings: a JSON config file (docs/config.md) and flags
// for the same settings; flags override the file.
//
// ParseServeConfig is pure (text in, config or Status out) and fuzzed. Every
// error is INVALID_CONFIG with Status::field() naming the key
// ("production.delay_ms"). Unknown keys are refused (a typo must not silently
// fall back to a default).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "cardbureau/core/status.h"

namespace cardbureau::server {

// CURVE keys of a bureau, Z85 text (40 chars). All empty = no CURVE.
struct CurveClientConfig {
  std::string centre_public_key;          // the only centre this bureau talks to
  std::string public_key;                 // this bureau's public key
  std::filesystem::path secret_key_file;  // Z85 secret; mode must be 0600 or stricter
  bool enabled() const { return !centre_public_key.empty(); }
};

struct ProductionConfig {
  std::string kind = "none";  // "none" (jobs wait), "fake", or a registered line
  int64_t delay_ms = 5;       // fake: per production step
  std::filesystem::path log;  // fake: produced-cards log (see FakeProductionOptions)
  int64_t fail_every = 0;     // fake: every N-th job fails PRINTER_JAM
  std::string hold = "none";  // fake: "none", "before-encoding", "after-encoding"
};

// The operator dashboard (`serve --http`). Off unless `listen` is set.
struct HttpConfig {
  std::string listen;                 // "HOST:PORT", e.g. 127.0.0.1:8080; "" = no dashboard
  std::filesystem::path tokens_file;  // hashed bearer tokens (docs/dashboard.md), mode 0600
  std::filesystem::path web_dir;      // the page's files; "" = <prefix>/share/cardbureau/web
                                      // (or web/ of the source tree for a build-tree binary)
  bool enabled() const { return !listen.empty(); }
};

struct ServeConfig {
  std::string bureau_id = "bj-bureau-01";
  std::string centre;              // ZeroMQ endpoint, e.g. tcp://centre:5570
  std::filesystem::path data_dir;  // store, photos, cards
  int64_t queue_capacity = 64;     // jobs held in production at most (pull credit)
  int64_t stations = 1;
  int64_t intake_batch = 64;  // jobs made durable per group commit
  int64_t heartbeat_interval_ms = 1000;
  int64_t peer_timeout_ms = 10000;
  int64_t reconnect_min_ms = 250;
  int64_t reconnect_max_ms = 8000;
  int64_t report_retry_min_ms = 1000;
  int64_t report_retry_max_ms = 30000;
  // Files holding children's data are created 0600 (folders 0700). With a
  // group name here, 0640 (folders 2750, setgid, so files inherit the
  // group) for a QA or backup account in that group.
  std::string data_group;
  int64_t retention_days = 7;
  int64_t purge_interval_s = 60;
  // "full": the executable's validator (ServeHooks::validator, e.g. face and
  // photo-quality checks); "core": core's field rules + photo bytes only
  // (tests and benchmarks with synthetic photos).
  std::string validation = "full";
  CurveClientConfig curve;
  ProductionConfig production;
  HttpConfig http;
};

// Applies the JSON object `text` on top of `base`. INVALID_CONFIG naming the
// key for malformed JSON, unknown keys, wrong types and out-of-range values.
Result<ServeConfig> ParseServeConfig(std::string_view text, ServeConfig base = {});
// Reads and parses a file (IO_ERROR when unreadable, INPUT_TOO_LARGE > 1 MiB).
Result<ServeConfig> LoadServeConfig(const std::filesystem::path& path, ServeConfig base = {});
// Range checks that also apply to flags (INVALID_CONFIG naming the key).
Status CheckServeConfig(const ServeConfig& c);

// Reads a Z85 secret key file: KEY_FILE_INSECURE when group/others may read
// it, INVALID_KEY when it is not 40 Z85 chars, IO_ERROR when unreadable.
Result<std::string> ReadSecretKeyFile(const std::filesystem::path& path);
// INVALID_KEY unless `key` is 40 chars of Z85.
Status CheckZ85Key(std::string_view key, std::string_view what);

}  // namespace cardbureau::server
