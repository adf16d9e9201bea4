#include "cardbureau/printers/cups_printer.h"

#include <cups/cups.h>
#include <hpdf.h>
#include <unistd.h>

#include <cstdlib>
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
    HPDF_Image img =
        HPDF_LoadPngImageFromMem(doc.get(), png.data(), static_cast<HPDF_UINT>(png.size()));
    if (err.error || !img) {
      return Status(Code::kPrinterError,
                    "libharu refused a face raster (error " + std::to_string(err.error) + ")");
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

Status CupsPrinter::Feed(const std::string& card_id, CardType /*type*/) {
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

namespace {
struct IppDeleter {
  void operator()(ipp_t* p) const { ippDelete(p); }
};
using IppPtr = std::unique_ptr<ipp_t, IppDeleter>;
}  // namespace

Status CupsPrinter::Print(const PrintData& data) {
  CB_ASSIGN_OR_RETURN(Bytes pdf, MakeCardPrintPdf(data.front_png, data.back_png));
  HttpPtr http(httpConnect2(config_.server.c_str(), config_.port, nullptr, AF_UNSPEC,
                            HTTP_ENCRYPTION_IF_REQUESTED, 1, 10000, nullptr));
  if (!http) {
    return Status(Code::kPrinterError,
                  "cannot reach CUPS at " + config_.server + ":" + std::to_string(config_.port));
  }
  const std::string resource = "/printers/" + config_.queue;
  char uri[1024];
  httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof uri, "ipp", nullptr, "localhost", config_.port,
                   "/printers/%s", config_.queue.c_str());
  const std::string title = "card " + data.card_id;

  // Print-Job with the PDF as the document.
  IppPtr request(ippNewRequest(IPP_OP_PRINT_JOB));
  ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, uri);
  ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr,
               cupsUser());
  ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_NAME, "job-name", nullptr, title.c_str());
  ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_MIMETYPE, "document-format", nullptr,
               "application/pdf");
  // The document goes through a private temporary file: cupsDoFileRequest
  // streams it and reads the response in one call.
  char tmpl[] = "/tmp/cardbureau-print-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) return Status(Code::kIoError, "cannot create a temporary print file");
  const std::string tmp_path = tmpl;
  bool written = ::write(fd, pdf.data(), pdf.size()) == static_cast<ssize_t>(pdf.size());
  ::close(fd);
  if (!written) {
    ::unlink(tmp_path.c_str());
    return Status(Code::kIoError, "cannot write the temporary print file");
  }
  IppPtr response(
      cupsDoFileRequest(http.get(), request.release(), resource.c_str(), tmp_path.c_str()));
  ::unlink(tmp_path.c_str());
  if (!response || ippGetStatusCode(response.get()) > IPP_STATUS_OK_CONFLICTING) {
    return Status(Code::kPrinterError,
                  std::string("CUPS refused the job: ") + cupsLastErrorString());
  }
  ipp_attribute_t* id_attr = ippFindAttribute(response.get(), "job-id", IPP_TAG_INTEGER);
  if (!id_attr) return Status(Code::kPrinterError, "CUPS answered without a job-id");
  const int job = ippGetInteger(id_attr, 0);
  last_job_id_ = job;

  // Follow the job: Get-Job-Attributes(job-state) until it ends.
  const auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    ipp_t* q = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES);
    ippAddString(q, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, uri);
    ippAddInteger(q, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "job-id", job);
    ippAddString(q, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr, cupsUser());
    ippAddString(q, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes", nullptr,
                 "job-state");
    IppPtr answer(cupsDoRequest(http.get(), q, "/"));  // takes ownership of q
    ipp_attribute_t* st =
        answer ? ippFindAttribute(answer.get(), "job-state", IPP_TAG_ENUM) : nullptr;
    if (st) {
      auto state = static_cast<ipp_jstate_t>(ippGetInteger(st, 0));
      if (state == IPP_JSTATE_COMPLETED) {
        ++counters_.printed;
        return Status::Ok();
      }
      if (state == IPP_JSTATE_ABORTED || state == IPP_JSTATE_CANCELED) {
        return Status(Code::kPrinterError,
                      "CUPS job " + std::to_string(job) +
                          (state == IPP_JSTATE_ABORTED ? " aborted" : " cancelled"));
      }
      if (state == IPP_JSTATE_STOPPED) {
        return Status(Code::kPrinterError, "CUPS queue stopped with job " + std::to_string(job));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status(Code::kPrinterError,
                "CUPS job " + std::to_string(job) + " did not complete in time");
}

}  // namespace cardbureau::printers
