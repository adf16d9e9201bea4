// `cardbureau stock` (stock_command.h). Each subcommand parses its own
// options in its own function, with cli::Cli (core/cli.h).
#include "cardbureau/line/stock_command.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/clock.h"
#include "cardbureau/core/file.h"
#include "cardbureau/devices/blank_stock.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

using cli::kExitOk;

constexpr size_t kMaxLotFileBytes = 64 * 1024 * 1024;

// The store of an existing data dir: NOT_FOUND (exit 1) naming the folder
// when DIR or its store is missing.
Result<std::unique_ptr<server::JobStore>> OpenExistingStore(const std::string& data) {
  if (Status d = cli::CheckInputDir(data, "data"); !d.ok()) {
    return Status(Code::kNotFound, d.message(), "data");
  }
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(data) / "bureau.db", ec)) {
    return Status(Code::kNotFound, "no job store in " + data, "data");
  }
  return server::JobStore::Open(data, SystemClock::Instance());
}

std::string IsoAt(int64_t ms) {
  if (ms <= 0) return "";
  return FormatIsoBeijing(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

int RunImport(int argc, char** argv) {
  cli::Cli cli("stock import", "--data DIR LOT.csv [--lot LOT_ID]",
               "Loads a transit operator's stock lot manifest into the bureau's store. The\n"
               "file is CSV with a header: uid,transit_no,card_type[,expires]; uid is the\n"
               "card's UID in hex (4 or 7 bytes), transit_no its transit card number (10-20\n"
               "digits), card_type mifare-classic-1k or mifare-classic-4k (1k/4k), expires\n"
               "YYYY-MM-DD or empty. The lot id is the file name without its extension\n"
               "unless --lot gives it. Any bad line (a UID that is not hex of 4 or 7 bytes,\n"
               "a UID twice in the file or already in another lot, a bad transit number or\n"
               "card type) refuses the whole file with the line numbers (STOCK_LOT_INVALID,\n"
               "exit 1): nothing is half-imported. A lot (or the same file) imported before\n"
               "is refused too. Exit 0 imported, 1 refused, 2 usage, 3 runtime failure.");
  std::string data, file, lot;
  cli.Options()("data", po::value(&data), "the bureau's data directory (created if new)")(
      "file", po::value(&file), "the lot file (CSV; or the first argument)")(
      "lot", po::value(&lot), "the lot id (default: the file name without extension)");
  cli.Positional("file", "LOT.csv");
  cli.Example("cardbureau stock import --data /var/lib/cardbureau LOT-2026-11-A.csv");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"data", "file"})) return *rc;
  auto text = cli::ReadInputFile(file, kMaxLotFileBytes, "lot");
  if (!text.ok()) return cli.Fail(text.status());
  if (Status s = cli::CheckOutputDir(data, "data"); !s.ok()) return cli.Fail(s);
  if (lot.empty()) lot = server::LotIdFromFileName(file);
  auto parsed = server::ParseStockLot(*text, lot);
  if (!parsed.ok()) return cli.Fail(parsed.status());
  auto store = server::JobStore::Open(data, SystemClock::Instance());
  if (!store.ok()) return cli.Fail(store.status());
  Status s = (*store)->ImportStockLot(*parsed, fs::path(file).filename().string());
  if (!s.ok()) return cli.Fail(s);
  std::cout << "lot " << parsed->lot_id << ": " << parsed->cards.size() << " cards imported\n";
  return kExitOk;
}

int RunReport(int argc, char** argv) {
  cli::Cli cli("stock report", "--data DIR [--lot LOT_ID] [--json]",
               "Per stock lot: cards received, produced (job and UID), spoiled (UID, reason\n"
               "= the reject's code, when) and remaining; received = produced + spoiled +\n"
               "remaining. Read-only; safe while `serve` runs. Exit 0 ok, 1 (NOT_FOUND) for\n"
               "an unknown lot or a missing store, 2 usage, 3 runtime failure.");
  std::string data, lot;
  cli.Options()("data", po::value(&data), "the bureau's data directory")(
      "lot", po::value(&lot), "only this lot")("json", "one JSON document");
  cli.Example("cardbureau stock report --data /var/lib/cardbureau");
  cli.Example("cardbureau stock report --data out/data --lot LOT-DEMO-1K --json");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"data"})) return *rc;
  auto store = OpenExistingStore(data);
  if (!store.ok()) return cli.Fail(store.status());
  auto lots = (*store)->StockReport(lot);
  if (!lots.ok()) return cli.Fail(lots.status());
  std::cout << FormatStockReport(*lots, cli.Has("json"));
  return kExitOk;
}

int RunSpoiled(int argc, char** argv) {
  cli::Cli cli("stock spoiled", "--data DIR --since YYYY-MM-DD",
               "The spoiled cards (reject hopper) since the start of DATE (Beijing time), as\n"
               "the CSV the transit operator needs to block them:\n"
               "uid,transit_no,lot,reason,spoiled_at,job_id (oldest first). Read-only.\n"
               "Exit 0 ok, 1 (NOT_FOUND) for a missing store, 2 usage, 3 runtime failure.");
  std::string data, since;
  cli.Options()("data", po::value(&data), "the bureau's data directory")(
      "since", po::value(&since), "first day (Beijing), YYYY-MM-DD");
  cli.Example("cardbureau stock spoiled --data /var/lib/cardbureau --since 2026-11-01");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"data", "since"})) return *rc;
  auto day = ParseIsoDate(since);
  if (!day) return cli.Usage("--since must be a date YYYY-MM-DD, not '" + since + "'");
  // Midnight Beijing (UTC+8) of that day.
  const int64_t since_ms = (day->ToDays() * 86400 - 8 * 3600) * 1000;
  auto store = OpenExistingStore(data);
  if (!store.ok()) return cli.Fail(store.status());
  auto rows = (*store)->StockSpoiledSince(since_ms);
  if (!rows.ok()) return cli.Fail(rows.status());
  std::cout << "uid,transit_no,lot,reason,spoiled_at,job_id\n";
  for (const auto& r : *rows) {
    std::cout << r.uid << "," << r.transit_no << "," << r.lot_id << "," << r.reason << ","
              << IsoAt(r.at_ms) << "," << r.job_id << "\n";
  }
  return kExitOk;
}

int RunSimLot(int argc, char** argv) {
  cli::Cli cli("stock sim-lot",
               "--data DIR --count N [--type 1k|4k]\n"
               "                             [--bureau ID] [--lot LOT_ID] [--out FILE]",
               "Writes a lot file (CSV, as `stock import` reads it) listing the next N cards\n"
               "the simulated printers of DIR will feed for that card type (their stock\n"
               "serial counters DIR/stock-serial and DIR/stock-serial-4k, keyed by the\n"
               "bureau id of `serve --bureau-id`, default bj-bureau-01), with made-up\n"
               "transit numbers. For demos and tests: a sim line then runs with the stock\n"
               "check on. To stdout unless --out. Exit 0 written, 2 usage, 3 runtime failure.");
  std::string data, type = "1k", bureau = "bj-bureau-01", lot, out;
  int count = 0;
  cli.Options()("data", po::value(&data), "the bureau's data directory")(
      "count", po::value(&count), "cards in the lot (1..100000)")(
      "type", po::value(&type), "1k (default) or 4k")("bureau", po::value(&bureau),
                                                      "the bureau id (default bj-bureau-01)")(
      "lot", po::value(&lot), "the lot id, for the message only")("out", po::value(&out),
                                                                  "output file (default stdout)");
  cli.Example("cardbureau stock sim-lot --data out/data --count 80 --type 1k --out LOT-1K.csv");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"data", "count"})) return *rc;
  if (count < 1 || count > 100000) return cli.Usage("--count must be 1..100000");
  auto card_type = server::ParseStockCardType(type);
  if (!card_type.ok()) return cli.Usage("--type must be 1k or 4k, not '" + type + "'");
  if (!out.empty()) {
    if (Status s = cli::CheckOutputFile(out, "out"); !s.ok()) return cli.Fail(s);
  }
  const auto kind = *card_type == CardType::kMifareClassic4K ? devices::StockKind::kBjt4k
                                                             : devices::StockKind::kBjt1k;
  const uint32_t base = devices::StockSerialBase(kind);
  auto uids = devices::PeekStockUids(
      devices::StockSerialFile(fs::path(data) / "stock-serial", kind), bureau, base, count);
  if (!uids.ok()) return cli.Fail(uids.status());
  std::string csv = "uid,transit_no,card_type,expires\n";
  for (const auto& u : *uids) {
    // A made-up 16-digit transit number, distinct per serial and stock.
    char transit[32];
    std::snprintf(transit, sizeof transit, "1000751%09u",
                  static_cast<unsigned>((u.serial + base) % 1000000000u));
    csv += ToHex(u.uid) + "," + transit + "," + std::string(ToString(*card_type)) + ",\n";
  }
  if (out.empty()) {
    std::cout << csv;
  } else {
    Status s = WriteFileAtomic(out, AsBytes(csv));
    if (!s.ok()) return cli.Fail(s);
    cli.Note(std::to_string(uids->size()) + " " + type + " cards" +
             (lot.empty() ? "" : " for lot " + lot) + " -> " + out);
  }
  return kExitOk;
}

}  // namespace

std::string FormatStockReport(const std::vector<server::StockLotReport>& lots, bool json) {
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& l : lots) {
      nlohmann::json produced = nlohmann::json::array(), spoiled = nlohmann::json::array();
      for (const auto& p : l.produced_cards) {
        produced.push_back({{"uid", p.uid}, {"job_id", p.job_id}, {"at", IsoAt(p.at_ms)}});
      }
      for (const auto& s : l.spoiled_cards) {
        spoiled.push_back({{"uid", s.uid},
                           {"transit_no", s.transit_no},
                           {"job_id", s.job_id},
                           {"reason", s.reason},
                           {"at", IsoAt(s.at_ms)}});
      }
      arr.push_back({{"lot_id", l.lot_id},
                     {"imported_at", IsoAt(l.imported_at_ms)},
                     {"received", l.received},
                     {"produced", l.produced},
                     {"spoiled", l.spoiled},
                     {"remaining", l.remaining},
                     {"balanced", l.received == l.produced + l.spoiled + l.remaining},
                     {"produced_cards", std::move(produced)},
                     {"spoiled_cards", std::move(spoiled)}});
    }
    return nlohmann::json{{"lots", std::move(arr)}}.dump(2) + "\n";
  }
  std::string s;
  if (lots.empty()) return "no stock lot imported\n";
  for (const auto& l : lots) {
    s += "lot " + l.lot_id + " (imported " + IsoAt(l.imported_at_ms) + ")\n";
    s += "  received " + std::to_string(l.received) + ", produced " + std::to_string(l.produced) +
         ", spoiled " + std::to_string(l.spoiled) + ", remaining " + std::to_string(l.remaining) +
         (l.received == l.produced + l.spoiled + l.remaining ? "" : "  (DOES NOT BALANCE)") + "\n";
    for (const auto& p : l.produced_cards) {
      s += "  produced " + p.uid + " job " + p.job_id + " " + IsoAt(p.at_ms) + "\n";
    }
    for (const auto& sp : l.spoiled_cards) {
      s += "  spoiled  " + sp.uid + " " + sp.reason + " " + IsoAt(sp.at_ms) +
           (sp.job_id.empty() ? "" : " job " + sp.job_id) + "\n";
    }
  }
  return s;
}

int RunStock(int argc, char** argv) {
  const std::vector<std::string> subs = {"import", "report", "spoiled", "sim-lot"};
  const std::string usage =
      "Usage: cardbureau stock import|report|spoiled|sim-lot [options]  (--help on each)\n"
      "  import  --data DIR LOT.csv [--lot L]   load an operator's stock lot\n"
      "  report  --data DIR [--lot L] [--json]  per lot: received, produced, spoiled, remaining\n"
      "  spoiled --data DIR --since DATE        spoiled UIDs as CSV for the operator's blocking\n"
      "  sim-lot --data DIR --count N           a lot file of the sim printers' next cards\n"
      "Exit 0 ok, 1 input refused, 2 usage, 3 runtime failure.\n\n"
      "Examples:\n"
      "  cardbureau stock import --data /var/lib/cardbureau LOT-2026-11-A.csv\n"
      "  cardbureau stock report --data /var/lib/cardbureau\n";
  if (argc < 2) {
    return cli::UsageError("stock", "a subcommand is required: import, report, spoiled or sim-lot");
  }
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h") {
    std::cout << usage;
    return kExitOk;
  }
  // argv[1] becomes the subcommand's argv[0].
  if (sub == "import") return RunImport(argc - 1, argv + 1);
  if (sub == "report") return RunReport(argc - 1, argv + 1);
  if (sub == "spoiled") return RunSpoiled(argc - 1, argv + 1);
  if (sub == "sim-lot") return RunSimLot(argc - 1, argv + 1);
  std::string problem = "unknown subcommand '" + sub + "'";
  const std::string hint = cli::DidYouMean(sub, subs);
  problem += hint.empty() ? " (import, report, spoiled or sim-lot)" : "; " + hint;
  return cli::UsageError("stock", problem);
}

}  // namespace cardbureau::line
