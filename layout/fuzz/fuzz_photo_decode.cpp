// libFuzzer target: photo header parsing and decoding (JPEG/PNG limits).
#include <cstddef>
#include <cstdint>

#include "cardbureau/layout/photo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cardbureau::layout::PhotoConfig config;
  config.max_width = 1024;  // keeps each run fast
  config.max_height = 1024;
  auto img = cardbureau::layout::DecodePhoto(cardbureau::ByteView(data, size), config);
  if (img.ok() && (img->cols > 1024 || img->rows > 1024)) __builtin_trap();
  return 0;
}
