// `cardbureau verify --scan`: QA of a printed card from a photo or scan of
// its front (scan_qa.h). Its own options (cli::Cli, core/cli.h), apart from
// the `--face` form in commands.cpp.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/cli.h"
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
#include "cardbureau/server/job_store.h"

namespace cardbureau::line {

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

using cli::kExitOk;

struct ScanArgs {
  std::string scan, keys, image, reader, job, photo, data;
};

// This form's exit codes: 3 for an I/O or store failure, 1 for anything
// else refused (a bad card, capture, job or keystore).
int Refuse(const cli::Cli& cli, const Status& s) {
  return s.code() == Code::kIoError || s.code() == Code::kStorageError ? cli.Runtime(s)
                                                                       : cli.Refuse(s);
}

Result<std::unique_ptr<devices::CardChannel>> OpenChip(const ScanArgs& a) {
  if (!a.reader.empty()) {
    PcscCardSource source(a.reader);
    cli::Message("verify", "waiting for a card on " + a.reader + " ...");
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
  cli::Cli cli("verify",
               "--scan PHOTO.(jpg|png) --keys KEYSTORE\n"
               "           (--image CARD.mfd | --reader NAME)\n"
               "           (--job JOB.json --photo PHOTO | --data DIR) [--json]",
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
               "too blurred) or input refused; 2 usage; 3 runtime error.");
  ScanArgs a;
  cli.Options()("scan", po::value(&a.scan), "photo or scan of the card's front")(
      "keys", po::value(&a.keys), "keystore file (mode 600)")(
      "image", po::value(&a.image), "chip memory image (1024 or 4096 bytes)")(
      "reader", po::value(&a.reader), "PC/SC reader name")(
      "job", po::value(&a.job), "the job the card must carry (JSON)")("photo", po::value(&a.photo),
                                                                      "the job's photo")(
      "data", po::value(&a.data), "the bureau's data dir: the job and photo from its store")(
      "json", "machine-readable output");
  cli.Example(
      "cardbureau verify --scan phone.jpg --keys out/data/keys/keystore-test.json --image "
      "out/cards/DEMO-0001/card.mfd --data out/data");
  cli.Example(
      "cardbureau verify --scan scan.png --keys keystore.json --reader \"Virtual PCD 00 00\" "
      "--job job.json --photo photo.jpg");
  // `verify --scan --help` (as `verify --help` says): --help anywhere, even
  // where --scan would take it as its value.
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cli.PrintHelp(std::cout);
      return kExitOk;
    }
  }
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"scan", "keys"})) return *rc;
  if (auto rc = cli.Exclusive("image", "reader", /*one_required=*/true)) return *rc;
  if (cli.Has("job") || cli.Has("photo")) {
    if (auto rc = cli.Exclusive("job", "data")) return *rc;
    if (auto rc = cli.Require({"job", "photo"})) return *rc;
  } else if (!cli.Has("data")) {
    return cli.Usage("--job with --photo, or --data, is required");
  }
  // The named input files first: a message that names the path.
  const std::pair<const std::string*, const char*> inputs[] = {
      {&a.scan, "scan"}, {&a.image, "image"}, {&a.job, "job"}, {&a.photo, "photo"}};
  for (const auto& [path, field] : inputs) {
    if (path->empty()) continue;
    if (Status s = cli::CheckInputFile(*path, field); !s.ok()) return Refuse(cli, s);
  }
  if (!a.data.empty()) {
    if (Status d = cli::CheckInputDir(a.data, "data"); !d.ok()) {
      return cli.Refuse(Status(Code::kNotFound, d.message(), "data"));
    }
  }
  auto keys = encoder::LoadKeystore(a.keys);
  if (!keys.ok()) return Refuse(cli, keys.status());
  Result<layout::QrVerifier> verifier = Status(Code::kInternal, "no verifier");
  if (keys->backend) {
    auto pub = keys->backend->PublicKeyPem();
    verifier =
        pub.ok() ? layout::QrVerifier::FromPem(*pub) : Result<layout::QrVerifier>(pub.status());
  } else {
    verifier = layout::QrVerifier::FromPemFile(keys->sign_key_path);
  }
  if (!verifier.ok()) return Refuse(cli, verifier.status());
  // The one image decoder (pixel cap 4096 x 4096: a 12 MP photo fits).
  auto capture = layout::ReadImageFile(a.scan, "scan");
  if (!capture.ok()) return Refuse(cli, capture.status());

  Job job;
  Bytes photo;
  if (!a.job.empty()) {
    auto text = cli::ReadInputFile(a.job, kMaxJobJsonBytes, "job");
    if (!text.ok()) return Refuse(cli, text.status());
    auto parsed = ParseJob(*text);
    if (!parsed.ok()) return Refuse(cli, parsed.status());
    job = *parsed;
    auto p = cli::ReadInputFile(a.photo, kMaxPhotoBytes, "photo");
    if (!p.ok()) return Refuse(cli, p.status());
    photo = Bytes(p->begin(), p->end());
  }
  auto channel = OpenChip(a);
  if (!channel.ok()) {
    return Refuse(
        cli, channel.status().code() == Code::kCardTimeout
                 ? channel.status()
                 : Status(channel.status().code(), a.image + ": " + channel.status().message()));
  }
  if (!a.data.empty()) {
    // The chip names the job: read it once to find it in the store.
    auto report = encoder::ReadCard(**channel, &*keys);
    if (!report.ok()) return Refuse(cli, report.status());
    if (!report->record || !report->mac_status || !report->mac_status->ok()) {
      return Refuse(cli,
                    Status(Code::kVerifyMismatch, "the chip holds no valid record to look up"));
    }
    Status st = FromStore(a.data, report->record->record.job_id, job, photo);
    if (!st.ok()) return Refuse(cli, st);
    channel = OpenChip(a);
    if (!channel.ok()) return Refuse(cli, channel.status());
  }
  if (!job.card.valid_until) {
    ValidationOptions vo;
    Status v = ValidateJob(job, vo);
    if (!v.ok()) return Refuse(cli, v);
  }
  auto tmpl = layout::LoadTemplate(job.card.template_name);
  if (!tmpl.ok()) return Refuse(cli, tmpl.status());
  auto profile = layout::FindProfile("evolis-300");
  if (!profile.ok()) return Refuse(cli, profile.status());
  auto renderer = layout::CardRenderer::Create(*tmpl, *profile);
  if (!renderer.ok()) return Refuse(cli, renderer.status());

  auto qa = VerifyScan(**channel, *capture, *keys, *verifier, **renderer, job, photo);
  if (!qa.ok()) {
    return qa.status().code() == Code::kCardRemoved || qa.status().code() == Code::kReaderError ||
                   qa.status().code() == Code::kReaderUnavailable
               ? cli.Runtime(qa.status())
               : cli.Refuse(qa.status());
  }
  if (!a.data.empty() && qa->chip.chip.ok() && qa->chip.record) {
    Status bound = CheckUidBinding(a.data, qa->chip.record->job_id, ToHex(qa->chip.uid));
    if (bound.code() == Code::kIoError || bound.code() == Code::kStorageError) {
      return cli.Runtime(bound);
    }
    if (!bound.ok()) qa->chip.chip = bound;
  }
  if (cli.Has("json")) {
    std::cout << qa->ToJson().dump() << "\n";
  } else {
    std::cout << qa->Table();
  }
  for (const std::string& line : qa->FailureLines()) cli.Note(line);
  return qa->ok() ? kExitOk : cli::kExitRefused;
}

}  // namespace cardbureau::line
