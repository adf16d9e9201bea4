// `cardbureau stock` (stock_command.h). Each subcommand parses its own
// options in its own function.
#include "cardbureau/line/stock_command.h"

#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/clock.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/printers/file_util.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

constexpr size_t kMaxLotFileBytes = 64 * 1024 * 1024;

int Fail(const std::string& sub, const Status& s) {
  std::cerr << "cardbureau stock " << sub << ": " << s.ToString() << "\n";
  switch (s.code()) {
    case Code::kIoError:
    case Code::kStorageError:
    case Code::kInternal:
      return 3;
    default:
      return 1;
  }
}

int Usage(const std::string& sub, const std::string& msg, const po::options_description& opts) {
  std::cerr << "cardbureau stock " << sub << ": " << msg << "\n\n" << opts << "\n";
  return 2;
}

// Parses argv into `vm`; 0 to go on, else the exit code (help: 0 printed -> -1).
int Parse(const std::string& sub, int argc, char** argv, const po::options_description& opts,
          const po::positional_options_description* pos, po::variables_map& vm) {
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(opts);
    if (pos) parser.positional(*pos);
    po::store(parser.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage(sub, e.what(), opts);
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return -1;
  }
  return 0;
}

// The store of an existing data dir (NOT_FOUND when it has none: exit 1).
Result<std::unique_ptr<server::JobStore>> OpenStore(const std::string& data, bool create) {
  std::error_code ec;
  if (!create && !fs::is_regular_file(fs::path(data) / "bureau.db", ec)) {
    return Status(Code::kNotFound, "no job store in " + data);
  }
  return server::JobStore::Open(data, SystemClock::Instance());
}

std::string IsoAt(int64_t ms) {
  if (ms <= 0) return "";
  return FormatIsoBeijing(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

int RunImport(int argc, char** argv) {
  po::options_description opts(
      "Usage: cardbureau stock import --data DIR LOT.csv [--lot LOT_ID]\n\n"
      "Loads a transit operator's stock lot manifest into the bureau's store. The\n"
      "file is CSV with a header: uid,transit_no,card_type[,expires]; uid is the\n"
      "card's UID in hex (4 or 7 bytes), transit_no its transit card number (10-20\n"
      "digits), card_type mifare-classic-1k or mifare-classic-4k (1k/4k), expires\n"
      "YYYY-MM-DD or empty. The lot id is the file name without its extension\n"
      "unless --lot gives it. Any bad line (a UID that is not hex of 4 or 7 bytes,\n"
      "a UID twice in the file or already in another lot, a bad transit number or\n"
      "card type) refuses the whole file with the line numbers (STOCK_LOT_INVALID,\n"
      "exit 1): nothing is half-imported. A lot (or the same file) imported before\n"
      "is refused too.\n\nOptions");
  std::string data, file, lot;
  opts.add_options()("help,h", "show this help")("data", po::value(&data),
                                                 "the bureau's data directory")(
      "file", po::value(&file), "the lot file (CSV)")("lot", po::value(&lot), "the lot id");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (int rc = Parse("import", argc, argv, opts, &pos, vm)) return rc < 0 ? 0 : rc;
  if (data.empty() || file.empty()) return Usage("import", "--data and LOT.csv are required", opts);
  auto bytes = printers::ReadFileLimited(file, kMaxLotFileBytes);
  if (!bytes.ok()) return Fail("import", bytes.status());
  if (lot.empty()) lot = server::LotIdFromFileName(file);
  auto parsed = server::ParseStockLot(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), lot);
  if (!parsed.ok()) return Fail("import", parsed.status());
  auto store = OpenStore(data, /*create=*/true);
  if (!store.ok()) return Fail("import", store.status());
  Status s = (*store)->ImportStockLot(*parsed, fs::path(file).filename().string());
  if (!s.ok()) return Fail("import", s);
  std::cout << "lot " << parsed->lot_id << ": " << parsed->cards.size() << " cards imported\n";
  return 0;
}

int RunReport(int argc, char** argv) {
  po::options_description opts(
      "Usage: cardbureau stock report --data DIR [--lot LOT_ID] [--json]\n\n"
      "Per stock lot: cards received, produced (job and UID), spoiled (UID, reason\n"
      "= the reject's code, when) and remaining; received = produced + spoiled +\n"
      "remaining. Read-only; safe while `serve` runs. Exit 1 (NOT_FOUND) for an\n"
      "unknown lot or a missing store.\n\nOptions");
  std::string data, lot;
  opts.add_options()("help,h", "show this help")("data", po::value(&data),
                                                 "the bureau's data directory")(
      "lot", po::value(&lot), "only this lot")("json", "one JSON document");
  po::variables_map vm;
  if (int rc = Parse("report", argc, argv, opts, nullptr, vm)) return rc < 0 ? 0 : rc;
  if (data.empty()) return Usage("report", "--data is required", opts);
  auto store = OpenStore(data, /*create=*/false);
  if (!store.ok()) return Fail("report", store.status());
  auto lots = (*store)->StockReport(lot);
  if (!lots.ok()) return Fail("report", lots.status());
  std::cout << FormatStockReport(*lots, vm.count("json") > 0);
  return 0;
}

int RunSpoiled(int argc, char** argv) {
  po::options_description opts(
      "Usage: cardbureau stock spoiled --data DIR --since YYYY-MM-DD\n\n"
      "The spoiled cards (reject hopper) since the start of DATE (Beijing time), as\n"
      "the CSV the transit operator needs to block them:\n"
      "uid,transit_no,lot,reason,spoiled_at,job_id (oldest first).\n\nOptions");
  std::string data, since;
  opts.add_options()("help,h", "show this help")(
      "data", po::value(&data), "the bureau's data directory")("since", po::value(&since),
                                                               "first day (Beijing), YYYY-MM-DD");
  po::variables_map vm;
  if (int rc = Parse("spoiled", argc, argv, opts, nullptr, vm)) return rc < 0 ? 0 : rc;
  if (data.empty() || since.empty())
    return Usage("spoiled", "--data and --since are required", opts);
  auto day = ParseIsoDate(since);
  if (!day) return Usage("spoiled", "--since must be a date YYYY-MM-DD", opts);
  // Midnight Beijing (UTC+8) of that day.
  const int64_t since_ms = (day->ToDays() * 86400 - 8 * 3600) * 1000;
  auto store = OpenStore(data, /*create=*/false);
  if (!store.ok()) return Fail("spoiled", store.status());
  auto rows = (*store)->StockSpoiledSince(since_ms);
  if (!rows.ok()) return Fail("spoiled", rows.status());
  std::cout << "uid,transit_no,lot,reason,spoiled_at,job_id\n";
  for (const auto& r : *rows) {
    std::cout << r.uid << "," << r.transit_no << "," << r.lot_id << "," << r.reason << ","
              << IsoAt(r.at_ms) << "," << r.job_id << "\n";
  }
  return 0;
}

int RunSimLot(int argc, char** argv) {
  po::options_description opts(
      "Usage: cardbureau stock sim-lot --data DIR --count N [--type 1k|4k]\n"
      "         [--bureau ID] [--lot LOT_ID] [--out FILE]\n\n"
      "Writes a lot file (CSV, as `stock import` reads it) listing the next N cards\n"
      "the simulated printers of DIR will feed for that card type (their stock\n"
      "serial counters DIR/stock-serial and DIR/stock-serial-4k, keyed by the\n"
      "bureau id of `serve --bureau-id`, default bj-bureau-01), with made-up\n"
      "transit numbers. For demos and tests: a sim line then runs with the stock\n"
      "check on. To stdout unless --out.\n\nOptions");
  std::string data, type = "1k", bureau = "bj-bureau-01", lot, out;
  int count = 0;
  opts.add_options()("help,h", "show this help")(
      "data", po::value(&data), "the bureau's data directory")("count", po::value(&count),
                                                               "cards in the lot (1..100000)")(
      "type", po::value(&type), "1k (default) or 4k")("bureau", po::value(&bureau),
                                                      "the bureau id (default bj-bureau-01)")(
      "lot", po::value(&lot), "the lot id, for the message only")("out", po::value(&out),
                                                                  "output file (default stdout)");
  po::variables_map vm;
  if (int rc = Parse("sim-lot", argc, argv, opts, nullptr, vm)) return rc < 0 ? 0 : rc;
  if (data.empty() || count < 1 || count > 100000) {
    return Usage("sim-lot", "--data and --count 1..100000 are required", opts);
  }
  auto card_type = server::ParseStockCardType(type);
  if (!card_type.ok()) return Usage("sim-lot", "--type must be 1k or 4k", opts);
  const auto kind = *card_type == CardType::kMifareClassic4K ? devices::StockKind::kBjt4k
                                                             : devices::StockKind::kBjt1k;
  const uint32_t base = devices::StockSerialBase(kind);
  auto uids = devices::PeekStockUids(
      devices::StockSerialFile(fs::path(data) / "stock-serial", kind), bureau, base, count);
  if (!uids.ok()) return Fail("sim-lot", uids.status());
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
    if (!s.ok()) return Fail("sim-lot", s);
    std::cerr << "sim-lot: " << uids->size() << " " << type << " cards"
              << (lot.empty() ? "" : " for lot " + lot) << " -> " << out << "\n";
  }
  return 0;
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
  const std::string usage =
      "Usage: cardbureau stock <import|report|spoiled|sim-lot> [options]\n"
      "  import  --data DIR LOT.csv [--lot L]   load an operator's stock lot\n"
      "  report  --data DIR [--lot L] [--json]  per lot: received, produced, spoiled, remaining\n"
      "  spoiled --data DIR --since DATE        spoiled UIDs as CSV for the operator's blocking\n"
      "  sim-lot --data DIR --count N           a lot file of the sim printers' next cards\n"
      "Each has --help. Exit 0 ok, 1 input refused, 2 usage, 3 runtime failure.\n";
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h") {
    std::cout << usage;
    return 0;
  }
  // argv[1] becomes the subcommand's argv[0].
  if (sub == "import") return RunImport(argc - 1, argv + 1);
  if (sub == "report") return RunReport(argc - 1, argv + 1);
  if (sub == "spoiled") return RunSpoiled(argc - 1, argv + 1);
  if (sub == "sim-lot") return RunSimLot(argc - 1, argv + 1);
  std::cerr << "cardbureau stock: unknown subcommand '" << sub << "'\n" << usage;
  return 2;
}

}  // namespace cardbureau::line
