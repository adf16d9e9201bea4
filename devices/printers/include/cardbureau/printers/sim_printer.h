// A simulated card printer: feeds a fresh virtual blank card (a new stock
// image per card) to the station's reader through a CardInserter (loopback
// slot or a vpcd connection), writes what it prints into an output-hopper
// folder with the card's memory dump beside it, and can jam, run out of
// ribbon or take a fixed time per card on demand.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/fault_plan.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/printers/loopback_slot.h"
#include "cardbureau/printers/printer.h"

namespace cardbureau::printers {

struct SimPrinterConfig {
  std::string name = "sim-1";
  // Cards are written to <hopper_dir>/output/<card_id>/ or .../reject/<card_id>/:
  // front.png, back.png, front_k.png, back_k.png, card.mfd.
  std::filesystem::path hopper_dir;
  // Stock per card type (a dual-hopper printer): 1K jobs get bjt-1k, 4K jobs
  // bjt-4k.
  // Seed of the first card; each fed card gets seed + n (so UIDs differ
  // between printers with different seeds).
  uint64_t seed = 1;
  // When set, every fed card's UID comes from this stock serial counter
  // (devices::NextStockUid keyed by `bureau`): distinct for every card of a
  // data dir, across printers and restarts; the 4K stock counts in
  // "<file>-4k" (devices::StockSerialFile). Empty: StockUid(seed + n).
  std::filesystem::path stock_serial_file;
  std::string bureau;
  // Mechanical time per card (feed + print + eject), spread over the steps.
  std::chrono::milliseconds time_per_card{0};
  // Fault injection, by 1-based feed number.
  std::set<int> jam_on_feed;                 // Feed() fails with PRINTER_JAM
  std::set<int> jam_on_print;                // Print() fails with PRINTER_JAM
  std::optional<int> ribbon_runs_out_after;  // Print() number N+1.. fail
  // Consumables the printer reports (supplies()): prints on a new ribbon
  // (ribbon_runs_out_after, when set, is the ribbon) and blank cards loaded
  // in the input hopper. Feed() with no card left fails with PRINTER_ERROR
  // ("input hopper empty").
  int ribbon_prints = 10000;
  int card_stock = 10000;
  std::map<int, devices::FaultPlan> card_faults;  // faults of the N-th card
};

// Parses "jam-feed=3,jam-print=7,ribbon=40,card5=pull-after:12;delay:on"
// style specs is left to the CLI; see cardbureau serve --help.

class SimPrinter final : public Printer {
 public:
  // `inserter` must outlive the printer.
  SimPrinter(SimPrinterConfig config, CardInserter& inserter);
  ~SimPrinter() override;

  std::string_view kind() const override { return "sim"; }
  const std::string& name() const override { return config_.name; }
  Status Feed(const std::string& card_id, CardType type) override;
  Status Print(const PrintData& data) override;
  Status Eject(Hopper hopper) override;
  Status Reseat() override;
  PrinterCounters counters() const override { return counters_; }
  PrinterSupplies supplies() const override;
  // Removes <hopper_dir>/{output,reject,printing}/<job_id>.*
  Status Purge(const std::string& job_id) override;

  // The card at the encoder position (nullptr when none).
  std::shared_ptr<devices::MifareClassicEmulator> current_card() const { return card_; }
  // Refills the ribbon (operator action).
  void ReplaceRibbon() { ribbon_used_ = 0; }

 private:
  void Sleep(int parts) const;

  SimPrinterConfig config_;
  CardInserter& inserter_;
  std::shared_ptr<devices::MifareClassicEmulator> card_;
  std::string card_id_;
  bool printed_ = false;
  int feeds_ = 0;
  int prints_ = 0;
  int ribbon_used_ = 0;
  PrinterCounters counters_;
};

}  // namespace cardbureau::printers
