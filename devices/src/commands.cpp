// `cardbureau readers` and `cardbureau vcard`.
#include "cardbureau/devices/commands.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/stop.h"
#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/card_image.h"
#include "cardbureau/devices/fault_plan.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/devices/pcsc.h"
#include "cardbureau/devices/vpcd_card.h"

namespace cardbureau::devices {
namespace {

namespace po = boost::program_options;
using namespace std::chrono_literals;

using cli::kExitOk;

std::string DescribeAtr(ByteView atr) {
  auto size = MifareClassicSizeFromAtr(atr);
  std::string kind = size ? (*size == CardSize::k1K ? "MIFARE Classic 1K" : "MIFARE Classic 4K")
                          : (ParsePart3Atr(atr) ? "PC/SC Part 3 storage card" : "other card");
  return "ATR " + ToHex(atr) + " (" + kind + ")";
}

// Connects shared to read the UID; "" when the card does not answer.
std::string ReadUid(const std::string& reader) {
  auto channel = PcscChannel::Open(reader, ShareMode::kShared);
  if (!channel.ok()) return "";
  auto uid = TransmitChecked(**channel, Apdu::GetUid());
  return uid.ok() ? ToHex(*uid) : "";
}

int RunReaders(int argc, char** argv) {
  cli::Cli cli("readers", "[--watch] [--timeout SECONDS]",
               "Lists the PC/SC readers of the local pcscd and the card in each (ATR,\n"
               "card type, UID). With --watch, then prints reader and card events\n"
               "(reader-added, reader-removed, card-inserted, card-removed, pcscd-lost,\n"
               "pcscd-restored) until SIGINT/SIGTERM or the time-out; a pcscd restart is\n"
               "survived. Exit 0 ok, 2 usage error, 3 pcscd not reachable.");
  double timeout_s = 0;
  cli.Options()("watch,w", "print events as they happen")(
      "timeout", po::value(&timeout_s), "with --watch: stop after SECONDS (default: never)");
  cli.Example("cardbureau readers");
  cli.Example("cardbureau readers --watch --timeout 60");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (timeout_s < 0) return cli.Usage("--timeout must not be negative");

  PcscReaders readers;
  auto list = readers.List();
  if (!list.ok()) return cli.Runtime(list.status());
  if (list->empty()) std::cout << "no readers\n";
  for (const auto& r : *list) {
    std::cout << r.name << ": ";
    if (!r.card_present) {
      std::cout << "no card\n";
      continue;
    }
    std::cout << DescribeAtr(r.atr);
    if (r.in_use) {
      std::cout << " in use\n";
      continue;
    }
    const std::string uid = ReadUid(r.name);
    std::cout << (uid.empty() ? "" : " UID " + uid) << "\n";
  }
  if (!cli.Has("watch")) return kExitOk;

  InstallStopHandlers();
  std::cout.flush();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  // WaitForEvent's first call takes the baseline the list above showed.
  while (!StopRequested()) {
    if (timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
    auto event = readers.WaitForEvent(250ms);
    if (!event.ok()) {
      if (event.status().code() == Code::kReaderUnavailable) continue;  // keep waiting
      return cli.Runtime(event.status());
    }
    if (!*event) continue;
    const ReaderEvent& e = **event;
    std::cout << ReaderEventKindName(e.kind);
    if (!e.reader.empty()) std::cout << " " << e.reader;
    if (e.kind == ReaderEventKind::kCardInserted) {
      std::cout << " " << DescribeAtr(e.atr);
      const std::string uid = ReadUid(e.reader);
      if (!uid.empty()) std::cout << " UID " << uid;
    }
    std::cout << std::endl;
  }
  return kExitOk;
}

int RunVcard(int argc, char** argv) {
  cli::Cli cli("vcard",
               "--image FILE [--port 35963] [--host 127.0.0.1]\n"
               "                        [--stock bjt-1k|bjt-4k] [--seed N] [--uid HEX]\n"
               "                        [--faults SPEC]",
               "Emulates a MIFARE Classic card on a vpcd virtual reader (pcscd with the\n"
               "vsmartcard-vpcd driver: port 35963 is \"Virtual PCD 00 00\", 35964 is\n"
               "\"Virtual PCD 00 01\"). Connecting is inserting the card; the card stays in\n"
               "the reader (reconnecting after a pcscd restart) until SIGINT/SIGTERM.\n\n"
               "The memory is FILE, a raw 1024/4096-byte .mfd dump; when FILE does not\n"
               "exist it is created as blank card stock (--stock, default bjt-1k). FILE is\n"
               "saved after every write and on exit. The UID is --uid (4 or 7 bytes hex)\n"
               "or the one in block 0.\n\n"
               "Fault SPEC: comma-separated key=value, each key at most once:\n"
               "  pull-after=N    answer the N-th APDU, then leave the field (removed)\n"
               "  fail-auth=N     the N-th authentication fails (63 00) despite the key\n"
               "  drop-write=N    the N-th write is acknowledged (90 00) but not stored\n"
               "  dead-sector=S   every authentication to sector S fails\n"
               "  delay=on|off    NXP datasheet timings (auth 2 ms, read 2.5, write 5.5)\n"
               "  e.g. --faults pull-after=12,fail-auth=3,drop-write=5,dead-sector=9,delay=on\n\n"
               "Exit 0 on a clean stop, 1 refused input (bad image/spec/UID; the error\n"
               "code is printed), 2 usage error, 3 runtime failure.");
  std::string image_path, stock_name = "bjt-1k", uid_hex, faults_spec, host = "127.0.0.1";
  int port = 35963;
  uint64_t seed = 0;
  cli.Options()("image", po::value(&image_path), "card memory dump (.mfd), created if absent")(
      "port", po::value(&port)->default_value(35963), "vpcd port")(
      "host", po::value(&host)->default_value("127.0.0.1"), "vpcd host")(
      "stock", po::value(&stock_name), "blank stock for a new image: bjt-1k (default) or bjt-4k")(
      "seed", po::value(&seed), "random seed for a new image (default: random)")(
      "uid", po::value(&uid_hex), "UID, 4 or 7 bytes hex")("faults", po::value(&faults_spec),
                                                           "fault injection SPEC (see above)");
  cli.Example("cardbureau vcard --image /tmp/card.mfd --stock bjt-4k");
  cli.Example("cardbureau vcard --image /tmp/card.mfd --port 35964 --faults pull-after=12");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"image"})) return *rc;
  if (port <= 0 || port > 65535) return cli.Usage("--port must be 1..65535");
  auto refuse = [&cli](const Status& s) { return cli.Refuse(s); };
  if (Status s = cli::CheckOutputFile(image_path, "image"); !s.ok()) return cli.Fail(s);

  auto faults = ParseFaultPlan(faults_spec);
  if (!faults.ok()) return refuse(faults.status());
  auto stock = ParseStockKind(stock_name);
  if (!stock.ok()) return refuse(stock.status());
  std::optional<Bytes> uid;
  if (!uid_hex.empty()) {
    auto parsed = FromHex(uid_hex);
    if (!parsed.ok() || (parsed->size() != 4 && parsed->size() != 7)) {
      return refuse(Status(Code::kInvalidField, "UID must be 4 or 7 bytes of hex", "uid"));
    }
    uid = *parsed;
  }

  auto image = LoadCardImage(image_path);
  if (!image.ok() && image.status().code() == Code::kNotFound) {
    if (!cli.Has("seed")) seed = std::random_device{}() | uint64_t{std::random_device{}()} << 32;
    image = uid ? MakeBlankStock(*stock, seed, *uid) : MakeBlankStock(*stock, seed);
    if (Status s = SaveCardImage(image_path, *image); !s.ok()) return cli.Runtime(s);
    std::cout << "created " << image_path << " from " << StockKindName(*stock) << " stock\n";
  } else if (!image.ok()) {
    return cli.Fail(image.status());
  }
  if (!uid) {
    auto from_image = UidFromImage(*image);
    if (!from_image.ok()) return refuse(from_image.status());
    uid = *from_image;
  }

  auto card = MifareClassicEmulator::Create(*image, *uid, *faults);
  if (!card.ok()) return refuse(card.status());
  std::atomic<bool> save_failed{false};
  (*card)->SetWriteObserver([&image_path, &save_failed](const Bytes& now) {
    if (!SaveCardImage(image_path, now).ok()) save_failed = true;
  });

  InstallStopHandlers();
  VpcdOptions vo;
  vo.host = host;
  vo.port = static_cast<uint16_t>(port);
  VpcdCard vcard(*card, vo);
  std::cout << "cardbureau vcard: UID " << ToHex(*uid) << " "
            << ((*card)->size() == CardSize::k1K ? "1K" : "4K") << " on " << host << ":" << port
            << (faults_spec.empty() ? "" : " faults " + FaultPlanToString(*faults)) << std::endl;
  bool was_connected = false;
  while (!StopRequested()) {
    std::this_thread::sleep_for(100ms);
    if (vcard.connected() != was_connected) {
      was_connected = vcard.connected();
      std::cout << (was_connected ? "inserted (connected to vpcd)" : "removed (disconnected)")
                << std::endl;
    }
  }
  vcard.Stop();
  if (Status s = SaveCardImage(image_path, (*card)->Image()); !s.ok() || save_failed) {
    cli.Note("saving " + image_path + " failed");
    return cli.Runtime(s.ok() ? Status(Code::kIoError, "cannot save " + image_path, "image") : s);
  }
  std::cout << "saved " << image_path << "\n";
  return kExitOk;
}

}  // namespace

std::vector<Command> Commands() {
  return {
      {"readers", "list PC/SC readers and cards; --watch for events", &RunReaders},
      {"vcard", "emulate a MIFARE Classic card on a vpcd virtual reader", &RunVcard},
  };
}

}  // namespace cardbureau::devices
