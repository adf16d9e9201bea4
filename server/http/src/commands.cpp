#include "cardbureau/http/commands.h"

#include <openssl/rand.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/cli.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/stop.h"
#include "cardbureau/http/api.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/auth.h"
#include "cardbureau/http/fake_backend.h"
#include "cardbureau/http/server.h"

namespace cardbureau::http {

namespace po = boost::program_options;

namespace {

using cli::kExitOk;
using cli::kExitRefused;

int RunAudit(int argc, char** argv) {
  const char* help =
      "Usage: cardbureau audit verify --data DIR\n\n"
      "Checks the hash chain of DIR/dashboard-audit.jsonl against its head\n"
      "(entry count and last hash, kept in DIR/bureau.db) and reports the first\n"
      "bad entry. A missing data dir, a missing or empty trail, a missing head, an\n"
      "edited entry or a truncated trail all fail. Exit 0 only when the trail and\n"
      "its head agree, 1 broken (VERIFY_MISMATCH), 2 usage, 3 unreadable.\n\n"
      "Example:\n"
      "  cardbureau audit verify --data /var/lib/cardbureau\n";
  if (argc < 2) return cli::UsageError("audit", "a subcommand is required: verify");
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h") {
    std::cout << help;
    return kExitOk;
  }
  if (sub != "verify") {
    const std::string hint = cli::DidYouMean(sub, {"verify"});
    return cli::UsageError("audit", "unknown subcommand '" + sub + "'; " +
                                        (hint.empty() ? "the only one is 'verify'" : hint));
  }
  cli::Cli cli("audit verify", "--data DIR",
               "Checks the hash chain of DIR/dashboard-audit.jsonl against its head\n"
               "(entry count and last hash, kept in DIR/bureau.db) and reports the first\n"
               "bad entry. A missing data dir, a missing or empty trail, a missing head, an\n"
               "edited entry or a truncated trail all fail. Exit 0 only when the trail and\n"
               "its head agree, 1 broken (VERIFY_MISMATCH), 2 usage, 3 unreadable.");
  std::string data_dir;
  cli.Options()("data", po::value(&data_dir), "bureau data directory");
  cli.Example("cardbureau audit verify --data /var/lib/cardbureau");
  if (auto rc = cli.Parse(argc - 1, argv + 1)) return *rc;
  if (auto rc = cli.Require({"data"})) return *rc;
  const std::filesystem::path data(data_dir);
  const std::filesystem::path file = data / std::string(kAuditFileName);
  auto report = VerifyAuditTrail(data);
  if (!report.ok()) return cli.Runtime(report.status());
  if (report->broken_line) {
    cli.Note("VERIFY_MISMATCH chain broken at entry " + std::to_string(*report->broken_line) +
             " of " + file.string() + ": " + report->problem + " (" +
             std::to_string(report->entries) + " entries before it are intact)");
    return kExitRefused;
  }
  std::cout << "cardbureau audit verify: " << report->entries << " entries, chain intact ("
            << file.string() << ")\n";
  return kExitOk;
}

int RunToken(int argc, char** argv) {
  cli::Cli cli("dashboard-token", "--name NAME --role operator|qa|admin",
               "Makes a random bearer token. Prints the token once (give it to the user)\n"
               "and the entry to add to the token file's \"tokens\" array (hash only).\n"
               "Exit 0 made, 1 refused (unknown role), 2 usage, 3 runtime failure.");
  std::string name, role_name;
  cli.Options()("name", po::value(&name), "user name recorded in the audit trail")(
      "role", po::value(&role_name), "operator, qa or admin");
  cli.Example("cardbureau dashboard-token --name wang --role operator");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"name", "role"})) return *rc;
  const auto role = RoleFromString(role_name);
  if (!role) {
    return cli.Refuse(Status(Code::kInvalidField, "role must be operator, qa or admin", "role"));
  }
  Bytes raw(32);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return cli.Runtime(Status(Code::kInternal, "no randomness"));
  }
  const std::string token = Base64UrlEncode(raw);
  SecureZero(raw);
  nlohmann::json entry = {
      {"name", name}, {"role", std::string(ToString(*role))}, {"sha256", HashToken(token)}};
  std::cout << "token: " << token << "\nentry: " << entry.dump() << "\n";
  return kExitOk;
}

}  // namespace

int RunDashboardDemo(int argc, char** argv) {
  cli::Cli cli("dashboard-demo", "--tokens FILE --data DIR [options]",
               "Serves the dashboard and the HTTP API over a simulated production line\n"
               "(in-memory jobs and stations; no job store, no printers). Prints\n"
               "'listening on http://HOST:PORT' once ready; stops on SIGINT/SIGTERM.\n"
               "Exit 0 stopped, 1 refused (tokens, page folder), 2 usage, 3 runtime failure.");
  cli.Options()("http", po::value<std::string>()->default_value("127.0.0.1:8080"),
                "listen address HOST:PORT (port 0 = any free port)")(
      "tokens", po::value<std::string>(), "token file (hashed tokens)")(
      "data", po::value<std::string>(), "directory for the audit trail and the fake previews")(
      "web", po::value<std::string>(),
      "dashboard page folder (default: <prefix>/share/cardbureau/web beside the\n"
      "executable, or the source tree's web/ for a binary in its build tree);\n"
      "refused with INVALID_CONFIG when it has no index.html")(
      "batches", po::value<int>()->default_value(2), "batches to simulate")(
      "jobs", po::value<int>()->default_value(12), "jobs per batch")(
      "stations", po::value<int>()->default_value(2), "simulated stations")(
      "step-ms", po::value<int>()->default_value(250), "simulation step period")(
      "jam", po::value<bool>()->default_value(true), "inject one printer jam on the last station")(
      "paused", po::value<bool>()->default_value(false), "start with every station paused")(
      "seconds", po::value<int>()->default_value(0), "exit after this long (0 = until a signal)");
  cli.Example(
      "cardbureau dashboard-demo --tokens tokens.json --data /tmp/demo --http 127.0.0.1:8080");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"tokens", "data"})) return *rc;
  const po::variables_map& vm = cli.vm();
  const int batches = vm["batches"].as<int>();
  const int jobs = vm["jobs"].as<int>();
  const int stations = vm["stations"].as<int>();
  const int step_ms = vm["step-ms"].as<int>();
  if (batches < 0 || batches > 50 || jobs < 1 || jobs > 500 || stations < 1 || stations > 16 ||
      step_ms < 1 || step_ms > 60000) {
    return cli.Usage(
        "out of range: --batches 0-50, --jobs 1-500, --stations 1-16, --step-ms 1-60000");
  }
  HttpServerOptions opt;
  if (Status s = ParseListenAddress(vm["http"].as<std::string>(), &opt); !s.ok()) {
    return cli.Usage(s.ToString());
  }
  auto tokens = TokenTable::Load(vm["tokens"].as<std::string>());
  if (!tokens.ok()) return cli.Refuse(tokens.status());
  auto web_root = ResolveWebRoot(vm.count("web") ? vm["web"].as<std::string>() : std::string());
  if (!web_root.ok()) return cli.Refuse(web_root.status());
  const std::filesystem::path data = vm["data"].as<std::string>();
  const Clock& clock = SystemClock::Instance();
  auto audit = AuditTrail::Open(data, clock);
  if (!audit.ok()) return cli.Runtime(audit.status());

  FakeBackend backend(clock, data / "previews");
  for (int i = 1; i <= stations; ++i) backend.AddStation("station-" + std::to_string(i));
  static const char* kSchools[][2] = {{"11010810", "北京一零一中学"},
                                      {"11010520", "北京市第八十中学"},
                                      {"11010230", "北京市第四中学"}};
  for (int b = 0; b < batches; ++b) {
    const auto& school = kSchools[b % 3];
    const std::string id = "B20261125-" + std::string(1, static_cast<char>('A' + b));
    backend.AddBatch(id, school[0], school[1], jobs);
    if (b == 0) backend.AddRejectedJob(id, id + "-X01", "PHOTO_NO_FACE");
  }
  if (vm["paused"].as<bool>()) {
    for (int i = 1; i <= stations; ++i) {
      (void)backend.SetStationPaused("station-" + std::to_string(i), true, "demo");
    }
  }
  if (vm["jam"].as<bool>()) {
    backend.InjectFault("station-" + std::to_string(stations), "PRINTER_JAM");
  }

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  ApiOptions api_opt;
  api_opt.web_root = *web_root;
  Api api(backend, *tokens, audit->get(), api_opt);
  HttpServer server(api, opt);
  if (Status s = server.Start(); !s.ok()) return cli.Runtime(s);
  std::printf("listening on http://%s:%u\n", opt.address.c_str(), server.port());
  std::fflush(stdout);

  std::atomic<bool> running{true};
  std::thread sim([&] {
    while (running.load()) {
      backend.Step();
      std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    }
  });
  const int seconds = vm["seconds"].as<int>();
  if (StopRequested()) {
    // SIGTERM/SIGINT arrived before the signals were blocked (main's handler
    // took it): stop now rather than wait for another.
  } else if (seconds > 0) {
    timespec ts{seconds, 0};
    sigtimedwait(&sigs, nullptr, &ts);
  } else {
    int sig = 0;
    sigwait(&sigs, &sig);
  }
  running = false;
  sim.join();
  server.Stop();
  std::printf("cardbureau dashboard-demo: stopped\n");
  return kExitOk;
}

std::vector<Command> Commands() {
  return {
      {"audit", "check the dashboard audit trail (audit verify --data DIR)", RunAudit},
      {"dashboard-token", "make a bearer token for the dashboard", RunToken},
      {"dashboard-demo", "serve the dashboard over a simulated line", RunDashboardDemo},
  };
}

}  // namespace cardbureau::http
