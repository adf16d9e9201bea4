#include "cardbureau/line/commands.h"

#include <boost/program_options.hpp>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cardbureau/core/validate_command.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/card_image.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/photo.h"
#include "cardbureau/layout/template.h"
#include "cardbureau/line/qa.h"
#include "cardbureau/line/stock_command.h"
#include "cardbureau/printers/cups_printer.h"
#include "cardbureau/printers/file_util.h"
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
  po::options_description opts(
      "Usage: cardbureau verify --face FRONT.png --keys KEYSTORE (--image CARD.mfd | --reader "
      "NAME)\n"
      "                         [--job JOB.json] [--data DIR] [--json]\n\n"
      "QA of a produced card: the chip record's MAC verifies, the QR on the face\n"
      "decodes and its Ed25519 signature verifies, the QR's uid is the chip's UID\n"
      "and its claims equal the chip record. --image checks a chip memory dump\n"
      "(.mfd, e.g. out/cards/<job>/card.mfd of the demo) through the card\n"
      "emulator; --reader reads a card on a PC/SC reader. Never writes the card.\n"
      "With --data, the bureau's store must bind the card's UID to the job on the\n"
      "chip (DUPLICATE_UID when it is not: one card UID, one live job) and the\n"
      "job's card must not be voided.\n"
      "Exit 0 when the card passes, 1 when it fails QA, 2 usage, 3 runtime error.\n\n"
      "Options");
  std::string face, keys_path, image, reader, job_path, data;
  opts.add_options()("help,h", "show this help")(
      "face", po::value(&face), "front face image (PNG/JPEG)")("keys", po::value(&keys_path),
                                                               "keystore file (mode 600)")(
      "image", po::value(&image), "chip memory dump (1024 or 4096 bytes)")(
      "reader", po::value(&reader), "PC/SC reader name")("job", po::value(&job_path),
                                                         "the job the card must carry")(
      "data", po::value(&data), "the bureau's data dir: check the UID binding in its store")(
      "json", "machine-readable output");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "cardbureau verify: " << e.what() << "\n\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (face.empty() || keys_path.empty() || (image.empty() == reader.empty())) {
    std::cerr << "cardbureau verify: --face, --keys and one of --image / --reader are required\n\n"
              << opts << "\n";
    return 2;
  }
  auto keys = encoder::LoadKeystore(keys_path);
  if (!keys.ok()) {
    std::cerr << "cardbureau verify: " << keys.status() << "\n";
    return keys.status().code() == Code::kIoError ? 3 : 1;
  }
  Result<layout::QrVerifier> verifier = Status(Code::kInternal, "no verifier");
  if (keys->backend) {
    // pkcs11 keystore: the public half of the token's signing key.
    auto pub = keys->backend->PublicKeyPem();
    verifier =
        pub.ok() ? layout::QrVerifier::FromPem(*pub) : Result<layout::QrVerifier>(pub.status());
  } else {
    verifier = layout::QrVerifier::FromPemFile(keys->sign_key_path);
  }
  if (!verifier.ok()) {
    std::cerr << "cardbureau verify: " << verifier.status() << "\n";
    return verifier.status().code() == Code::kIoError ? 3 : 1;
  }
  // The one image decoder (pixel cap, truncation checks, no exceptions).
  auto front_image = layout::ReadImageFile(face, "face");
  if (!front_image.ok()) {
    std::cerr << "cardbureau verify: " << front_image.status() << "\n";
    return front_image.status().code() == Code::kIoError ? 3 : 1;
  }
  const cv::Mat& front = *front_image;
  std::optional<Job> job;
  if (!job_path.empty()) {
    auto text = printers::ReadFileLimited(job_path, kMaxJobJsonBytes);
    auto parsed =
        text.ok() ? ParseJob(std::string(text->begin(), text->end())) : Result<Job>(text.status());
    if (!parsed.ok()) {
      std::cerr << "cardbureau verify: " << parsed.status() << "\n";
      return 1;
    }
    job = *parsed;
  }
  std::unique_ptr<devices::CardChannel> channel;
  if (!reader.empty()) {
    PcscCardSource source(reader);
    std::cerr << "waiting for a card on " << reader << " ...\n";
    auto card = source.WaitForCard(std::chrono::seconds(30));
    if (!card.ok() || !card->has_value()) {
      std::cerr << "cardbureau verify: "
                << (card.ok() ? Status(Code::kCardTimeout, "no card within 30 s") : card.status())
                << "\n";
      return 3;
    }
    channel = std::move(**card);
  } else {
    // LoadCardImage: 1024 or 4096 bytes, anything else INVALID_FIELD (exit 1).
    auto dump = devices::LoadCardImage(image);
    if (!dump.ok()) {
      std::cerr << "cardbureau verify: " << dump.status() << "\n";
      return dump.status().code() == Code::kIoError ? 3 : 1;
    }
    auto uid = devices::UidFromImage(*dump);
    auto card = uid.ok() ? devices::MifareClassicEmulator::Create(*dump, *uid)
                         : Result<std::shared_ptr<devices::MifareClassicEmulator>>(uid.status());
    if (!card.ok()) {
      std::cerr << "cardbureau verify: " << image << ": " << card.status() << "\n";
      return 1;
    }
    channel = std::make_unique<devices::LoopbackChannel>(*card);
  }
  auto qa = VerifyCard(*channel, front, *keys, *verifier, job ? &*job : nullptr);
  if (!qa.ok()) {
    std::cerr << "cardbureau verify: " << qa.status() << "\n";
    return 3;
  }
  if (!data.empty() && qa->chip.ok() && qa->record) {
    Status bound = CheckUidBinding(data, qa->record->job_id, ToHex(qa->uid));
    if (bound.code() == Code::kIoError || bound.code() == Code::kStorageError) {
      std::cerr << "cardbureau verify: " << bound << "\n";
      return 3;
    }
    if (!bound.ok()) qa->chip = bound;
  }
  if (vm.count("json")) {
    nlohmann::json out = {{"uid", ToHex(qa->uid)},
                          {"chip", qa->chip_text()},
                          {"face", qa->face_text()},
                          {"ok", qa->ok()}};
    if (!qa->chip.ok()) out["chip_message"] = qa->chip.message();
    if (!qa->face.ok()) out["face_message"] = qa->face.message();
    if (qa->record) out["job_id"] = qa->record->job_id;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "UID   " << ToHex(qa->uid) << "\n";
    std::cout << "chip  "
              << (qa->chip.ok() ? "OK (record MAC verifies" +
                                      (qa->record ? ", job " + qa->record->job_id : "") + ")"
                                : qa->chip.ToString())
              << "\n";
    std::cout << "face  "
              << (qa->face.ok() ? "OK (QR signature verifies, UID and claims match the chip)"
                                : qa->face.ToString())
              << "\n";
    std::cout << (qa->ok() ? "PASS" : "FAIL") << "\n";
  }
  return qa->ok() ? 0 : 1;
}

}  // namespace

std::vector<Command> Commands() {
  return {{"verify", "QA a produced card: chip MAC, signed QR, UID binding, claims", RunVerify},
          {"stock", "card stock lots: import, report, spoiled UIDs, sim lot", RunStock},
          // The same intake check as serve (replaces core's `validate`).
          core::MakeValidateCommand([](Job& job, ByteView photo, const Clock& clock) {
            return MakeIntakeValidator(clock)(job, photo);
          })};
}

}  // namespace cardbureau::line
