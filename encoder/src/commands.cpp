// `cardbureau encode` and `cardbureau read`: personalize / QA-read a card on
// a PC/SC reader.
#include "cardbureau/encoder/commands.h"

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/card_image.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/devices/pcsc.h"
#include "cardbureau/encoder/card_reader.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/personalizer.h"
#include "keys_command.h"

namespace cardbureau::encoder {
namespace {

namespace po = boost::program_options;

using cli::kExitOk;
using cli::kExitRefused;

// Refusals are about the input (job, keys, card stock); a chip that does
// not read back what was written is a runtime failure worth a retry, as
// every device failure (cli::ExitCodeFor).
int Fail(const cli::Cli& cli, const Status& s) {
  if (s.code() == Code::kVerifyMismatch) return cli.Runtime(s);
  return cli.Fail(s);
}

// Waits for a card in `reader` and connects to it exclusively.
Result<std::unique_ptr<devices::PcscChannel>> WaitAndConnect(const std::string& reader,
                                                             int timeout_s) {
  devices::PcscReaders readers;
  CB_ASSIGN_OR_RETURN(auto atr, readers.WaitForCard(reader, std::chrono::seconds(timeout_s)));
  if (!atr) {
    return Status(Code::kCardTimeout,
                  "no card in " + reader + " within " + std::to_string(timeout_s) + " s");
  }
  return readers.Connect(reader);
}

int RunEncode(int argc, char** argv) {
  cli::Cli cli("encode",
               "--reader NAME --job JOB.json --keys FILE\n"
               "                         [--issued-on YYYY-MM-DD] [--seq N] [--timeout S] [--json]",
               "Waits for a card on the PC/SC reader, writes the job's student record into\n"
               "the student sectors named by the card's MAD (tear-safe; a card pulled half\n"
               "way can be encoded again with the same job), reads it back, checks the MAC\n"
               "and prints the UID and the result. Exit 0 encoded, 1 refused (job, keys or\n"
               "card stock), 2 usage, 3 runtime failure (card removed, auth, verify, reader).");
  std::string reader, job_path, keys_path, issued_on;
  int seq = 0, timeout_s = 60;
  cli.Options()("reader", po::value(&reader), "PC/SC reader name (e.g. \"Virtual PCD 00 00\")")(
      "job", po::value(&job_path), "protocol v1 job JSON file")("keys", po::value(&keys_path),
                                                                "keystore JSON (mode 0600)")(
      "issued-on", po::value(&issued_on),
      "issue date written to the chip (default: today, Beijing)")(
      "seq", po::value(&seq), "issue sequence (default 1 for a new card, 2 for a reissue)")(
      "timeout", po::value(&timeout_s), "seconds to wait for a card (default 60)")(
      "json", "print the outcome as one JSON object");
  cli.Example(
      "cardbureau encode --reader \"Virtual PCD 00 00\" --job job.json --keys keystore.json");
  cli.Example(
      "cardbureau encode --reader \"Virtual PCD 00 00\" --job job.json --keys k.json --json");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"reader", "job", "keys"})) return *rc;
  if (seq < 0 || seq > 255) return cli.Usage("--seq must be 1..255");
  if (timeout_s <= 0) return cli.Usage("--timeout must be positive");
  CivilDate issued = SystemClock::Instance().TodayBeijing();
  if (!issued_on.empty()) {
    auto d = ParseIsoDate(issued_on);
    if (!d) return cli.Usage("--issued-on must be YYYY-MM-DD, not '" + issued_on + "'");
    issued = *d;
  }

  auto keys = LoadKeystore(keys_path);
  if (!keys.ok()) return Fail(cli, keys.status());
  auto text = cli::ReadInputFile(job_path, kMaxJobJsonBytes, "job");
  if (!text.ok()) return Fail(cli, text.status());
  auto job = ParseJob(*text);
  if (!job.ok()) return Fail(cli, job.status());
  if (Status s = ValidateJob(*job, ValidationOptions{}); !s.ok()) return Fail(cli, s);

  EncodeParams params;
  params.issued_on = issued;
  params.issue_sequence =
      static_cast<uint8_t>(seq > 0 ? seq : (job->kind == JobKind::kNew ? 1 : 2));
  const Personalizer personalizer(std::move(*keys));

  cli.Note("waiting for a card in " + reader + " (job " + job->job_id + ")");
  auto channel = WaitAndConnect(reader, timeout_s);
  if (!channel.ok()) return Fail(cli, channel.status());
  auto txn = (*channel)->BeginTransaction();
  if (!txn.ok()) return Fail(cli, txn.status());
  const auto start = std::chrono::steady_clock::now();
  auto out = personalizer.Encode(**channel, *job, params);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  if (!out.ok()) return Fail(cli, out.status());
  if (cli.Has("json")) {
    nlohmann::json j = {{"job_id", job->job_id},
                        {"uid", ToHex(out->uid)},
                        {"result", std::string(ToString(out->kind))},
                        {"card_type", std::string(ToString(job->card.card_type))},
                        {"apdus", out->apdus},
                        {"ms", ms}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "UID " << ToHex(out->uid) << " " << ToString(out->kind) << " job " << job->job_id
              << " (" << out->apdus << " APDUs, " << ms << " ms), record verified\n";
  }
  return kExitOk;
}

int RunRead(int argc, char** argv) {
  cli::Cli cli("read", "(--reader NAME | --image CARD.mfd) [--keys FILE] [--json] [--timeout S]",
               "QA read of the card on a PC/SC reader, or of a saved chip image (--image:\n"
               "1024 or 4096 bytes, read through the card emulator like a card on a reader):\n"
               "UID, MAD, the sectors (transit and other sectors are listed as not ours and\n"
               "never touched), the student record and, with --keys, whether its MAC\n"
               "verifies. Never writes. Exit 0 read and valid, 1 the card fails QA (bad MAD,\n"
               "no/invalid record, MAC mismatch), 2 usage, 3 runtime failure.");
  std::string reader, keys_path, image;
  int timeout_s = 60;
  cli.Options()("reader", po::value(&reader), "PC/SC reader name")(
      "image", po::value(&image), "a saved chip image (.mfd) instead of a reader")(
      "keys", po::value(&keys_path), "keystore JSON (mode 0600); enables the MAC check")(
      "timeout", po::value(&timeout_s), "seconds to wait for a card (default 60)")(
      "json", "print the report as JSON");
  cli.Example("cardbureau read --reader \"Virtual PCD 00 00\"");
  cli.Example("cardbureau read --image out/cards/JOB/card.mfd --keys keystore.json --json");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Exclusive("reader", "image", true)) return *rc;
  if (timeout_s <= 0) return cli.Usage("--timeout must be positive");
  std::optional<KeySet> keys;
  if (!keys_path.empty()) {
    auto k = LoadKeystore(keys_path);
    if (!k.ok()) return Fail(cli, k.status());
    keys.emplace(std::move(*k));
  }
  Result<std::unique_ptr<devices::CardChannel>> channel =
      Status(Code::kInternal, "no card channel");
  if (!image.empty()) {
    auto dump = devices::LoadCardImage(image);
    auto uid = dump.ok() ? devices::UidFromImage(*dump) : Result<Bytes>(dump.status());
    auto card = uid.ok() ? devices::MifareClassicEmulator::Create(*dump, *uid)
                         : Result<std::shared_ptr<devices::MifareClassicEmulator>>(uid.status());
    if (!card.ok()) {
      return Fail(cli, Status(card.status().code(), image + ": " + card.status().message()));
    }
    channel =
        std::unique_ptr<devices::CardChannel>(std::make_unique<devices::LoopbackChannel>(*card));
  } else {
    auto pcsc = WaitAndConnect(reader, timeout_s);
    if (!pcsc.ok()) return Fail(cli, pcsc.status());
    channel = std::unique_ptr<devices::CardChannel>(std::move(*pcsc));
  }
  auto report = ReadCard(**channel, keys ? &*keys : nullptr);
  if (!report.ok()) return Fail(cli, report.status());
  const bool good = report->mad_status.ok() && report->record_status.ok() &&
                    (!report->mac_status || report->mac_status->ok());
  const nlohmann::json j = CardReportToJson(*report);
  if (cli.Has("json")) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "UID      " << j["uid"].get<std::string>() << " ("
              << j["card_type"].get<std::string>() << ")\n"
              << "MAD      " << j["mad"].get<std::string>() << "\n";
    for (const auto& s : j["sectors"]) {
      std::cout << "sector " << s["sector"].get<int>() << "\tAID " << s["aid"].get<std::string>()
                << "\t" << s["role"].get<std::string>();
      if (s.contains("state")) std::cout << "\t" << s["state"].get<std::string>();
      std::cout << "\n";
    }
    std::cout << "record   " << j["record_status"].get<std::string>() << "\n";
    if (j.contains("record")) {
      for (const auto& [k, v] : j["record"].items()) std::cout << "  " << k << ": " << v << "\n";
    }
    std::cout << "MAC      " << j["mac"].get<std::string>() << "\n";
  }
  return good ? kExitOk : kExitRefused;
}

}  // namespace

std::vector<Command> Commands() {
  return {
      {"encode", "personalize the chip of a card on a PC/SC reader for a job", RunEncode},
      {"read", "QA read of a card: UID, MAD, student record and its MAC", RunRead},
      {"keys", "PKCS#11 keystore: import / generate the keys on a token, export the QR public key",
       RunKeys},
  };
}

}  // namespace cardbureau::encoder
