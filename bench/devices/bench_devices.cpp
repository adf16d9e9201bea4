// bench_devices: how fast the emulated card answers (so it never dominates
// an encoder benchmark) and what one APDU costs through pcscd + vpcd.
#include <benchmark/benchmark.h>

#include <chrono>

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#if CARDBUREAU_BENCH_PCSCD
#include "cardbureau/devices/pcsc.h"
#include "cardbureau/devices/vpcd_card.h"
#include "cardbureau/testing/pcscd_guard.h"
#endif

namespace cardbureau::devices {
namespace {

std::shared_ptr<MifareClassicEmulator> Card(StockKind kind) {
  const Bytes image = MakeBlankStock(kind, 1);
  return std::make_shared<MifareClassicEmulator>(image, *UidFromImage(image));
}

void BM_EmulatorReadBlock(benchmark::State& state) {
  auto card = Card(StockKind::kBjt1k);
  LoopbackChannel ch(card);
  (void)ch.Transmit(Apdu::LoadKey(0, Bytes(6, 0xFF)));
  (void)ch.Transmit(Apdu::Authenticate(28, KeyType::kA, 0));
  const Bytes read = Apdu::ReadBlock(29);
  for (auto _ : state) benchmark::DoNotOptimize(ch.Transmit(read));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmulatorReadBlock);

void BM_EmulatorAuthenticate(benchmark::State& state) {
  auto card = Card(StockKind::kBjt1k);
  LoopbackChannel ch(card);
  (void)ch.Transmit(Apdu::LoadKey(0, Bytes(6, 0xFF)));
  const Bytes auth = Apdu::Authenticate(28, KeyType::kA, 0);
  for (auto _ : state) benchmark::DoNotOptimize(ch.Transmit(auth));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmulatorAuthenticate);

// Every block of the 5 student sectors of a 1K stock card: 5 auths + 20
// reads + 15 writes, the shape of one personalisation.
void BM_LoopbackStudentSectorsRewrite(benchmark::State& state) {
  auto card = Card(StockKind::kBjt1k);
  LoopbackChannel ch(card);
  (void)ch.Transmit(Apdu::LoadKey(0, Bytes(6, 0xFF)));
  const Bytes data(16, 0x5A);
  for (auto _ : state) {
    for (uint8_t sector = 7; sector <= 11; ++sector) {
      const uint8_t first = static_cast<uint8_t>(sector * 4);
      (void)ch.Transmit(Apdu::Authenticate(first, KeyType::kA, 0));
      for (uint8_t b = first; b < first + 3; ++b) {
        (void)ch.Transmit(Apdu::UpdateBlock(b, data));
        (void)ch.Transmit(Apdu::ReadBlock(b));
      }
      (void)ch.Transmit(Apdu::ReadBlock(static_cast<uint8_t>(first + 3)));
    }
  }
  state.SetItemsProcessed(state.iterations() * 40);  // APDUs
}
BENCHMARK(BM_LoopbackStudentSectorsRewrite);

#if CARDBUREAU_BENCH_PCSCD
// One GET UID through SCardTransmit -> pcscd -> vpcd -> VpcdCard -> emulator
// and back (delays off).
void BM_PcscVpcdGetUid(benchmark::State& state) {
  if (!cardbureau::testing::PcscdGuard::CanStart()) {
    state.SkipWithError("needs root to start pcscd");
    return;
  }
  auto guard = cardbureau::testing::PcscdGuard::Start();
  if (!guard.ok()) {
    state.SkipWithError(guard.status().ToString().c_str());
    return;
  }
  auto card = Card(StockKind::kBjt1k);
  VpcdCard vcard(card);
  PcscReaders readers;
  auto ch = readers.WaitAndConnect(cardbureau::testing::kVirtualReader0, std::chrono::seconds(10));
  if (!ch.ok() || !ch->has_value()) {
    state.SkipWithError("no card in the virtual reader");
    return;
  }
  const Bytes get_uid = Apdu::GetUid();
  for (auto _ : state) {
    auto r = (**ch)->Transmit(get_uid);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  ch->reset();
}
BENCHMARK(BM_PcscVpcdGetUid)->Unit(benchmark::kMicrosecond)->MinTime(2.0);
#endif

}  // namespace
}  // namespace cardbureau::devices

BENCHMARK_MAIN();
