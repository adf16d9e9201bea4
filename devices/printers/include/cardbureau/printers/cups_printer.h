// A printer behind a CUPS queue (IPP via libcups). Print() submits the
// card's 2-page print file (a PDF at true card size: page 1 front, page 2
// back) and follows the CUPS job until it completes, is aborted or times
// out.
//
// IPP has no "move the card to the contactless encoder" operation; with a
// CUPS queue the card is fed and ejected by the print job itself, so Feed()
// and Eject() only track the card id (a station using a CUPS printer needs
// the vendor's encoder command set for feeding; the sim printer covers that
// path in the demo).
#pragma once

#include <chrono>
#include <string>

#include "cardbureau/printers/printer.h"

namespace cardbureau::printers {

struct CupsConfig {
  std::string name = "cups-1";
  std::string queue;                 // CUPS destination name
  std::string server = "localhost";  // host or /path/to/socket
  int port = 631;
  std::chrono::milliseconds timeout{60000};
};

class CupsPrinter final : public Printer {
 public:
  explicit CupsPrinter(CupsConfig config);
  std::string_view kind() const override { return "cups"; }
  const std::string& name() const override { return config_.name; }
  Status Feed(const std::string& card_id, CardType type) override;
  Status Print(const PrintData& data) override;
  Status Eject(Hopper hopper) override;
  PrinterCounters counters() const override { return counters_; }
  // CUPS job id of the last submitted print (0 before any).
  int last_job_id() const { return last_job_id_; }

 private:
  CupsConfig config_;
  std::string card_id_;
  int last_job_id_ = 0;
  PrinterCounters counters_;
};

// Builds the 2-page card print PDF (85.60 x 53.98 mm pages) from PNG
// rasters. PRINTER_ERROR when libharu refuses an image.
Result<Bytes> MakeCardPrintPdf(ByteView front_png, ByteView back_png);

}  // namespace cardbureau::printers
