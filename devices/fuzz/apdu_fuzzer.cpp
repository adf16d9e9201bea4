// libFuzzer target: the emulated card's APDU parser (MifareClassicEmulator::
// Process) on arbitrary APDU sequences. Input: byte 0 picks 1K/4K stock and
// whether the transport/MAD keys are preloaded; then records of
// <length byte><APDU bytes>. Invariants: every answer carries a status word,
// the image keeps its size, block 0 never changes, and sectors whose keys
// are unknown (transit sectors 1-6) are never modified.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/mifare_emulator.h"

using cardbureau::Bytes;
using cardbureau::ByteView;
using namespace cardbureau::devices;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const StockKind kind = (data[0] & 1) ? StockKind::kBjt4k : StockKind::kBjt1k;
  const Bytes image = MakeBlankStock(kind, 1);
  MifareClassicEmulator card(image, *UidFromImage(image));
  if (data[0] & 2) {
    (void)card.Process(Apdu::LoadKey(0, Bytes(6, 0xFF)));
    (void)card.Process(Apdu::LoadKey(1, Bytes(kMadKeyA.begin(), kMadKeyA.end())));
  }
  size_t at = 1;
  while (at < size) {
    const size_t len = data[at++];
    const size_t take = std::min(len, size - at);
    auto response = card.Process(ByteView(data + at, take));
    at += take;
    if (!response.ok() || response->size() < 2) std::abort();
  }
  const Bytes after = card.Image();
  if (after.size() != image.size()) std::abort();
  if (!std::equal(after.begin(), after.begin() + 16, image.begin())) std::abort();
  const size_t transit_begin = 4 * 16, transit_end = 7 * 4 * 16;
  if (!std::equal(after.begin() + transit_begin, after.begin() + transit_end,
                  image.begin() + transit_begin)) {
    std::abort();
  }
  return 0;
}
