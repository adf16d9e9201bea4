#include "cardbureau/dashboard/commands.h"

#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/store_audit_head.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::dashboard {

namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

using cli::kExitOk;
using cli::kExitRefused;

int RunAudit(int argc, char** argv) {
  const char* description =
      "Checks the hash chain of DIR/dashboard-audit.jsonl against its head (entry\n"
      "count and last hash, kept in the bureau's store DIR/bureau.db; an earlier\n"
      "version's DIR/dashboard-audit.head is moved into the store) and reports the\n"
      "first bad entry. A missing data dir, a missing or empty trail, a missing\n"
      "head, an edited entry or a truncated trail all fail. Exit 0 only when the\n"
      "trail and its head agree, 1 broken (VERIFY_MISMATCH), 2 usage, 3 unreadable.";
  if (argc < 2) return cli::UsageError("audit", "a subcommand is required: verify");
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h") {
    std::cout << "Usage: cardbureau audit verify --data DIR\n\n"
              << description << "\n\nExample:\n"
              << "  cardbureau audit verify --data /var/lib/cardbureau\n";
    return kExitOk;
  }
  if (sub != "verify") {
    const std::string hint = cli::DidYouMean(sub, {"verify"});
    return cli::UsageError("audit", "unknown subcommand '" + sub + "'; " +
                                        (hint.empty() ? "the only one is 'verify'" : hint));
  }
  cli::Cli cli("audit verify", "--data DIR", description);
  std::string data_dir;
  cli.Options()("data", po::value(&data_dir), "bureau data directory");
  cli.Example("cardbureau audit verify --data /var/lib/cardbureau");
  if (auto rc = cli.Parse(argc - 1, argv + 1)) return *rc;
  if (auto rc = cli.Require({"data"})) return *rc;
  const fs::path data(data_dir);
  const fs::path file = data / std::string(http::kAuditFileName);
  // The store is opened only when it exists: a missing data dir or store is
  // not created by a check (it is reported broken below).
  std::error_code ec;
  std::unique_ptr<server::JobStore> store;
  std::shared_ptr<http::AuditHeadStore> heads = std::make_shared<http::FileAuditHead>(data);
  if (fs::is_directory(data, ec) && fs::exists(data / "bureau.db", ec)) {
    auto opened = server::JobStore::Open(data, SystemClock::Instance());
    if (!opened.ok()) return cli.Runtime(opened.status());
    store = std::move(opened).value();
    auto store_heads = http::StoreAuditHead::Open(*store, data);
    if (!store_heads.ok()) return cli.Runtime(store_heads.status());
    heads = std::move(store_heads).value();
  }
  auto report = http::VerifyAuditTrail(data, *heads);
  if (!report.ok()) return cli.Runtime(report.status());
  if (report->broken_line) {
    cli.Note("VERIFY_MISMATCH chain broken at entry " + std::to_string(*report->broken_line) +
             " of " + file.string() + ": " + report->problem + " (" +
             std::to_string(report->entries) + " entries before it are intact)");
    return kExitRefused;
  }
  std::cout << "cardbureau audit verify: " << report->entries << " entries, chain intact ("
            << file.string() << ", head in " << heads->Describe() << ")\n";
  return kExitOk;
}

}  // namespace

std::vector<Command> Commands() {
  return {{"audit", "check the dashboard audit trail (audit verify --data DIR)", RunAudit}};
}

}  // namespace cardbureau::dashboard
