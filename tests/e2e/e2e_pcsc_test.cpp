// End to end over the real pcscd + vpcd: the reference centre and the
// bureau run as processes (`cardbureau centre`, `cardbureau serve
// --production line`); two stations with simulated printers insert virtual
// cards through vpcd and read them through pcscd ("Virtual PCD 00 00" and
// "00 01"). 56 jobs (44 valid, 12 invalid, one cancelled), with a card
// pulled mid-encode, a print jam and a failed authentication injected.
// Every job must end with exactly one terminal report, every completed card
// must pass QA, every rejected card must be accounted for.
//
// It runs once per keystore backend (ctest e2e_pcsc_test: "file";
// e2e_pcsc_pkcs11_test: "pkcs11", the TEST-ONLY keys put on a SoftHSM2 token
// with `cardbureau keys import`, every produced card checked by the real
// `cardbureau verify` with that keystore).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/devices/vpcd_card.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/layout/qr.h"
#include "cardbureau/line/keystore_qr.h"
#include "cardbureau/line/qa.h"
#include "cardbureau/printers/file_util.h"
#include "cardbureau/testing/files.h"
#include "cardbureau/testing/pcscd_guard.h"
#include "cardbureau/testing/process.h"
#include "cardbureau/testing/softhsm.h"

namespace cardbureau {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kRoot = CARDBUREAU_SOURCE_DIR;
const fs::path kBin = fs::path(CARDBUREAU_BINARY_DIR) / "bin" / "cardbureau";

pid_t Spawn(const std::vector<std::string>& args, const fs::path& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    (void)std::freopen(log.c_str(), "a", stdout);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for `pid` up to `timeout`; returns the exit status or -1 on time-out.
int WaitFor(pid_t pid, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

using cardbureau::testing::Slurp;

int FreePort() {
  // A port in the dynamic range derived from the pid; the centre binds it.
  return 20000 + (::getpid() % 20000);
}

// The keystore backend of the run: "file" or "pkcs11".
class EndToEndPcscTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EndToEndPcscTest, FiftySixJobsTwoStationsOverPcscdAndVpcd) {
  CB_START_PCSCD_OR_SKIP(pcscd);
  const bool pkcs11 = GetParam() == "pkcs11";
  const fs::path dir =
      fs::temp_directory_path() / ("cb-e2e-" + GetParam() + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  cardbureau::testing::CopyTestKeys(kRoot, dir / "data" / "keys");
  // The keystore the bureau and QA use (relative to the data dir).
  std::string keystore = "keys/keystore-test.json";
  std::optional<cardbureau::testing::SoftHsm> hsm;
  if (pkcs11) {
    // Provisioned as docs/keys.md says: the test keys imported onto a token
    // (SOFTHSM2_CONF, set by SoftHsm, is inherited by every child).
    hsm.emplace(dir / "hsm");
    ASSERT_TRUE(hsm->ok());
    keystore = "keys/keystore-pkcs11.json";
    const auto imported = cardbureau::testing::RunCardbureau(
        {"keys", "import", "--keys", (dir / "data/keys/keystore-test.json").string(), "--module",
         cardbureau::testing::kSoftHsmModule, "--token", cardbureau::testing::kSoftHsmToken,
         "--pin-file", hsm->pin_file().string(), "--out", (dir / "data" / keystore).string()});
    ASSERT_EQ(imported.code, 0) << imported.err;
  }
  const fs::path keystore_path = dir / "data" / keystore;
  ASSERT_EQ(std::system(("python3 " + (kRoot / "scripts/make_demo_jobs.py").string() + " " +
                         (dir / "jobs.jsonl").string() + " >/dev/null")
                            .c_str()),
            0);
  json line = {{"keys", keystore},
               {"max_tries", 3},
               {"card_wait_ms", 8000},
               {"batches_dir", (dir / "batches").string()},
               {"stations",
                {{{"name", "vpcd-0"},
                  {"printer", "sim"},
                  {"reader", "pcsc:Virtual PCD 00 00"},
                  {"vpcd_port", 35963},
                  {"hopper", (dir / "hopper/vpcd-0").string()},
                  {"seed", 100},
                  {"faults", {{"jam_print", {5}}, {"cards", {{"3", "pull-after=12"}}}}}},
                 {{"name", "vpcd-1"},
                  {"printer", "sim"},
                  {"reader", "pcsc:Virtual PCD 00 01"},
                  {"vpcd_port", 35964},
                  {"hopper", (dir / "hopper/vpcd-1").string()},
                  {"seed", 700},
                  {"faults", {{"cards", {{"2", "fail-auth=1,dead-sector=10"}}}}}}}}};
  std::ofstream(dir / "data/line.json") << line.dump(2);
  // Card stock (issue 21): lots matching the sim printers' next cards,
  // imported before production; the line checks every card against them.
  for (const char* type : {"1k", "4k"}) {
    const fs::path lot = dir / (std::string("LOT-E2E-") + type + ".csv");
    pid_t sim = Spawn({kBin.string(), "stock", "sim-lot", "--data", (dir / "data").string(),
                       "--type", type, "--count", "60", "--out", lot.string()},
                      dir / "stock.log");
    ASSERT_EQ(WaitFor(sim, std::chrono::seconds(60)), 0) << Slurp(dir / "stock.log");
    pid_t import =
        Spawn({kBin.string(), "stock", "import", "--data", (dir / "data").string(), lot.string()},
              dir / "stock.log");
    ASSERT_EQ(WaitFor(import, std::chrono::seconds(60)), 0) << Slurp(dir / "stock.log");
  }

  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  pid_t centre =
      Spawn({kBin.string(), "centre", "--bind", endpoint, "--jobs", (dir / "jobs.jsonl").string(),
             "--photos", (kRoot / "fixtures/photos").string(), "--reports",
             (dir / "reports.jsonl").string(), "--until-done", "--cancel", "DEMO-0044@0"},
            dir / "centre.log");
  pid_t bureau = Spawn({kBin.string(), "serve", "--centre", endpoint, "--data",
                        (dir / "data").string(), "--production", "line"},
                       dir / "bureau.log");
  int centre_rc = WaitFor(centre, std::chrono::seconds(600));
  ::kill(bureau, SIGTERM);
  int bureau_rc = WaitFor(bureau, std::chrono::seconds(60));
  if (centre_rc != 0) {
    ::kill(centre, SIGKILL);
    ::waitpid(centre, nullptr, 0);
  }
  if (bureau_rc < 0) {
    ::kill(bureau, SIGKILL);
    ::waitpid(bureau, nullptr, 0);
  }
  ASSERT_EQ(centre_rc, 0) << "centre log:\n"
                          << Slurp(dir / "centre.log") << "\nbureau log:\n"
                          << Slurp(dir / "bureau.log");
  EXPECT_EQ(bureau_rc, 0) << Slurp(dir / "bureau.log");

  // Exactly one terminal report per job.
  std::map<std::string, json> reports;
  std::istringstream lines(Slurp(dir / "reports.jsonl"));
  std::string l;
  while (std::getline(lines, l)) {
    if (l.empty()) continue;
    json r = json::parse(l);
    EXPECT_EQ(reports.count(r["job_id"]), 0u) << "second report for " << r["job_id"];
    reports[r["job_id"]] = r;
  }
  ASSERT_EQ(reports.size(), 56u);
  int completed = 0, rejected = 0, cancelled = 0;
  auto keys = encoder::LoadKeystore(keystore_path);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->backend != nullptr, pkcs11);
  auto verifier = line::QrVerifierFor(*keys);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  int verified_by_cli = 0;
  struct CardToVerify {
    std::string id;
    fs::path mfd, front;
    std::string uid;
  };
  std::vector<CardToVerify> to_verify;
  for (const auto& [id, r] : reports) {
    const std::string type = r["type"];
    if (type == "rejected") {
      ++rejected;
      EXPECT_EQ(id.rfind("DEMO-BAD-", 0), 0u) << id << " rejected: " << r.dump();
      continue;
    }
    if (type == "cancelled") {
      ++cancelled;
      EXPECT_EQ(id, "DEMO-0044");
      continue;
    }
    ASSERT_EQ(type, "completed") << r.dump();
    ++completed;
    EXPECT_EQ(r["qa"]["chip"], "ok");
    EXPECT_EQ(r["qa"]["face"], "ok");
    // The card from the output hopper passes QA (chip MAC, signed QR, UID).
    auto prod = json::parse(Slurp(dir / "data/cards" / id / "production.json"));
    fs::path mfd = dir / "hopper" / prod["station"].get<std::string>() / "output" /
                   prod["card_id"].get<std::string>() / "card.mfd";
    auto image = printers::ReadFileLimited(mfd, 4096);
    ASSERT_TRUE(image.ok()) << mfd;
    auto uid = devices::UidFromImage(*image);
    ASSERT_TRUE(uid.ok());
    EXPECT_EQ(ToHex(*uid), r["card"]["uid"]);
    auto card = devices::MifareClassicEmulator::Create(*image, *uid);
    ASSERT_TRUE(card.ok());
    devices::LoopbackChannel channel(*card);
    cv::Mat front = cv::imread((dir / "data/cards" / id / "front.png").string(), cv::IMREAD_COLOR);
    auto qa = line::VerifyCard(channel, front, *keys, *verifier);
    ASSERT_TRUE(qa.ok()) << qa.status();
    EXPECT_TRUE(qa->ok()) << id << " chip " << qa->chip << " face " << qa->face;
    if (pkcs11) to_verify.push_back({id, mfd, dir / "data/cards" / id / "front.png", ToHex(*uid)});
  }
  if (pkcs11) {
    // QA staff's check with the token's keystore: the real executable on
    // every produced card, a few at a time. SoftHSM2's file store is not
    // safe for processes opening one token at once (a reader can find the
    // token "not present" while another process writes it, SoftHSMv2 issue
    // 757), so each of the parallel processes gets its own copy of the
    // token (the same keys, the same PIN) through SOFTHSM2_CONF.
    constexpr size_t kParallel = 4;
    std::vector<std::string> token_copies;
    for (size_t w = 0; w < kParallel; ++w) {
      const fs::path copy = dir / "hsm" / ("tokens-" + std::to_string(w));
      fs::copy(hsm->token_dir(), copy, fs::copy_options::recursive);
      const fs::path conf = dir / "hsm" / ("softhsm2-" + std::to_string(w) + ".conf");
      std::ofstream(conf) << "directories.tokendir = " << copy.string()
                          << "\nobjectstore.backend = file\nlog.level = ERROR\n"
                             "slots.removable = false\n";
      token_copies.push_back("SOFTHSM2_CONF=" + conf.string());
    }
    for (size_t i = 0; i < to_verify.size(); i += kParallel) {
      std::vector<std::unique_ptr<cardbureau::testing::ChildProcess>> running;
      const size_t end = std::min(i + kParallel, to_verify.size());
      for (size_t k = i; k < end; ++k) {
        const CardToVerify& c = to_verify[k];
        cardbureau::testing::ChildOptions opt;
        opt.stdout_file = dir / ("verify-" + c.id + ".out");
        opt.stderr_file = dir / ("verify-" + c.id + ".err");
        opt.extra_env = {token_copies[k - i]};
        running.push_back(std::make_unique<cardbureau::testing::ChildProcess>(
            kBin.string(),
            std::vector<std::string>{"verify", "--image", c.mfd.string(), "--face",
                                     c.front.string(), "--keys", keystore_path.string(), "--json"},
            opt));
      }
      for (size_t k = i; k < end; ++k) {
        const CardToVerify& c = to_verify[k];
        const int code = running[k - i]->WaitFor(std::chrono::seconds(60)).value_or(-1);
        const std::string out = Slurp(dir / ("verify-" + c.id + ".out"));
        EXPECT_EQ(code, 0) << c.id << ": " << out << Slurp(dir / ("verify-" + c.id + ".err"));
        EXPECT_NE(out.find("\"ok\":true"), std::string::npos) << c.id << ": " << out;
        EXPECT_NE(out.find(c.uid), std::string::npos) << c.id << ": " << out;
        verified_by_cli += code == 0;
      }
    }
  }
  EXPECT_EQ(verified_by_cli, pkcs11 ? 43 : 0);
  EXPECT_EQ(completed, 43);
  EXPECT_EQ(rejected, 12);
  EXPECT_EQ(cancelled, 1);

  // QA staff's `cardbureau verify --reader`: a produced card goes back onto
  // a PC/SC reader (its chip image on the virtual card over vpcd + pcscd)
  // and is checked against its face; the wrong face fails.
  {
    std::vector<std::string> done;
    for (const auto& [id, r] : reports) {
      if (r["type"] == "completed") done.push_back(id);
    }
    ASSERT_GE(done.size(), 2u);
    auto prod = json::parse(Slurp(dir / "data/cards" / done[0] / "production.json"));
    auto image =
        printers::ReadFileLimited(dir / "hopper" / prod["station"].get<std::string>() / "output" /
                                      prod["card_id"].get<std::string>() / "card.mfd",
                                  4096);
    ASSERT_TRUE(image.ok());
    auto uid = devices::UidFromImage(*image);
    ASSERT_TRUE(uid.ok());
    auto card = devices::MifareClassicEmulator::Create(*image, *uid);
    ASSERT_TRUE(card.ok());
    devices::VpcdCard on_reader(*card);  // port 35963 = "Virtual PCD 00 00"
    ASSERT_TRUE(on_reader.WaitUntilConnected(std::chrono::seconds(10)));
    auto verify = [&](const std::string& face_job, const std::string& log) {
      pid_t p = Spawn({kBin.string(), "verify", "--reader", "Virtual PCD 00 00", "--face",
                       (dir / "data/cards" / face_job / "front.png").string(), "--keys",
                       keystore_path.string(), "--json"},
                      dir / log);
      int rc = WaitFor(p, std::chrono::seconds(60));
      if (rc < 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
      return rc;
    };
    EXPECT_EQ(verify(done[0], "verify-ok.log"), 0) << Slurp(dir / "verify-ok.log");
    const std::string ok_out = Slurp(dir / "verify-ok.log");
    EXPECT_NE(ok_out.find("\"ok\":true"), std::string::npos) << ok_out;
    EXPECT_NE(ok_out.find(done[0]), std::string::npos) << ok_out;
    EXPECT_NE(ok_out.find(ToHex(*uid)), std::string::npos) << ok_out;
    // Another card's face: its QR names another UID and other claims.
    EXPECT_EQ(verify(done[1], "verify-wrong-face.log"), 1) << Slurp(dir / "verify-wrong-face.log");
    EXPECT_NE(Slurp(dir / "verify-wrong-face.log").find("\"ok\":false"), std::string::npos);
    // The card was only read: its memory is unchanged.
    EXPECT_EQ((*card)->Image(), *image);
  }

  // Every rejected card is accounted for: reject hoppers = reconciliations.
  int rejected_cards = 0, reconciled = 0, used = 0, produced = 0;
  for (const auto& h : {"vpcd-0", "vpcd-1"}) {
    fs::path rej = dir / "hopper" / h / "reject";
    if (!fs::exists(rej)) continue;
    for (const auto& e : fs::directory_iterator(rej))
      rejected_cards += fs::exists(e.path() / "card.mfd");
  }
  for (const auto& e : fs::directory_iterator(dir / "batches")) {
    auto rec = json::parse(Slurp(e.path() / "reconciliation.json"));
    EXPECT_TRUE(rec["balanced"].get<bool>()) << rec.dump();
    reconciled += rec["cards_rejected"].get<int>();
    used += rec["cards_in"].get<int>();
    produced += rec["produced"].get<int>();
  }
  EXPECT_EQ(produced, 43);
  EXPECT_EQ(rejected_cards, reconciled);
  EXPECT_GE(reconciled, 2) << "the print jam and the failed authentication each cost a card";
  EXPECT_EQ(used, produced + reconciled);

  // Every card of the stock lots is accounted for: received = produced +
  // spoiled + remaining, one produced card per produced job (the line's
  // stock check passed for each), and the spoiled cards are the reject
  // hoppers' cards.
  pid_t report =
      Spawn({kBin.string(), "stock", "report", "--data", (dir / "data").string(), "--json"},
            dir / "stock-report.json");
  ASSERT_EQ(WaitFor(report, std::chrono::seconds(60)), 0) << Slurp(dir / "stock-report.json");
  auto stock = json::parse(Slurp(dir / "stock-report.json"));
  ASSERT_EQ(stock["lots"].size(), 2u) << stock.dump();
  int stock_produced = 0, stock_spoiled = 0;
  for (const auto& lot : stock["lots"]) {
    EXPECT_TRUE(lot["balanced"].get<bool>()) << lot.dump();
    EXPECT_EQ(lot["received"].get<int>(), 60);
    stock_produced += lot["produced"].get<int>();
    stock_spoiled += lot["spoiled"].get<int>();
  }
  EXPECT_EQ(stock_produced, produced);
  EXPECT_EQ(stock_spoiled, rejected_cards);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Keystore, EndToEndPcscTest, ::testing::Values("file", "pkcs11"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace cardbureau
