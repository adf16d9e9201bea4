// `cardbureau serve`, `cardbureau centre`, `cardbureau keygen` and
// `cardbureau history`.
#include "cardbureau/server/commands.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/stop.h"
#include "cardbureau/server/centre.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::server {
namespace {

namespace po = boost::program_options;

// Children's data at rest: the data folder and everything created in it are
// private to the service user (umask 077: files 0600, folders 0700), or,
// with `data_group`, readable by that group (umask 027 and a setgid data
// folder, so files inherit the group: 0640 / 2750).
Status PrepareDataDir(const ServeConfig& cfg) {
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) {
    return Status(Code::kIoError,
                  "cannot create data folder " + cfg.data_dir.string() + ": " + ec.message());
  }
  if (cfg.data_group.empty()) {
    ::umask(077);
    if (::chmod(cfg.data_dir.c_str(), 0700) != 0) {
      return Status(Code::kIoError,
                    "cannot make " + cfg.data_dir.string() + " private: " + std::strerror(errno));
    }
    return Status::Ok();
  }
  struct group* g = ::getgrnam(cfg.data_group.c_str());
  if (!g)
    return Status(Code::kInvalidConfig, "no such group '" + cfg.data_group + "'", "data_group");
  ::umask(027);
  if (::chown(cfg.data_dir.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0 ||
      ::chmod(cfg.data_dir.c_str(), 02750) != 0) {
    return Status(Code::kIoError, "cannot give " + cfg.data_dir.string() + " to group " +
                                      cfg.data_group + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

FakeHold ParseHold(const std::string& s) {
  if (s == "before-encoding") return FakeHold::kBeforeEncoding;
  if (s == "after-encoding") return FakeHold::kAfterEncoding;
  return FakeHold::kNone;
}

int RunServe(const ServeHooks& hooks, int argc, char** argv) {
  cli::Cli cli("serve", "--centre ENDPOINT --data DIR [--config FILE] [options]",
               "Pulls jobs from the centre (protocol v1), stores them durably in DIR, hands\n"
               "them to the production line and reports every job exactly once. Settings\n"
               "come from the config file (docs/config.md); flags override it. SIGTERM or\n"
               "SIGINT stops pulling, parks in-flight work, flushes and exits 0.\n"
               "Exit 0 stopped cleanly, 1 refused configuration (the message names the\n"
               "code and the setting), 2 usage, 3 runtime failure.");
  std::string config_file;
  // Flags are read as optional values so "not given" leaves the file's value.
  cli.Options()("config", po::value(&config_file), "JSON config file (docs/config.md)")(
      "centre", po::value<std::string>(), "centre endpoint, e.g. tcp://127.0.0.1:5570")(
      "data", po::value<std::string>(), "data directory (store, photos, cards)")(
      "bureau-id", po::value<std::string>(), "routing id (default bj-bureau-01)")(
      "queue-capacity", po::value<int64_t>(), "jobs in production at most (default 64)")(
      "stations", po::value<int64_t>(), "stations / production workers (default 1)")(
      "intake-batch", po::value<int64_t>(), "jobs per durable group commit (default 64)")(
      "heartbeat-ms", po::value<int64_t>(), "heartbeat interval (default 1000, max 2000)")(
      "peer-timeout-ms", po::value<int64_t>(), "centre silence before reconnect (default 10000)")(
      "reconnect-min-ms", po::value<int64_t>(), "reconnect backoff start (default 250)")(
      "reconnect-max-ms", po::value<int64_t>(), "reconnect backoff cap (default 8000)")(
      "report-retry-min-ms", po::value<int64_t>(), "report re-send backoff start (default 1000)")(
      "report-retry-max-ms", po::value<int64_t>(), "report re-send backoff cap (default 30000)")(
      "retention-days", po::value<int64_t>(), "keep photos/faces after ack (default 7)")(
      "production", po::value<std::string>(), "production line: none, fake, or line")(
      "validation", po::value<std::string>(), "intake checks: full (default) or core")(
      "fake-delay-ms", po::value<int64_t>(), "fake production: delay per step (default 5)")(
      "fake-log", po::value<std::string>(), "fake production: produced-cards log file")(
      "fake-fail-every", po::value<int64_t>(), "fake production: every N-th job fails")(
      "fake-hold", po::value<std::string>(), "fake: none, before-encoding, after-encoding")(
      "curve-centre-key", po::value<std::string>(), "CURVE: centre public key (Z85)")(
      "curve-public-key", po::value<std::string>(), "CURVE: this bureau's public key (Z85)")(
      "curve-secret-file", po::value<std::string>(), "CURVE: this bureau's secret key file")(
      "http", po::value<std::string>()->implicit_value("127.0.0.1:8080"),
      "serve the operator dashboard on HOST:PORT (--http alone: 127.0.0.1:8080; "
      "docs/dashboard.md)")("tokens", po::value<std::string>(),
                            "dashboard: bearer-token file (hashed, mode 0600)")(
      "web", po::value<std::string>(),
      "dashboard: page files (default: <prefix>/share/cardbureau/web beside the "
      "executable; refused with INVALID_CONFIG when it has no index.html)");
  cli.Example("cardbureau serve --config /etc/cardbureau/serve.json");
  cli.Example(
      "cardbureau serve --centre tcp://127.0.0.1:5570 --data /tmp/bureau --production fake "
      "--http 127.0.0.1:8080 --tokens tokens.json");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  const po::variables_map& vm = cli.vm();
  ServeConfig cfg;
  if (!config_file.empty()) {
    if (Status f = cli::CheckInputFile(config_file, "config"); !f.ok()) return cli.Fail(f);
    auto loaded = LoadServeConfig(config_file);
    if (!loaded.ok()) return cli.Fail(loaded.status());
    cfg = std::move(loaded).value();
  }
  auto str = [&](const char* flag, std::string& out) {
    if (vm.count(flag)) out = vm[flag].as<std::string>();
  };
  auto num = [&](const char* flag, int64_t& out) {
    if (vm.count(flag)) out = vm[flag].as<int64_t>();
  };
  auto path = [&](const char* flag, std::filesystem::path& out) {
    if (vm.count(flag)) out = vm[flag].as<std::string>();
  };
  str("centre", cfg.centre);
  path("data", cfg.data_dir);
  str("bureau-id", cfg.bureau_id);
  num("queue-capacity", cfg.queue_capacity);
  num("stations", cfg.stations);
  num("intake-batch", cfg.intake_batch);
  num("heartbeat-ms", cfg.heartbeat_interval_ms);
  num("peer-timeout-ms", cfg.peer_timeout_ms);
  num("reconnect-min-ms", cfg.reconnect_min_ms);
  num("reconnect-max-ms", cfg.reconnect_max_ms);
  num("report-retry-min-ms", cfg.report_retry_min_ms);
  num("report-retry-max-ms", cfg.report_retry_max_ms);
  num("retention-days", cfg.retention_days);
  str("production", cfg.production.kind);
  str("validation", cfg.validation);
  num("fake-delay-ms", cfg.production.delay_ms);
  path("fake-log", cfg.production.log);
  num("fake-fail-every", cfg.production.fail_every);
  str("fake-hold", cfg.production.hold);
  str("curve-centre-key", cfg.curve.centre_public_key);
  str("curve-public-key", cfg.curve.public_key);
  path("curve-secret-file", cfg.curve.secret_key_file);
  str("http", cfg.http.listen);
  path("tokens", cfg.http.tokens_file);
  path("web", cfg.http.web_dir);
  if (cfg.centre.empty()) return cli.Usage("--centre (or \"centre\" in the config) is required");
  if (cfg.data_dir.empty()) return cli.Usage("--data (or \"data_dir\" in the config) is required");
  if (Status s = CheckServeConfig(cfg); !s.ok()) return cli.Fail(s);
  if (Status s = PrepareDataDir(cfg); !s.ok()) return cli.Fail(s);

  const Clock& clock = SystemClock::Instance();
  Bureau::ProductionFactory factory;
  const std::string kind = cfg.production.kind;
  if (kind == "fake") {
    factory = [&cfg, &clock](ProductionSink& sink) -> Result<std::unique_ptr<Production>> {
      FakeProductionOptions fo;
      fo.step_delay = std::chrono::milliseconds(cfg.production.delay_ms);
      fo.produced_log = cfg.production.log;
      fo.fail_every = static_cast<int>(cfg.production.fail_every);
      fo.hold = ParseHold(cfg.production.hold);
      fo.stations = static_cast<int>(cfg.stations);
      fo.clock = &clock;
      return std::unique_ptr<Production>(std::make_unique<FakeProduction>(sink, fo));
    };
  } else if (auto it = hooks.productions.find(kind); it != hooks.productions.end()) {
    ProductionMaker maker = it->second;
    factory = [maker, &cfg, &clock](ProductionSink& sink) { return maker(sink, cfg, clock); };
  } else if (kind != "none") {
    return cli.Fail(
        Status(Code::kInvalidConfig, "unknown production line '" + kind + "'", "production.kind"));
  }
  auto store = JobStore::Open(cfg.data_dir, clock);
  if (!store.ok()) return cli.Fail(store.status());
  JobValidator validator = hooks.validator && cfg.validation == "full" ? hooks.validator(clock)
                                                                       : CoreJobValidator(clock);
  auto bureau = Bureau::Create(cfg, **store, clock, validator, factory);
  if (!bureau.ok()) return cli.Fail(bureau.status());
  if (hooks.on_purge) (*bureau)->SetPurgeHook(hooks.on_purge);
  std::unique_ptr<Service> dashboard;
  if (cfg.http.enabled()) {
    if (!hooks.http) {
      return cli.Fail(Status(Code::kInvalidConfig, "this build has no dashboard", "http"));
    }
    auto made = hooks.http(ServeContext{cfg, **store, **bureau, clock});
    if (!made.ok()) return cli.Fail(made.status());
    dashboard = std::move(made).value();
  }
  InstallStopHandlers();  // main() did; idempotent (tests call RunServe directly)
  cli.Note("bureau " + cfg.bureau_id + " -> " + cfg.centre + " (data " + cfg.data_dir.string() +
           ", production " + kind + ")");
  Status s = (*bureau)->Run(StopFlag());
  dashboard.reset();
  bureau->reset();
  if (!s.ok()) return cli.Fail(s);
  cli.Note("stopped cleanly");
  return cli::kExitOk;
}

Result<std::vector<std::string>> ReadKeyList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(Code::kIoError, "cannot read key list " + path);
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    CB_RETURN_IF_ERROR(CheckZ85Key(line, "a key in " + path));
    keys.push_back(line);
  }
  return keys;
}

int RunCentre(int argc, char** argv) {
  cli::Cli cli("centre",
               "--bind ENDPOINT --jobs FILE.jsonl --photos DIR\n"
               "                         --reports FILE.jsonl [--until-done] [options]",
               "Reference centre for demos and tests (protocol v1). Each jobs line is one job\n"
               "JSON; its photo (frame 1) is DIR/<\"photo_file\"> when that extra field is\n"
               "present (it is stripped before sending), else DIR/<photo.sha256>. Every\n"
               "terminal report is appended to the reports file (fsynced before the ack);\n"
               "on restart the file is re-read so no report is lost or stored twice.\n"
               "Exit 0 done (--until-done) or stopped, 1 refused input, 2 usage, 3 runtime\n"
               "failure.");
  std::string bind, jobs, photos, reports, curve_secret, curve_allow;
  double redeliver_s = 30;
  int64_t heartbeat_ms = 1000, peer_timeout_ms = 10000, expect_replacements = 0;
  std::vector<std::string> cancels;
  cli.Options()("bind", po::value(&bind), "ROUTER endpoint, e.g. tcp://*:5570")(
      "jobs", po::value(&jobs), "jobs JSONL file")("photos", po::value(&photos), "photo directory")(
      "reports", po::value(&reports), "reports JSONL file (appended)")(
      "until-done", "exit 0 once every job has a terminal report")(
      "expect-replacements", po::value(&expect_replacements),
      "with --until-done: also wait for N card_replaced reports (reprints)")(
      "redeliver-after", po::value(&redeliver_s),
      "seconds before an unaccepted job is sent again (default 30)")(
      "cancel", po::value(&cancels)->composing(),
      "JOB_ID@N: send cancel for JOB_ID after N jobs were dispatched (repeatable)")(
      "heartbeat-ms", po::value(&heartbeat_ms), "heartbeat interval (default 1000)")(
      "peer-timeout-ms", po::value(&peer_timeout_ms), "bureau silence timeout (default 10000)")(
      "curve-secret-file", po::value(&curve_secret), "CURVE: centre secret key file (Z85, 0600)")(
      "curve-allow", po::value(&curve_allow), "CURVE: file of admitted bureau public keys")(
      "quiet", "no progress lines on stderr");
  cli.Example(
      "cardbureau centre --bind tcp://*:5570 --jobs jobs.jsonl --photos photos/ --reports "
      "reports.jsonl --until-done");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"bind", "jobs", "photos", "reports"})) return *rc;
  if (redeliver_s <= 0) return cli.Usage("--redeliver-after must be positive");
  if (heartbeat_ms < 10 || heartbeat_ms > 2000) return cli.Usage("--heartbeat-ms must be 10..2000");
  if (peer_timeout_ms < 100) return cli.Usage("--peer-timeout-ms must be at least 100");
  if (Status f = cli::CheckInputFile(jobs, "jobs"); !f.ok()) return cli.Fail(f);
  if (Status f = cli::CheckInputDir(photos, "photos"); !f.ok()) return cli.Fail(f);
  if (Status f = cli::CheckOutputFile(reports, "reports"); !f.ok()) return cli.Fail(f);
  CentreOptions o;
  o.bind = bind;
  o.jobs_file = jobs;
  o.photos_dir = photos;
  o.reports_file = reports;
  o.until_done = cli.Has("until-done");
  o.expect_replacements = expect_replacements;
  o.redeliver_after = std::chrono::milliseconds(static_cast<int64_t>(redeliver_s * 1000));
  o.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  o.peer_timeout = std::chrono::milliseconds(peer_timeout_ms);
  o.show_progress = !cli.Has("quiet");
  for (const auto& c : cancels) {
    auto plan = ParseCancelPlan(c);
    if (!plan.ok()) return cli.Usage("--cancel " + plan.status().ToString());
    o.cancels.push_back(*plan);
  }
  if (!curve_secret.empty()) {
    o.curve_secret_file = curve_secret;
    if (curve_allow.empty()) return cli.Usage("--curve-secret-file needs --curve-allow");
    auto keys = ReadKeyList(curve_allow);
    if (!keys.ok()) return cli.Fail(keys.status());
    o.curve_allowed = std::move(keys).value();
  }
  auto centre = Centre::Create(std::move(o));
  if (!centre.ok()) return cli.Fail(centre.status());
  InstallStopHandlers();
  Status s = (*centre)->Run(StopFlag());
  if (!s.ok()) return cli.Fail(s);
  return cli::kExitOk;
}

int RunKeygen(int argc, char** argv) {
  cli::Cli cli("keygen", "--out PREFIX",
               "Makes a CURVE key pair: PREFIX.key (Z85 secret, mode 0600) and PREFIX.pub\n"
               "(Z85 public, also printed). The secret is never printed. An existing\n"
               "PREFIX.key is never overwritten. Exit 0 made, 1 refused (PREFIX.key exists),\n"
               "2 usage, 3 runtime failure (the folder is missing or not writable).");
  std::string prefix;
  cli.Options()("out", po::value(&prefix), "file prefix");
  cli.Example("cardbureau keygen --out /etc/cardbureau/bureau");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"out"})) return *rc;
  const std::string key_path = prefix + ".key";
  if (Status s = cli::CheckOutputFile(key_path, "out"); !s.ok()) return cli.Fail(s);
  std::error_code exists_ec;
  if (std::filesystem::exists(key_path, exists_ec)) {
    return cli.Fail(Status(Code::kAlreadyExists, key_path + " exists; not overwritten", "out"));
  }
  char pub[41] = {}, sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0) {
    return cli.Runtime(Status(Code::kInternal, "CURVE is not available in this libzmq"));
  }
  int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    if (e == EEXIST) {
      return cli.Fail(Status(Code::kAlreadyExists, key_path + " exists; not overwritten", "out"));
    }
    return cli.Fail(
        Status(Code::kIoError, "cannot create " + key_path + ": " + std::strerror(e), "out"));
  }
  std::string line = std::string(sec) + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(sec), sizeof sec));
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(line.data()), line.size()));
  std::ofstream pub_out(prefix + ".pub");
  pub_out << pub << "\n";
  pub_out.close();
  if (!ok || !pub_out) {
    return cli.Fail(Status(
        Code::kIoError, std::string("cannot write ") + (ok ? prefix + ".pub" : key_path), "out"));
  }
  std::cout << pub << "\n";
  return cli::kExitOk;
}

int RunHistory(int argc, char** argv) {
  cli::Cli cli("history", "JOB_ID --data DIR [--json]",
               "Prints the job's history from the store in DIR (read-only; safe while\n"
               "`serve` runs): every state change, card attempt (station, printer, UID,\n"
               "how far it got), fault with its code, QA verdict, reprint and refusal\n"
               "(code, field, message), oldest first. The dashboard's job timeline shows\n"
               "the same rows. Exit 1 (NOT_FOUND) for an unknown job or a missing store,\n"
               "2 usage, 3 runtime failure.");
  std::string job_id, data;
  cli.Options()("job", po::value(&job_id), "the job id (or the first argument)")(
      "data", po::value(&data), "the bureau's data directory")("json", "one JSON document");
  cli.Positional("job", "JOB_ID");
  cli.Example("cardbureau history DEMO-0001 --data out/data");
  cli.Example("cardbureau history DEMO-0001 --data /var/lib/cardbureau --json");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"job", "data"})) return *rc;
  if (Status d = cli::CheckInputDir(data, "data"); !d.ok()) {
    return cli.Refuse(Status(Code::kNotFound, d.message(), "data"));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::path(data) / "bureau.db", ec)) {
    return cli.Fail(Status(Code::kNotFound, "no job store in " + data));
  }
  auto store = JobStore::Open(data, SystemClock::Instance());
  if (!store.ok()) return cli.Fail(store.status());
  auto text = FormatHistory(**store, job_id, cli.Has("json"));
  if (!text.ok()) return cli.Fail(text.status());
  std::cout << *text;
  return cli::kExitOk;
}

}  // namespace

Result<std::string> FormatHistory(JobStore& store, std::string_view job_id, bool json) {
  CB_ASSIGN_OR_RETURN(auto job, store.Find(job_id));
  if (!job) return Status(Code::kNotFound, "no job " + std::string(job_id));
  CB_ASSIGN_OR_RETURN(auto rows, store.History(job_id));
  if (json) {
    nlohmann::json out = {{"job_id", job->job_id}, {"state", ToString(job->state)}};
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& h : rows) {
      arr.push_back({{"seq", h.seq},
                     {"at_ms", h.at_ms},
                     {"kind", h.kind},
                     {"from", h.from_state},
                     {"state", h.state},
                     {"note", h.note},
                     {"station", h.detail.station},
                     {"printer", h.detail.printer},
                     {"uid", h.detail.uid},
                     {"attempt", h.detail.attempt},
                     {"stage", h.detail.stage},
                     {"code", h.detail.code},
                     {"field", h.detail.field},
                     {"message", h.detail.message}});
    }
    out["history"] = std::move(arr);
    return out.dump(2) + "\n";
  }
  std::string s = "job " + job->job_id + " (" + std::string(ToString(job->state)) + ")\n";
  for (const auto& h : rows) {
    const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(h.at_ms));
    std::string line = "  " + FormatIsoBeijing(t) + "  " + h.kind;
    if (h.kind == "state") {
      line += " " + (h.from_state.empty() ? std::string("-") : h.from_state) + " -> " + h.state;
    } else {
      line += " [" + h.state + "]";
    }
    auto add = [&](const char* k, const std::string& v) {
      if (!v.empty()) line += std::string(" ") + k + "=" + v;
    };
    add("station", h.detail.station);
    add("printer", h.detail.printer);
    if (h.detail.attempt > 0) add("card", std::to_string(h.detail.attempt));
    add("uid", h.detail.uid);
    add("stage", h.detail.stage);
    add("code", h.detail.code);
    add("field", h.detail.field);
    if (!h.detail.message.empty()) line += " \"" + h.detail.message + "\"";
    if (!h.note.empty() && h.note != h.detail.code &&
        h.detail.message.find(h.note) == std::string::npos) {
      line += " (" + h.note + ")";
    }
    s += line + "\n";
  }
  return s;
}

std::vector<Command> MakeCommands(ServeHooks hooks) {
  auto shared = std::make_shared<ServeHooks>(std::move(hooks));
  return {
      Command{"serve", "pull jobs from the centre, store, produce, report (protocol v1)",
              [shared](int argc, char** argv) { return RunServe(*shared, argc, argv); }},
      Command{"centre", "reference centre: dispatch jobs.jsonl, collect reports", RunCentre},
      Command{"keygen", "make a CURVE key pair for serve/centre", RunKeygen},
      Command{"history", "print a job's history from the store", RunHistory},
  };
}

std::vector<Command> Commands() { return MakeCommands({}); }

}  // namespace cardbureau::server
