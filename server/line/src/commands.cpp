#include "cardbureau/line/commands.h"

#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/validate_command.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/card_image.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/commands.h"
#include "cardbureau/layout/photo.h"
#include "cardbureau/layout/template.h"
#include "cardbureau/line/keystore_qr.h"
#include "cardbureau/line/qa.h"
#include "cardbureau/line/scan_qa.h"
#include "cardbureau/line/stock_command.h"
#include "cardbureau/printers/cups_printer.h"
#include "cardbureau/printers/hotfolder_printer.h"
#include "cardbureau/printers/sim_printer.h"
#include "cardbureau/printers/vpcd_inserter.h"
#include "cardbureau/server/job_store.h"

namespace cardbureau::line {

namespace fs = std::filesystem;
namespace po = boost::program_options;

Result<std::vector<StationSetup>> BuildStations(const LineConfig& config,
                                                const fs::path& stock_serial_file,
                                                const std::string& bureau) {
  std::vector<StationSetup> out;
  for (const StationConfig& sc : config.stations) {
    StationSetup st;
    st.name = sc.name;
    st.card_types = sc.card_types;
    auto slot = std::make_shared<printers::LoopbackSlot>();
    std::shared_ptr<printers::CardInserter> inserter = slot;
    if (sc.vpcd_port) {
      devices::VpcdOptions vo;
      vo.port = static_cast<uint16_t>(sc.vpcd_port);
      inserter = std::make_shared<printers::VpcdInserter>(vo);
    }
    if (sc.printer == "sim") {
      printers::SimPrinterConfig pc;
      pc.name = sc.name;
      pc.hopper_dir = sc.hopper;
      pc.seed = sc.seed;
      pc.stock_serial_file = stock_serial_file;
      pc.bureau = bureau;
      pc.time_per_card = std::chrono::milliseconds(sc.time_per_card_ms);
      pc.jam_on_feed = sc.jam_feed;
      pc.jam_on_print = sc.jam_print;
      pc.ribbon_runs_out_after = sc.ribbon_after;
      pc.ribbon_prints = sc.ribbon_prints;
      pc.card_stock = sc.card_stock;
      pc.card_faults = sc.card_faults;
      st.printer = std::make_unique<printers::SimPrinter>(pc, *inserter);
    } else if (sc.printer == "hotfolder") {
      printers::HotfolderConfig hc;
      hc.name = sc.name;
      hc.dir = sc.dir;
      st.printer = std::make_unique<printers::HotfolderPrinter>(hc);
    } else {
      printers::CupsConfig cc;
      cc.name = sc.name;
      cc.queue = sc.queue;
      cc.server = sc.server;
      cc.port = sc.port;
      st.printer = std::make_unique<printers::CupsPrinter>(cc);
    }
    if (sc.reader == "loopback") {
      st.source = std::make_unique<LoopbackCardSource>(*slot);
    } else {
      st.source = std::make_unique<PcscCardSource>(sc.reader.substr(5));
    }
    st.keepalive = inserter;
    out.push_back(std::move(st));
  }
  return out;
}

namespace {

struct IntakeChecker {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<layout::CardRenderer>> renderers;

  Result<layout::CardRenderer*> For(const std::string& name) {
    auto it = renderers.find(name);
    if (it != renderers.end()) return it->second.get();
    auto tmpl = layout::LoadTemplate(name);
    if (!tmpl.ok())
      return Status(Code::kInvalidField, "unknown card template " + name, "card.template");
    CB_ASSIGN_OR_RETURN(auto profile, layout::FindProfile("evolis-300"));
    CB_ASSIGN_OR_RETURN(auto r, layout::CardRenderer::Create(*tmpl, profile));
    auto* raw = r.get();
    renderers[name] = std::move(r);
    return raw;
  }
};

}  // namespace

server::JobValidator MakeIntakeValidator(const Clock& clock) {
  auto checker = std::make_shared<IntakeChecker>();
  return [checker, &clock](Job& job, ByteView photo) -> Status {
    std::lock_guard lock(checker->mu);
    auto renderer = checker->For(job.card.template_name);
    ValidationOptions options;
    options.clock = &clock;
    if (renderer.ok()) options.glyph_check = (*renderer)->glyph_check();
    CB_RETURN_IF_ERROR(ValidateJob(job, options));
    if (!renderer.ok()) return renderer.status();
    CB_RETURN_IF_ERROR(ValidatePhotoBytes(job, photo));
    CB_ASSIGN_OR_RETURN(auto checked, (*renderer)->photos().Check(photo));
    auto trial = (*renderer)->PrepareWithPhoto(job, checked);
    return trial.ok() ? Status::Ok() : trial.status();
  };
}

server::ServeHooks MakeServeHooks() {
  server::ServeHooks hooks;
  hooks.validator = [](const Clock& clock) { return MakeIntakeValidator(clock); };
  hooks.on_purge = [](const std::vector<server::JobStore::PurgedJob>& jobs) {
    // The intake validator and the line share the process-wide cache.
    for (const auto& j : jobs) layout::PhotoCheckCache::Shared()->EvictPhoto(j.photo_sha256);
  };
  hooks.productions["line"] =
      [](server::ProductionSink& sink, const server::ServeConfig& cfg,
         const Clock& clock) -> Result<std::unique_ptr<server::Production>> {
    const fs::path path = cfg.data_dir / "line.json";
    CB_ASSIGN_OR_RETURN(LineConfig lc, LoadLineConfig(path));
    CB_ASSIGN_OR_RETURN(encoder::KeySet keys, encoder::LoadKeystore(lc.keys));
    LineOptions o;
    o.render_threads = lc.render_threads;
    o.max_tries = lc.max_tries;
    o.station_failure_limit = lc.station_failure_limit;
    o.card_wait = std::chrono::milliseconds(lc.card_wait_ms);
    o.template_name = lc.template_name;
    o.profile = lc.profile;
    o.keys = std::move(keys);
    o.batches_dir = lc.batches_dir;
    o.outputs.direct_io = lc.direct_io;
    o.stock_required = lc.stock_required;
    o.clock = &clock;
    CB_ASSIGN_OR_RETURN(auto stations,
                        BuildStations(lc, cfg.data_dir / "stock-serial", cfg.bureau_id));
    CB_ASSIGN_OR_RETURN(auto line, Line::Create(sink, std::move(o), std::move(stations)));
    return std::unique_ptr<server::Production>(std::move(line));
  };
  return hooks;
}

Status CheckUidBinding(const fs::path& data_dir, const std::string& job_id,
                       const std::string& uid) {
  std::error_code ec;
  if (!fs::is_regular_file(data_dir / "bureau.db", ec)) {
    return Status(Code::kNotFound, "no job store in " + data_dir.string());
  }
  CB_ASSIGN_OR_RETURN(auto store, server::JobStore::Open(data_dir, SystemClock::Instance()));
  CB_ASSIGN_OR_RETURN(auto rec, store->Find(job_id));
  if (!rec) return Status(Code::kNotFound, "the store has no job " + job_id);
  if (rec->card_uid != uid) {
    return Status(Code::kDuplicateUid,
                  "card UID " + uid + " is not the UID bound to job " + job_id + " (" +
                      (rec->card_uid.empty() ? std::string("none") : rec->card_uid) + ")");
  }
  if (rec->voided_at_ms) {
    return Status(
        Code::kVerifyMismatch,
        "the card of job " + job_id + " was voided (reprinted as " + rec->reprinted_by + ")");
  }
  return Status::Ok();
}

namespace {

int RunVerify(int argc, char** argv) {
  // The printed card from a photo or scan: its own form (scan_verify_command.cpp).
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--scan" || arg.starts_with("--scan=")) return RunVerifyScan(argc, argv);
  }
  cli::Cli cli("verify",
               "--face FRONT.png --keys KEYSTORE (--image CARD.mfd | --reader NAME)\n"
               "                         [--job JOB.json] [--data DIR] [--json]",
               "QA of a produced card: the chip record's MAC verifies, the QR on the face\n"
               "decodes and its Ed25519 signature verifies, the QR's uid is the chip's UID\n"
               "and its claims equal the chip record. --image checks a chip memory dump\n"
               "(.mfd, e.g. out/cards/<job>/card.mfd of the demo) through the card\n"
               "emulator; --reader reads a card on a PC/SC reader. Never writes the card.\n"
               "With --data, the bureau's store must bind the card's UID to the job on the\n"
               "chip (DUPLICATE_UID when it is not: one card UID, one live job) and the\n"
               "job's card must not be voided.\n"
               "The face verdict is `qr`: it checks the QR only. To QA the printed card\n"
               "itself (every field, from a photo or scan) use `verify --scan` (--scan --help).\n"
               "Exit 0 when the card passes, 1 when it fails QA, 2 usage, 3 runtime error.");
  std::string face, keys_path, image, reader, job_path, data;
  cli.Options()("face", po::value(&face), "front face image (PNG/JPEG)")(
      "keys", po::value(&keys_path), "keystore file (mode 600)")(
      "image", po::value(&image), "chip memory dump (1024 or 4096 bytes)")(
      "reader", po::value(&reader), "PC/SC reader name")("job", po::value(&job_path),
                                                         "the job the card must carry")(
      "data", po::value(&data), "the bureau's data dir: check the UID binding in its store")(
      "json", "machine-readable output");
  cli.Example(
      "cardbureau verify --image out/cards/DEMO-0001/card.mfd --face "
      "out/cards/DEMO-0001/front.png --keys out/data/keys/keystore-test.json");
  cli.Example(
      "cardbureau verify --reader \"Virtual PCD 00 00\" --face front.png --keys keystore.json "
      "--data /var/lib/cardbureau");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Exclusive("image", "reader")) return *rc;
  if (auto rc = cli.Require({"face", "keys"})) return *rc;
  if (auto rc = cli.Exclusive("image", "reader", /*one_required=*/true)) return *rc;
  auto keys = encoder::LoadKeystore(keys_path);
  if (!keys.ok()) return cli.Fail(keys.status());
  Result<layout::QrVerifier> verifier = Status(Code::kInternal, "no verifier");
  if (keys->backend) {
    // pkcs11 keystore: the public half of the token's signing key.
    auto pub = keys->backend->PublicKeyPem();
    verifier =
        pub.ok() ? layout::QrVerifier::FromPem(*pub) : Result<layout::QrVerifier>(pub.status());
  } else {
    verifier = layout::QrVerifier::FromPemFile(keys->sign_key_path);
  }
  if (!verifier.ok()) return cli.Fail(verifier.status());
  // The one image decoder (pixel cap, truncation checks, no exceptions).
  if (Status f = cli::CheckInputFile(face, "face"); !f.ok()) return cli.Fail(f);
  auto front_image = layout::ReadImageFile(face, "face");
  if (!front_image.ok()) return cli.Fail(front_image.status());
  const cv::Mat& front = *front_image;
  std::optional<Job> job;
  if (!job_path.empty()) {
    auto text = cli::ReadInputFile(job_path, kMaxJobJsonBytes, "job");
    auto parsed = text.ok() ? ParseJob(*text) : Result<Job>(text.status());
    if (!parsed.ok()) return cli.Refuse(parsed.status());
    job = *parsed;
  }
  std::unique_ptr<devices::CardChannel> channel;
  if (!reader.empty()) {
    PcscCardSource source(reader);
    cli.Note("waiting for a card on " + reader + " ...");
    auto card = source.WaitForCard(std::chrono::seconds(30));
    if (!card.ok() || !card->has_value()) {
      return cli.Runtime(card.ok() ? Status(Code::kCardTimeout, "no card within 30 s")
                                   : card.status());
    }
    channel = std::move(**card);
  } else {
    // LoadCardImage: 1024 or 4096 bytes, anything else INVALID_FIELD (exit 1).
    Status readable = cli::CheckInputFile(image, "image");
    auto dump = readable.ok() ? devices::LoadCardImage(image) : Result<Bytes>(readable);
    if (!dump.ok()) return cli.Fail(dump.status());
    auto uid = devices::UidFromImage(*dump);
    auto card = uid.ok() ? devices::MifareClassicEmulator::Create(*dump, *uid)
                         : Result<std::shared_ptr<devices::MifareClassicEmulator>>(uid.status());
    if (!card.ok()) {
      cli.Note(image + ": " + card.status().ToString());
      return cli::kExitRefused;
    }
    channel = std::make_unique<devices::LoopbackChannel>(*card);
  }
  auto qa = VerifyCard(*channel, front, *keys, *verifier, job ? &*job : nullptr);
  if (!qa.ok()) return cli.Runtime(qa.status());
  if (!data.empty() && qa->chip.ok() && qa->record) {
    Status bound = CheckUidBinding(data, qa->record->job_id, ToHex(qa->uid));
    if (bound.code() == Code::kIoError || bound.code() == Code::kStorageError) {
      return cli.Runtime(bound);
    }
    if (!bound.ok()) qa->chip = bound;
  }
  if (cli.Has("json")) {
    nlohmann::json out = {{"uid", ToHex(qa->uid)},
                          {"chip", qa->chip_text()},
                          {"qr", qa->face_text()},
                          {"ok", qa->ok()}};
    if (!qa->chip.ok()) out["chip_message"] = qa->chip.message();
    if (!qa->face.ok()) out["qr_message"] = qa->face.message();
    if (qa->record) out["job_id"] = qa->record->job_id;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "UID   " << ToHex(qa->uid) << "\n";
    std::cout << "chip  "
              << (qa->chip.ok() ? "OK (record MAC verifies" +
                                      (qa->record ? ", job " + qa->record->job_id : "") + ")"
                                : qa->chip.ToString())
              << "\n";
    std::cout << "qr    "
              << (qa->face.ok() ? "OK (QR signature verifies, UID and claims match the chip)"
                                : qa->face.ToString())
              << "\n";
    std::cout << (qa->ok() ? "PASS" : "FAIL") << "\n";
  }
  return qa->ok() ? cli::kExitOk : cli::kExitRefused;
}

}  // namespace

std::vector<Command> Commands() {
  return {{"verify", "QA a produced card: chip MAC, signed QR, UID binding, claims", RunVerify},
          {"stock", "card stock lots: import, report, spoiled UIDs, sim lot", RunStock},
          // The same intake check as serve (replaces core's `validate`).
          core::MakeValidateCommand([](Job& job, ByteView photo, const Clock& clock) {
            return MakeIntakeValidator(clock)(job, photo);
          }),
          // `render --keys KEYSTORE` (a file or pkcs11 keystore; replaces layout's).
          layout::MakeRenderCommand(QrSignerFromKeystore)};
}

}  // namespace cardbureau::line
