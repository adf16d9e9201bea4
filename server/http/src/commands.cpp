#include "cardbureau/http/commands.h"

#include <openssl/rand.h>
#include <signal.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cardbureau/core/bytes.h"
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

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 3;

// Parses argv into `vm`; returns an exit code when the command should stop
// (help printed or usage error), nullopt to go on.
std::optional<int> ParseArgs(int argc, char** argv, const po::options_description& desc,
                             const char* usage, po::variables_map* vm) {
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), *vm);
    if (vm->count("help")) {
      std::cout << usage << "\n" << desc;
      return kExitOk;
    }
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << argv[0] << ": " << e.what() << "\n" << usage << "\n" << desc;
    return kExitUsage;
  }
  return std::nullopt;
}

int RunAudit(int argc, char** argv) {
  const char* usage =
      "Usage: cardbureau audit verify --data DIR\n"
      "Checks the hash chain of DIR/dashboard-audit.jsonl against its head\n"
      "(DIR/dashboard-audit.head: entry count and last hash) and reports the first\n"
      "bad entry. A missing data dir, a missing or empty trail, a missing head, an\n"
      "edited entry or a truncated trail all fail. Exit 0 only when the trail and\n"
      "its head agree, 1 broken (VERIFY_MISMATCH), 3 unreadable.";
  if (argc < 2 || std::string(argv[1]) != "verify") {
    if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
      std::cout << usage << "\n";
      return kExitOk;
    }
    std::cerr << usage << "\n";
    return kExitUsage;
  }
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("data", po::value<std::string>()->required(),
                                                 "bureau data directory");
  po::variables_map vm;
  if (auto rc = ParseArgs(argc - 1, argv + 1, desc, usage, &vm)) return *rc;
  const std::filesystem::path data(vm["data"].as<std::string>());
  const std::filesystem::path file = data / std::string(kAuditFileName);
  auto report = VerifyAuditTrail(data);
  if (!report.ok()) {
    std::cerr << "audit: " << report.status().ToString() << "\n";
    return kExitRuntime;
  }
  if (report->broken_line) {
    std::cout << "audit: VERIFY_MISMATCH chain broken at entry " << *report->broken_line << " of "
              << file.string() << ": " << report->problem << " (" << report->entries
              << " entries before it are intact)\n";
    return kExitRefused;
  }
  std::cout << "audit: " << report->entries << " entries, chain intact (" << file.string() << ")\n";
  return kExitOk;
}

int RunToken(int argc, char** argv) {
  const char* usage =
      "Usage: cardbureau dashboard-token --name NAME --role operator|qa|admin\n"
      "Makes a random bearer token. Prints the token once (give it to the user)\n"
      "and the entry to add to the token file's \"tokens\" array (hash only).";
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("name", po::value<std::string>()->required(),
                                                 "user name recorded in the audit trail")(
      "role", po::value<std::string>()->required(), "operator, qa or admin");
  po::variables_map vm;
  if (auto rc = ParseArgs(argc, argv, desc, usage, &vm)) return *rc;
  const auto role = RoleFromString(vm["role"].as<std::string>());
  if (!role) {
    std::cerr << "dashboard-token: INVALID_FIELD role must be operator, qa or admin\n";
    return kExitRefused;
  }
  Bytes raw(32);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    std::cerr << "dashboard-token: INTERNAL no randomness\n";
    return kExitRuntime;
  }
  const std::string token = Base64UrlEncode(raw);
  SecureZero(raw);
  nlohmann::json entry = {{"name", vm["name"].as<std::string>()},
                          {"role", std::string(ToString(*role))},
                          {"sha256", HashToken(token)}};
  std::cout << "token: " << token << "\nentry: " << entry.dump() << "\n";
  return kExitOk;
}

}  // namespace

int RunDashboardDemo(int argc, char** argv) {
  const char* usage =
      "Usage: cardbureau dashboard-demo --tokens FILE --data DIR [options]\n"
      "Serves the dashboard and the HTTP API over a simulated production line\n"
      "(in-memory jobs and stations; no job store, no printers). Prints\n"
      "'listening on http://HOST:PORT' once ready; stops on SIGINT/SIGTERM.";
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")(
      "http", po::value<std::string>()->default_value("127.0.0.1:8080"),
      "listen address HOST:PORT (port 0 = any free port)")(
      "tokens", po::value<std::string>()->required(), "token file (hashed tokens)")(
      "data", po::value<std::string>()->required(),
      "directory for the audit trail and the fake previews")(
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
  po::variables_map vm;
  if (auto rc = ParseArgs(argc, argv, desc, usage, &vm)) return *rc;
  const int batches = vm["batches"].as<int>();
  const int jobs = vm["jobs"].as<int>();
  const int stations = vm["stations"].as<int>();
  const int step_ms = vm["step-ms"].as<int>();
  if (batches < 0 || batches > 50 || jobs < 1 || jobs > 500 || stations < 1 || stations > 16 ||
      step_ms < 1 || step_ms > 60000) {
    std::cerr << "dashboard-demo: INVALID_FIELD batches 0-50, jobs 1-500, stations 1-16, "
                 "step-ms 1-60000\n";
    return kExitUsage;
  }
  HttpServerOptions opt;
  if (Status s = ParseListenAddress(vm["http"].as<std::string>(), &opt); !s.ok()) {
    std::cerr << "dashboard-demo: " << s.ToString() << "\n";
    return kExitUsage;
  }
  auto tokens = TokenTable::Load(vm["tokens"].as<std::string>());
  if (!tokens.ok()) {
    std::cerr << "dashboard-demo: " << tokens.status().ToString() << "\n";
    return kExitRefused;
  }
  auto web_root = ResolveWebRoot(vm.count("web") ? vm["web"].as<std::string>() : std::string());
  if (!web_root.ok()) {
    std::cerr << "dashboard-demo: " << web_root.status().ToString() << "\n";
    return kExitRefused;
  }
  const std::filesystem::path data = vm["data"].as<std::string>();
  const Clock& clock = SystemClock::Instance();
  auto audit = AuditTrail::Open(data, clock);
  if (!audit.ok()) {
    std::cerr << "dashboard-demo: " << audit.status().ToString() << "\n";
    return kExitRuntime;
  }

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
  if (Status s = server.Start(); !s.ok()) {
    std::cerr << "dashboard-demo: " << s.ToString() << "\n";
    return kExitRuntime;
  }
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
  std::printf("dashboard-demo: stopped\n");
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
