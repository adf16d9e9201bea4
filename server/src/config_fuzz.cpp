// libFuzzer target: the `serve` config file parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cardbureau/server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = cardbureau::server::ParseServeConfig(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (c.ok()) (void)cardbureau::server::CheckServeConfig(*c);
  return 0;
}
