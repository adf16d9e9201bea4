// libFuzzer target for the MAD parser and the sector plan built from it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "cardbureau/encoder/sector_plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cardbureau;
  using namespace cardbureau::encoder;
  if (size == 0) return 0;
  const auto card = (data[0] & 1) ? devices::CardSize::k4K : devices::CardSize::k1K;
  const ByteView rest(data + 1, size - 1);
  const ByteView mad1 = rest.first(std::min<size_t>(rest.size(), kMad1Bytes));
  const ByteView mad2 = rest.subspan(mad1.size());
  auto mad = ParseMad(card, mad1, mad2);
  if (!mad.ok()) return 0;
  auto plan = SectorPlan::FromMad(*mad, AidConfig{});
  if (!plan.ok()) return 0;
  // Invariants: block 0 and the MAD sectors are never writable.
  if (plan->CheckWritable(0, false).ok() || plan->CheckWritable(1, false).ok()) std::abort();
  for (int b : plan->record_blocks()) {
    if (!plan->CheckWritable(b, false).ok()) std::abort();
  }
  return 0;
}
