#include "cardbureau/dashboard/commands.h"

#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cardbureau/core/clock.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/store_audit_head.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::dashboard {

namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 3;

int RunAudit(int argc, char** argv) {
  const char* usage =
      "Usage: cardbureau audit verify --data DIR\n"
      "Checks the hash chain of DIR/dashboard-audit.jsonl against its head (entry\n"
      "count and last hash, kept in the bureau's store DIR/bureau.db; an earlier\n"
      "version's DIR/dashboard-audit.head is moved into the store) and reports the\n"
      "first bad entry. A missing data dir, a missing or empty trail, a missing\n"
      "head, an edited entry or a truncated trail all fail. Exit 0 only when the\n"
      "trail and its head agree, 1 broken (VERIFY_MISMATCH), 2 usage, 3 unreadable.";
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
  try {
    po::store(po::command_line_parser(argc - 1, argv + 1).options(desc).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n" << desc;
      return kExitOk;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "audit: " << e.what() << "\n" << usage << "\n" << desc;
    return kExitUsage;
  }
  const fs::path data(vm["data"].as<std::string>());
  const fs::path file = data / std::string(http::kAuditFileName);
  // The store is opened only when it exists: a missing data dir or store is
  // not created by a check (it is reported broken below).
  std::error_code ec;
  std::unique_ptr<server::JobStore> store;
  std::shared_ptr<http::AuditHeadStore> heads = std::make_shared<http::FileAuditHead>(data);
  if (fs::is_directory(data, ec) && fs::exists(data / "bureau.db", ec)) {
    auto opened = server::JobStore::Open(data, SystemClock::Instance());
    if (!opened.ok()) {
      std::cerr << "audit: " << opened.status().ToString() << "\n";
      return kExitRuntime;
    }
    store = std::move(opened).value();
    auto store_heads = http::StoreAuditHead::Open(*store, data);
    if (!store_heads.ok()) {
      std::cerr << "audit: " << store_heads.status().ToString() << "\n";
      return kExitRuntime;
    }
    heads = std::move(store_heads).value();
  }
  auto report = http::VerifyAuditTrail(data, *heads);
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
  std::cout << "audit: " << report->entries << " entries, chain intact (" << file.string()
            << ", head in " << heads->Describe() << ")\n";
  return kExitOk;
}

}  // namespace

std::vector<Command> Commands() {
  return {{"audit", "check the dashboard audit trail (audit verify --data DIR)", RunAudit}};
}

}  // namespace cardbureau::dashboard
