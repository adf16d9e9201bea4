// Card printers with a contactless encoder station inside. A station drives
// one printer: Feed() moves a blank card from the input hopper to the
// encoder position (where the station's reader sees it), Print() prints both
// faces, Eject() sends the card to the output or the reject hopper.
//
// Implementations: SimPrinter (virtual card + folder hoppers, for the demo
// and tests), HotfolderPrinter (vendor spooler integration), CupsPrinter
// (IPP via libcups). Code above devices/ cannot tell them apart.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/status.h"

namespace cardbureau::printers {

enum class Hopper { kOutput, kReject };
std::string_view HopperName(Hopper h);  // "output" / "reject"

// What gets printed on one card. PNG-encoded rasters at the printer
// profile's size; the K masks are 1-bit (0 = no resin, 255 = black resin).
struct PrintData {
  std::string job_id;
  std::string card_id;  // one production attempt ("<job_id>.<try>")
  Bytes front_png;
  Bytes back_png;
  Bytes front_k_png;
  Bytes back_k_png;
};

// Counters a printer keeps (for the station tile and the batch
// reconciliation).
struct PrinterCounters {
  int fed = 0;
  int printed = 0;
  int ejected_output = 0;
  int ejected_reject = 0;
  int jams = 0;
};

// What a printer reports of its consumables (the station tile). `known`
// is false for printers that do not report them (hot folder, CUPS); a
// level is low at or below a fifth of its capacity.
struct PrinterSupplies {
  bool known = false;
  int ribbon_left = 0;  // prints left on the ribbon
  int ribbon_capacity = 0;
  int cards_left = 0;  // blank cards left in the input hopper
  int cards_capacity = 0;
  bool ribbon_low() const { return known && ribbon_left * 5 <= ribbon_capacity; }
  bool cards_low() const { return known && cards_left * 5 <= cards_capacity; }
};

// Not thread-safe: one station owns and drives one printer.
class Printer {
 public:
  virtual ~Printer() = default;
  Printer() = default;
  Printer(const Printer&) = delete;
  Printer& operator=(const Printer&) = delete;

  virtual std::string_view kind() const = 0;  // "sim", "hotfolder", "cups"
  virtual const std::string& name() const = 0;

  // Moves a blank card to the encoder position. Errors: PRINTER_JAM (the
  // card is stuck; the operator clears it — the card counts as rejected),
  // PRINTER_ERROR (input hopper empty, device gone).
  // `type` selects the input hopper's stock (a station only gets jobs whose
  // card type it has loaded).
  virtual Status Feed(const std::string& card_id, CardType type) = 0;
  // Moves the current card back into the encoder's field after it slipped
  // out (a card "pulled" mid-encode), so the encoding can resume on the
  // same card. PRINTER_ERROR when the printer cannot.
  virtual Status Reseat() {
    return Status(Code::kPrinterError, "this printer cannot reseat a card");
  }
  // Prints both faces of the card at the encoder position. Errors:
  // PRINTER_JAM, PRINTER_OUT_OF_RIBBON, PRINTER_ERROR, IO_ERROR.
  virtual Status Print(const PrintData& data) = 0;
  // Ejects the current card. Safe to call when no card is loaded (no-op).
  virtual Status Eject(Hopper hopper) = 0;

  virtual PrinterCounters counters() const = 0;
  // Ribbon and card stock, as the printer reports them (default: unknown).
  virtual PrinterSupplies supplies() const { return {}; }

  // Retention purge: removes every file this printer keeps of the cards of
  // `job_id` (card ids "<job_id>.<try>": hopper folders, spool files), so
  // no copy of a purged child's faces or chip outlives the purge. Printers
  // that keep nothing (CUPS) have nothing to do. IO_ERROR when a file
  // cannot be removed (the purge is retried).
  virtual Status Purge(const std::string& job_id) {
    (void)job_id;
    return Status::Ok();
  }
};

// Removes the entries of `dir` whose names are "<job_id>.<anything>" (files
// or folders). Used by the printers' Purge. IO_ERROR naming the entry.
Status RemoveCardEntries(const std::filesystem::path& dir, const std::string& job_id);

}  // namespace cardbureau::printers
