// A printer driven through a vendor spooler's hot folder.
//
// Protocol (one request at a time per card; every file written atomically:
// temp name, fsync, rename):
//   request:  <dir>/<card_id>.<action>.json   action = feed | print | eject
//             {"v":1, "action":..., "job_id":..., "card_id":...,
//              "front": "<card_id>.front.png", "back": ..., "front_k": ...,
//              "back_k": ..., "hopper": "output"|"reject"}
//             (print writes the PNG files first, the JSON last)
//   answer:   <dir>/<card_id>.<action>.result.json
//             {"status": "ok" | "jam" | "out_of_ribbon" | "error",
//              "message": "..."}
// The printer waits for the answer up to `timeout`, then PRINTER_ERROR.
// Answers are removed once read; print files stay until eject.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "cardbureau/printers/printer.h"

namespace cardbureau::printers {

struct HotfolderConfig {
  std::string name = "hotfolder-1";
  std::filesystem::path dir;
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds poll{20};
};

class HotfolderPrinter final : public Printer {
 public:
  explicit HotfolderPrinter(HotfolderConfig config);
  std::string_view kind() const override { return "hotfolder"; }
  const std::string& name() const override { return config_.name; }
  Status Feed(const std::string& card_id, CardType type) override;
  Status Print(const PrintData& data) override;
  Status Eject(Hopper hopper) override;
  PrinterCounters counters() const override { return counters_; }
  // Removes <dir>/<job_id>.* (requests, answers and print files left over).
  Status Purge(const std::string& job_id) override;

 private:
  Status Request(const std::string& action, const std::string& body_json);

  HotfolderConfig config_;
  std::string card_id_;
  std::string job_id_;
  PrinterCounters counters_;
};

// Maps a spooler answer {"status": ...} to a Status (pure; for tests and the
// fuzzer). INVALID_JSON for a malformed answer.
Status ParseSpoolerAnswer(std::string_view json_text);

}  // namespace cardbureau::printers
