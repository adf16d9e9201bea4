// `cardbureau verify --scan`: QA of a printed card from a photo or scan of
// its front (scan_qa.h). Its own option parsing (ParseScanArgs), apart from
// the `--face` form in commands.cpp.
#include <boost/program_options.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/card_image.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/layout/photo.h"
#include "cardbureau/layout/template.h"
#include "cardbureau/line/card_source.h"
#include "cardbureau/line/commands.h"
#include "cardbureau/line/scan_qa.h"
#include "cardbureau/printers/file_util.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::line {

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

constexpr int kOk = 0, kRefused = 1, kUsage = 2, kRuntime = 3;

struct ScanArgs {
  std::string scan, keys, image, reader, job, photo, data;
  bool json = false;
  bool help = false;
};

const char* kScanUsage =
    "Usage: cardbureau verify --scan PHOTO.(jpg|png) --keys KEYSTORE\n"
    "           (--image CARD.mfd | --reader NAME)\n"
    "           (--job JOB.json --photo PHOTO | --data DIR) [--json]\n\n"
    "QA of the printed card from a photo or flatbed scan of its front. Finds the\n"
    "card in the image (any rotation, up to ~30 degrees of tilt, the card at least\n"
    "35 % of the image width, uneven light, colour cast, mild blur, JPEG), reads the\n"
    "chip (--image: a saved chip image; --reader: a PC/SC reader) as `verify`\n"
    "does, decodes the QR from the capture and checks its signature, UID and\n"
    "claims against the chip, re-renders the expected front for the job (--job\n"
    "and --photo, or the bureau's store with --data, which also checks the UID\n"
    "binding) and compares the capture with it field by field: name, school,\n"
    "gender, education_id, card_no, valid_until, level (colour band), photo, qr.\n"
    "Prints a table (field, score, threshold, verdict) and PASS/FAIL; --json the\n"
    "same as one object. Thresholds and how they were chosen: docs/qa.md.\n"
    "Exit 0 PASS; 1 FAIL (one line per failing field, 'VERIFY_MISMATCH\n"
    "face.<field>: ...'), SCAN_UNUSABLE (no card found, too small, too dark,\n"
    "too blurred) or input refused; 2 usage; 3 runtime error.\n\n"
    "Options";

po::options_description ScanOptions(ScanArgs& a) {
  po::options_description opts(kScanUsage);
  opts.add_options()("help,h", "show this help")(
      "scan", po::value(&a.scan), "photo or scan of the card's front")("keys", po::value(&a.keys),
                                                                       "keystore file (mode 600)")(
      "image", po::value(&a.image), "chip memory image (1024 or 4096 bytes)")(
      "reader", po::value(&a.reader), "PC/SC reader name")(
      "job", po::value(&a.job), "the job the card must carry (JSON)")("photo", po::value(&a.photo),
                                                                      "the job's photo")(
      "data", po::value(&a.data), "the bureau's data dir: the job and photo from its store")(
      "json", "machine-readable output");
  return opts;
}

// Parses the `verify --scan` form. Returns -1 to go on, else the exit code.
int ParseScanArgs(int argc, char** argv, ScanArgs& a) {
  auto opts = ScanOptions(a);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "cardbureau verify: " << e.what() << "\n\n" << opts << "\n";
    return kUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kOk;
  }
  a.json = vm.count("json") > 0;
  const bool from_job = !a.job.empty() || !a.photo.empty();
  if (a.scan.empty() || a.keys.empty() || a.image.empty() == a.reader.empty() ||
      (from_job && (a.job.empty() || a.photo.empty())) || from_job == !a.data.empty()) {
    std::cerr << "cardbureau verify: --scan, --keys, one of --image / --reader and either --job "
                 "with --photo or --data are required\n\n"
              << opts << "\n";
    return kUsage;
  }
  return -1;
}

int Refuse(const Status& s) {
  std::cerr << "cardbureau verify: " << s << "\n";
  return s.code() == Code::kIoError || s.code() == Code::kStorageError ? kRuntime : kRefused;
}

Result<std::unique_ptr<devices::CardChannel>> OpenChip(const ScanArgs& a) {
  if (!a.reader.empty()) {
    PcscCardSource source(a.reader);
    std::cerr << "waiting for a card on " << a.reader << " ...\n";
    CB_ASSIGN_OR_RETURN(auto card, source.WaitForCard(std::chrono::seconds(30)));
    if (!card) return Status(Code::kCardTimeout, "no card within 30 s");
    return std::move(*card);
  }
  CB_ASSIGN_OR_RETURN(Bytes dump, devices::LoadCardImage(a.image));
  CB_ASSIGN_OR_RETURN(Bytes uid, devices::UidFromImage(dump));
  CB_ASSIGN_OR_RETURN(auto card, devices::MifareClassicEmulator::Create(dump, uid));
  return std::unique_ptr<devices::CardChannel>(std::make_unique<devices::LoopbackChannel>(card));
}

// The job and photo from the store: the job the chip names.
Status FromStore(const fs::path& data, const std::string& job_id, Job& job, Bytes& photo) {
  std::error_code ec;
  if (!fs::is_regular_file(data / "bureau.db", ec)) {
    return Status(Code::kNotFound, "no job store in " + data.string());
  }
  CB_ASSIGN_OR_RETURN(auto store, server::JobStore::Open(data, SystemClock::Instance()));
  CB_ASSIGN_OR_RETURN(auto rec, store->Find(job_id));
  if (!rec) return Status(Code::kNotFound, "the store has no job " + job_id);
  if (rec->purged || rec->job_json.empty()) {
    return Status(Code::kNotFound, "job " + job_id + " was purged: give --job and --photo");
  }
  CB_ASSIGN_OR_RETURN(job, ParseJob(rec->job_json));
  CB_ASSIGN_OR_RETURN(photo, store->photos().Read(rec->photo_sha256));
  return Status::Ok();
}

}  // namespace

int RunVerifyScan(int argc, char** argv) {
  ScanArgs a;
  if (int rc = ParseScanArgs(argc, argv, a); rc >= 0) return rc;
  auto keys = encoder::LoadKeystore(a.keys);
  if (!keys.ok()) return Refuse(keys.status());
  Result<layout::QrVerifier> verifier = Status(Code::kInternal, "no verifier");
  if (keys->backend) {
    auto pub = keys->backend->PublicKeyPem();
    verifier =
        pub.ok() ? layout::QrVerifier::FromPem(*pub) : Result<layout::QrVerifier>(pub.status());
  } else {
    verifier = layout::QrVerifier::FromPemFile(keys->sign_key_path);
  }
  if (!verifier.ok()) return Refuse(verifier.status());
  // The one image decoder (pixel cap 4096 x 4096: a 12 MP photo fits).
  auto capture = layout::ReadImageFile(a.scan, "scan");
  if (!capture.ok()) return Refuse(capture.status());

  Job job;
  Bytes photo;
  if (!a.job.empty()) {
    auto text = printers::ReadFileLimited(a.job, kMaxJobJsonBytes);
    if (!text.ok()) return Refuse(text.status());
    auto parsed = ParseJob(std::string(text->begin(), text->end()));
    if (!parsed.ok()) return Refuse(parsed.status());
    job = *parsed;
    auto p = printers::ReadFileLimited(a.photo, kMaxPhotoBytes);
    if (!p.ok()) return Refuse(p.status());
    photo = *p;
  }
  auto channel = OpenChip(a);
  if (!channel.ok()) {
    return Refuse(
        channel.status().code() == Code::kCardTimeout
            ? channel.status()
            : Status(channel.status().code(), a.image + ": " + channel.status().message()));
  }
  if (!a.data.empty()) {
    // The chip names the job: read it once to find it in the store.
    auto report = encoder::ReadCard(**channel, &*keys);
    if (!report.ok()) return Refuse(report.status());
    if (!report->record || !report->mac_status || !report->mac_status->ok()) {
      return Refuse(Status(Code::kVerifyMismatch, "the chip holds no valid record to look up"));
    }
    Status st = FromStore(a.data, report->record->record.job_id, job, photo);
    if (!st.ok()) return Refuse(st);
    channel = OpenChip(a);
    if (!channel.ok()) return Refuse(channel.status());
  }
  if (!job.card.valid_until) {
    ValidationOptions vo;
    Status v = ValidateJob(job, vo);
    if (!v.ok()) return Refuse(v);
  }
  auto tmpl = layout::LoadTemplate(job.card.template_name);
  if (!tmpl.ok()) return Refuse(tmpl.status());
  auto profile = layout::FindProfile("evolis-300");
  if (!profile.ok()) return Refuse(profile.status());
  auto renderer = layout::CardRenderer::Create(*tmpl, *profile);
  if (!renderer.ok()) return Refuse(renderer.status());

  auto qa = VerifyScan(**channel, *capture, *keys, *verifier, **renderer, job, photo);
  if (!qa.ok()) {
    std::cerr << "cardbureau verify: " << qa.status() << "\n";
    return qa.status().code() == Code::kCardRemoved || qa.status().code() == Code::kReaderError ||
                   qa.status().code() == Code::kReaderUnavailable
               ? kRuntime
               : kRefused;
  }
  if (!a.data.empty() && qa->chip.chip.ok() && qa->chip.record) {
    Status bound = CheckUidBinding(a.data, qa->chip.record->job_id, ToHex(qa->chip.uid));
    if (bound.code() == Code::kIoError || bound.code() == Code::kStorageError) {
      std::cerr << "cardbureau verify: " << bound << "\n";
      return kRuntime;
    }
    if (!bound.ok()) qa->chip.chip = bound;
  }
  if (a.json) {
    std::cout << qa->ToJson().dump() << "\n";
  } else {
    std::cout << qa->Table();
  }
  for (const std::string& line : qa->FailureLines()) std::cerr << line << "\n";
  return qa->ok() ? kOk : kRefused;
}

}  // namespace cardbureau::line
