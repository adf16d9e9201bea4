#include "cardbureau/printers/sim_printer.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <system_error>
#include <thread>

#include "cardbureau/printers/file_util.h"

namespace cardbureau::printers {

namespace fs = std::filesystem;

namespace {
// The simulated printer's outputs: nothing rides on them surviving a power
// cut (core/file.h's durability list).
constexpr AtomicWriteOptions kOutputFile{
    .mode = 0640, .create_parents = true, .sync_directory = false};
}  // namespace

std::string_view HopperName(Hopper h) { return h == Hopper::kOutput ? "output" : "reject"; }

Status RemoveCardEntries(const std::filesystem::path& dir, const std::string& job_id) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::Ok();
  // A card id is "<job_id>.<try>", and job ids may hold dots: an entry is
  // the job's when its name is the job id, a dot, the try's digits, then
  // the end or a dot and a letter (".print.json", ".front.png"), so that
  // job "A" never takes "A.1.2" (try 2 of job "A.1").
  const std::string prefix = job_id + ".";
  auto is_card_of_job = [&](const std::string& name) {
    if (name.compare(0, prefix.size(), prefix) != 0) return false;
    size_t i = prefix.size();
    const size_t digits_from = i;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
    if (i == digits_from) return false;
    if (i == name.size()) return true;
    return name[i] == '.' && i + 1 < name.size() &&
           std::isalpha(static_cast<unsigned char>(name[i + 1]));
  };
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!is_card_of_job(name)) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (rm)
      return Status(Code::kIoError, "cannot remove " + it->path().string() + ": " + rm.message());
  }
  if (ec) return Status(Code::kIoError, "cannot list " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

SimPrinter::SimPrinter(SimPrinterConfig config, CardInserter& inserter)
    : config_(std::move(config)), inserter_(inserter) {}

SimPrinter::~SimPrinter() {
  if (card_) inserter_.Remove();
}

void SimPrinter::Sleep(int parts) const {
  if (config_.time_per_card.count() > 0) {
    std::this_thread::sleep_for(config_.time_per_card * parts / 4);
  }
}

Status SimPrinter::Feed(const std::string& card_id, CardType type) {
  if (card_) return Status(Code::kPrinterJam, "a card is still at the encoder position");
  if (feeds_ >= config_.card_stock) {
    return Status(Code::kPrinterError, "input hopper empty (" + std::to_string(config_.card_stock) +
                                           " cards loaded, all fed)");
  }
  ++feeds_;
  Sleep(1);
  if (config_.jam_on_feed.count(feeds_)) {
    ++counters_.jams;
    ++counters_.ejected_reject;  // the operator clears the jammed card to the reject bin
    return Status(Code::kPrinterJam,
                  "card jammed in the feeder (feed " + std::to_string(feeds_) + ")");
  }
  const uint64_t seed = config_.seed + static_cast<uint64_t>(feeds_);
  const auto kind =
      type == CardType::kMifareClassic4K ? devices::StockKind::kBjt4k : devices::StockKind::kBjt1k;
  Bytes image;
  if (config_.stock_serial_file.empty()) {
    image = devices::MakeBlankStock(kind, seed);
  } else {
    // Each stock (1K, 4K) has its own counter and serial space, so a lot
    // file can list each stock's next cards (`cardbureau stock sim-lot`).
    CB_ASSIGN_OR_RETURN(
        Bytes stock_uid,
        devices::NextStockUid(devices::StockSerialFile(config_.stock_serial_file, kind),
                              config_.bureau, devices::StockSerialBase(kind)));
    image = devices::MakeBlankStock(kind, seed, stock_uid);
  }
  auto uid = devices::UidFromImage(image);
  if (!uid.ok()) return uid.status();
  devices::FaultPlan faults;
  if (auto it = config_.card_faults.find(feeds_); it != config_.card_faults.end()) {
    faults = it->second;
  }
  auto card = devices::MifareClassicEmulator::Create(std::move(image), *uid, faults);
  if (!card.ok()) return card.status();
  CB_RETURN_IF_ERROR(inserter_.Insert(*card));
  card_ = *card;
  card_id_ = card_id;
  printed_ = false;
  ++counters_.fed;
  return Status::Ok();
}

Status SimPrinter::Print(const PrintData& data) {
  if (!card_) return Status(Code::kPrinterError, "no card at the print position");
  ++prints_;
  Sleep(2);
  if (config_.jam_on_print.count(prints_)) {
    ++counters_.jams;
    return Status(Code::kPrinterJam,
                  "card jammed in the print path (print " + std::to_string(prints_) + ")");
  }
  if (ribbon_used_ >= config_.ribbon_runs_out_after.value_or(config_.ribbon_prints)) {
    return Status(Code::kPrinterOutOfRibbon, "ribbon exhausted");
  }
  fs::path dir = config_.hopper_dir / "printing" / card_id_;
  CB_RETURN_IF_ERROR(WriteFileAtomic(dir / "front.png", data.front_png, kOutputFile));
  CB_RETURN_IF_ERROR(WriteFileAtomic(dir / "back.png", data.back_png, kOutputFile));
  if (!data.front_k_png.empty())
    CB_RETURN_IF_ERROR(WriteFileAtomic(dir / "front_k.png", data.front_k_png, kOutputFile));
  if (!data.back_k_png.empty())
    CB_RETURN_IF_ERROR(WriteFileAtomic(dir / "back_k.png", data.back_k_png, kOutputFile));
  ++ribbon_used_;
  printed_ = true;
  ++counters_.printed;
  return Status::Ok();
}

PrinterSupplies SimPrinter::supplies() const {
  PrinterSupplies s;
  s.known = true;
  s.ribbon_capacity = config_.ribbon_runs_out_after.value_or(config_.ribbon_prints);
  s.ribbon_left = std::max(0, s.ribbon_capacity - ribbon_used_);
  s.cards_capacity = config_.card_stock;
  s.cards_left = std::max(0, config_.card_stock - feeds_);
  return s;
}

Status SimPrinter::Reseat() {
  if (!card_) return Status(Code::kPrinterError, "no card to reseat");
  card_->Insert();
  return Status::Ok();
}

Status SimPrinter::Purge(const std::string& job_id) {
  for (const char* sub : {"output", "reject", "printing"}) {
    CB_RETURN_IF_ERROR(RemoveCardEntries(config_.hopper_dir / sub, job_id));
  }
  return Status::Ok();
}

Status SimPrinter::Eject(Hopper hopper) {
  if (!card_) return Status::Ok();
  Sleep(1);
  const Bytes image = card_->Image();
  inserter_.Remove();
  card_.reset();
  fs::path from = config_.hopper_dir / "printing" / card_id_;
  fs::path to = config_.hopper_dir / std::string(HopperName(hopper)) / card_id_;
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::remove_all(to, ec);
  if (fs::exists(from)) {
    fs::rename(from, to, ec);
    if (ec) return Status(Code::kIoError, "cannot move " + from.string() + ": " + ec.message());
  }
  CB_RETURN_IF_ERROR(WriteFileAtomic(to / "card.mfd", image, kOutputFile));
  if (hopper == Hopper::kOutput) {
    ++counters_.ejected_output;
  } else {
    ++counters_.ejected_reject;
  }
  return Status::Ok();
}

}  // namespace cardbureau::printers
