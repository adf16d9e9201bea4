// Encoder benchmark.
//   bench_encoder                 # prints the APDU table, then the timings
// Figures are recorded in docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/diversify.h"
#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/personalizer.h"
#include "cardbureau/encoder/pkcs11_keystore.h"
#ifdef CARDBUREAU_BENCH_PCSCD
#include "cardbureau/devices/pcsc.h"
#include "cardbureau/devices/vpcd_card.h"
#include "cardbureau/testing/pcscd_guard.h"
#endif

namespace cardbureau::encoder {
namespace {

using devices::StockKind;

std::string ReadText(const std::string& rel) {
  std::ifstream in(std::string(CARDBUREAU_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Job BenchJob(bool four_k) {
  Job job = ParseJob(ReadText(four_k ? "fixtures/jobs/valid-senior-4k.json"
                                     : "fixtures/jobs/valid-junior-reissue.json"))
                .value();
  const ManualClock clock = ManualClock::AtBeijingDate({2026, 11, 25});
  ValidationOptions opts;
  opts.clock = &clock;
  if (!ValidateJob(job, opts).ok()) std::abort();
  return job;
}

const Personalizer& SharedPersonalizer() {
  static const Personalizer p(ParseKeystore(ReadText("fixtures/keys/keystore-test.json"),
                                            std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/keys")
                                  .value());
  return p;
}

EncodeParams Params() {
  EncodeParams p;
  p.issued_on = {2026, 11, 25};
  return p;
}

std::shared_ptr<devices::MifareClassicEmulator> Blank(StockKind kind, uint64_t seed, bool delay) {
  Bytes image = devices::MakeBlankStock(kind, seed);
  Bytes uid = devices::UidFromImage(image).value();
  devices::FaultPlan faults;
  faults.delay = delay;
  return std::make_shared<devices::MifareClassicEmulator>(std::move(image), std::move(uid), faults);
}

// Arg 0: 0 = 1K, 1 = 4K. Arg 1: emulated RF delays off/on.
// The pkcs11 keystore's cost per card: every key of one card (key A and
// key B of the 5 student sectors, the MAC key) and one QR signature, all
// computed by SoftHSM2 (the TEST-ONLY keys imported into a token made in a
// temp dir). Goal: <= 5 ms per card.
std::shared_ptr<const KeyBackend> SoftHsmBackend() {
  static std::shared_ptr<const KeyBackend> backend = [] {
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::temp_directory_path() / ("cb-bench-softhsm-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "tokens");
    std::ofstream(dir / "softhsm2.conf") << "directories.tokendir = " << (dir / "tokens").string()
                                         << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", (dir / "softhsm2.conf").c_str(), 1);
    std::ofstream(dir / "token.pin") << "1234\n";
    fs::permissions(dir / "token.pin", fs::perms::owner_read | fs::perms::owner_write);
    const std::string init =
        "softhsm2-util --init-token --free --label cardbureau --so-pin 0000 "
        "--pin 1234 >/dev/null 2>&1";
    if (std::system(init.c_str()) != 0) return std::shared_ptr<const KeyBackend>();
    Pkcs11Config c;
    c.module = "/usr/lib/softhsm/libsofthsm2.so";
    c.token = "cardbureau";
    c.pin_file = (dir / "token.pin").string();
    const KeySet keys = ParseKeystore(ReadText("fixtures/keys/keystore-test.json"),
                                      std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/keys")
                            .value();
    if (!ImportKeysToToken(c, keys, ReadText("fixtures/keys/qr-test-ed25519.pem")).ok())
      return std::shared_ptr<const KeyBackend>();
    auto b = OpenPkcs11Backend(c);
    return b.ok() ? *b : std::shared_ptr<const KeyBackend>();
  }();
  return backend;
}

void BM_Pkcs11KeysAndQrPerCard(benchmark::State& state) {
  auto backend = SoftHsmBackend();
  if (!backend) {
    state.SkipWithError("SoftHSM2 not available (apt-get install softhsm2)");
    return;
  }
  KeySet keys;
  keys.backend = backend;
  const std::string payload(180, 'A');  // "BJSC1:" + base64url claims
  uint8_t n = 0;
  for (auto _ : state) {
    const Bytes uid = {0x04, 0x12, 0x34, n++};
    for (uint8_t sector = 7; sector <= 11; ++sector) {
      auto a = DeriveKeyA(keys, uid, 0x5801, sector);
      auto b = DeriveKeyB(keys, uid, 0x5801, sector);
      if (!a.ok() || !b.ok()) state.SkipWithError("derive failed");
    }
    auto mac = DeriveMacKey(keys, uid, 0x5801);
    auto sig = backend->SignEd25519(AsBytes(payload));
    if (!mac.ok() || !sig.ok()) state.SkipWithError("pkcs11 failed");
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_Pkcs11KeysAndQrPerCard)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_EncodeLoopback(benchmark::State& state) {
  const bool four_k = state.range(0) == 1;
  const bool delay = state.range(1) == 1;
  const Job job = BenchJob(four_k);
  uint64_t seed = 1;
  int apdus = 0;
  for (auto _ : state) {
    state.PauseTiming();
    devices::LoopbackChannel ch(
        Blank(four_k ? StockKind::kBjt4k : StockKind::kBjt1k, seed++, delay));
    state.ResumeTiming();
    auto out = SharedPersonalizer().Encode(ch, job, Params());
    if (!out.ok()) {
      state.SkipWithError(out.status().ToString().c_str());
      return;
    }
    apdus = out->apdus;
  }
  state.counters["apdus"] = apdus;
  state.counters["min_apdus"] =
      MinimumApdusForBlankCard(four_k ? devices::CardSize::k4K : devices::CardSize::k1K, 5, 3);
}
BENCHMARK(BM_EncodeLoopback)
    ->ArgNames({"4k", "rf_delay"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Unit(benchmark::kMillisecond);

#ifdef CARDBUREAU_BENCH_PCSCD
void BM_EncodePcscVpcd(benchmark::State& state) {
  using namespace std::chrono_literals;
  if (!cardbureau::testing::PcscdGuard::CanStart()) {
    state.SkipWithError("needs root to start pcscd with the vpcd driver");
    return;
  }
  auto guard = cardbureau::testing::PcscdGuard::Start();
  if (!guard.ok()) {
    state.SkipWithError(guard.status().ToString().c_str());
    return;
  }
  const bool four_k = state.range(0) == 1;
  const bool delay = state.range(1) == 1;
  const Job job = BenchJob(four_k);
  uint64_t seed = 1000;
  int apdus = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto card = Blank(four_k ? StockKind::kBjt4k : StockKind::kBjt1k, seed++, delay);
    // Wait for the previous card to leave, then insert this one.
    devices::PcscReaders readers;
    for (int i = 0; i < 500; ++i) {
      auto list = readers.List();
      bool present = false;
      if (list.ok()) {
        for (const auto& r : *list) {
          if (r.name == cardbureau::testing::kVirtualReader0) present = r.card_present;
        }
      }
      if (!present) break;
      std::this_thread::sleep_for(10ms);
    }
    devices::VpcdCard vcard(card);
    if (!vcard.WaitUntilConnected(10s)) {
      state.SkipWithError("vpcd did not take the card");
      return;
    }
    std::unique_ptr<devices::PcscChannel> ch;
    for (int i = 0; i < 100 && !ch; ++i) {
      auto atr = readers.WaitForCard(cardbureau::testing::kVirtualReader0, 2s);
      if (atr.ok() && atr->has_value()) {
        auto c = readers.Connect(cardbureau::testing::kVirtualReader0);
        if (c.ok()) ch = std::move(*c);
      }
      if (!ch) std::this_thread::sleep_for(20ms);
    }
    if (!ch) {
      state.SkipWithError("could not connect to the virtual card");
      return;
    }
    state.ResumeTiming();
    auto out = SharedPersonalizer().Encode(*ch, job, Params());
    state.PauseTiming();
    if (!out.ok()) {
      state.SkipWithError(out.status().ToString().c_str());
      return;
    }
    apdus = out->apdus;
    ch.reset();
    vcard.Stop();
    state.ResumeTiming();
  }
  state.counters["apdus"] = apdus;
}
BENCHMARK(BM_EncodePcscVpcd)
    ->ArgNames({"4k", "rf_delay"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Iterations(8)
    ->Unit(benchmark::kMillisecond);
#endif

// The APDU table: the plan as executed against the order's minimum.
void PrintApduTable() {
  std::printf("APDUs per card (blank stock, 5 student sectors x 3 data blocks):\n");
  std::printf("%-34s %8s %8s\n", "case", "plan", "minimum");
  for (bool four_k : {false, true}) {
    const Job job = BenchJob(four_k);
    const auto kind = four_k ? StockKind::kBjt4k : StockKind::kBjt1k;
    const auto size = four_k ? devices::CardSize::k4K : devices::CardSize::k1K;
    const int min = MinimumApdusForBlankCard(size, 5, 3);
    auto card = Blank(kind, 7, false);
    devices::LoopbackChannel ch(card);
    auto blank = SharedPersonalizer().Encode(ch, job, Params());
    auto again = SharedPersonalizer().Encode(ch, job, Params());
    // A card pulled half way (after APDU 40) and encoded again.
    auto torn_card = Blank(kind, 8, false);
    devices::FaultPlan pull;
    pull.pull_after_apdu = 40;
    torn_card->SetFaults(pull);
    devices::LoopbackChannel torn_ch(torn_card);
    (void)SharedPersonalizer().Encode(torn_ch, job, Params());
    torn_card->SetFaults({});
    torn_card->Insert();
    auto resumed = SharedPersonalizer().Encode(torn_ch, job, Params());
    if (!blank.ok() || !again.ok() || !resumed.ok()) std::abort();
    const char* k = four_k ? "4K" : "1K";
    std::printf("%-34s %8d %8d\n", (std::string(k) + " blank card").c_str(), blank->apdus, min);
    std::printf("%-34s %8d %8s\n", (std::string(k) + " resume after pull at APDU 40").c_str(),
                resumed->apdus, "-");
    std::printf("%-34s %8d %8s\n", (std::string(k) + " already done (idempotent retry)").c_str(),
                again->apdus, "-");
  }
  std::printf("\n");
}

}  // namespace
}  // namespace cardbureau::encoder

int main(int argc, char** argv) {
  cardbureau::encoder::PrintApduTable();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
