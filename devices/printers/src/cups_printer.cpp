#include "cardbureau/printers/cups_printer.h"

#include <cups/cups.h>
#include <hpdf.h>

#include <memory>
#include <thread>

namespace cardbureau::printers {
namespace {

// Records libharu errors; never throws or longjmps through C.
struct HpdfError {
  HPDF_STATUS error = 0;
  HPDF_STATUS detail = 0;
};
void OnHpdfError(HPDF_STATUS error, HPDF_STATUS detail, void* user) {
  auto* e = static_cast<HpdfError*>(user);
  if (e->error == 0) {
    e->error = error;
    e->detail = detail;
  }
}

struct HpdfDocDeleter {
  void operator()(HPDF_Doc d) const { HPDF_Free(d); }
};
using HpdfDocPtr = std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, HpdfDocDeleter>;

struct HttpDeleter {
  void operator()(http_t* h) const { httpClose(h); }
};
using HttpPtr = std::unique_ptr<http_t, HttpDeleter>;

constexpr float kPtPerMm = 72.0f / 25.4f;

}  // namespace

Result<Bytes> MakeCardPrintPdf(ByteView front_png, ByteView back_png) {
  HpdfError err;
  HpdfDocPtr doc(HPDF_New(OnHpdfError, &err));
  if (!doc) return Status(Code::kPrinterError, "libharu: cannot create a document");
  HPDF_SetCompressionMode(doc.get(), HPDF_COMP_ALL);
  for (ByteView png : {front_png, back_png}) {
    HPDF_Page page = HPDF_AddPage(doc.get());
    HPDF_Page_SetWidth(page, 85.60f * kPtPerMm);
    HPDF_Page_SetHeight(page, 53.98f * kPtPerMm);
    HPDF_Image img = HPDF_LoadPngImageFromMem(doc.get(), png.data(), static_cast<HPDF_UINT>(png.size()));
    if (err.error || !img) {
      return Status(Code::kPrinterError, "libharu refused a face raster (error " +
                                             std::to_string(err.error) + ")");
    }
    HPDF_Page_DrawImage(page, img, 0, 0, 85.60f * kPtPerMm, 53.98f * kPtPerMm);
  }
  if (HPDF_SaveToStream(doc.get()) != HPDF_OK || err.error) {
    return Status(Code::kPrinterError, "libharu could not write the print file");
  }
  HPDF_ResetStream(doc.get());
  Bytes out(HPDF_GetStreamSize(doc.get()));
  HPDF_UINT32 len = static_cast<HPDF_UINT32>(out.size());
  if (HPDF_ReadFromStream(doc.get(), out.data(), &len) != HPDF_OK && err.error) {
    return Status(Code::kPrinterError, "libharu could not read back the print file");
  }
  out.resize(len);
  return out;
}

CupsPrinter::CupsPrinter(CupsConfig config) : config_(std::move(config)) {}

Status CupsPrinter::Feed(const std::string& card_id) {
  card_id_ = card_id;
  ++counters_.fed;
  return Status::Ok();
}

Status CupsPrinter::Eject(Hopper hopper) {
  if (card_id_.empty()) return Status::Ok();
  (hopper == Hopper::kOutput ? counters_.ejected_output : counters_.ejected_reject)++;
  card_id_.clear();
  return Status::Ok();
}

Status CupsPrinter::Print(const PrintData& data) {
  CB_ASSIGN_OR_RETURN(Bytes pdf, MakeCardPrintPdf(data.front_png, data.back_png));
  HttpPtr http(httpConnect2(config_.server.c_str(), config_.port, nullptr, AF_UNSPEC,
                            HTTP_ENCRYPTION_IF_REQUESTED, 1, 10000, nullptr));
  if (!http) {
    return Status(Code::kPrinterError, "cannot reach CUPS at " + config_.server + ":" +
                                           std::to_string(config_.port));
  }
  const std::string title = "card " + data.card_id;
  int job = cupsCreateJob(http.get(), config_.queue.c_str(), title.c_str(), 0, nullptr);
  if (job <= 0) {
    return Status(Code::kPrinterError, std::string("CUPS refused the job: ") + cupsLastErrorString());
  }
  if (cupsStartDocument(http.get(), config_.queue.c_str(), job, "card", "application/pdf", 1) !=
      HTTP_STATUS_CONTINUE) {
    return Status(Code::kPrinterError, std::string("CUPS start document: ") + cupsLastErrorString());
  }
  if (cupsWriteRequestData(http.get(), reinterpret_cast<const char*>(pdf.data()), pdf.size()) !=
      HTTP_STATUS_CONTINUE) {
    return Status(Code::kPrinterError, std::string("CUPS write: ") + cupsLastErrorString());
  }
  if (cupsFinishDocument(http.get(), config_.queue.c_str()) != IPP_STATUS_OK) {
    return Status(Code::kPrinterError, std::string("CUPS finish document: ") + cupsLastErrorString());
  }
  last_job_id_ = job;

  const auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    cups_job_t* jobs = nullptr;
    int n = cupsGetJobs2(http.get(), &jobs, config_.queue.c_str(), 0, CUPS_WHICHJOBS_ALL);
    ipp_jstate_t state = IPP_JSTATE_PENDING;
    bool found = false;
    for (int i = 0; i < n; ++i) {
      if (jobs[i].id == job) {
        state = jobs[i].state;
        found = true;
      }
    }
    cupsFreeJobs(n, jobs);
    if (found && state == IPP_JSTATE_COMPLETED) {
      ++counters_.printed;
      return Status::Ok();
    }
    if (found && (state == IPP_JSTATE_ABORTED || state == IPP_JSTATE_CANCELED)) {
      return Status(Code::kPrinterError, "CUPS job " + std::to_string(job) +
                                             (state == IPP_JSTATE_ABORTED ? " aborted" : " cancelled"));
    }
    if (found && state == IPP_JSTATE_STOPPED) {
      return Status(Code::kPrinterError, "CUPS queue stopped with job " + std::to_string(job));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status(Code::kPrinterError, "CUPS job " + std::to_string(job) + " did not complete in time");
}

}  // namespace cardbureau::printers
