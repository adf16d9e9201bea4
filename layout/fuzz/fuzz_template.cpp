// libFuzzer target: the pure template parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cardbureau/layout/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = cardbureau::layout::ParseTemplate(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (t.ok()) (void)t->QrElement();
  return 0;
}
