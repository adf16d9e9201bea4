// libFuzzer target: QR payload parsing/verification and the claims parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cardbureau/layout/qr.h"

namespace {
const char kPub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAQ8jLdVEudyFoc1Yy1Bs5fZGX/8Qdz6HW8AVUEdY6exs=\n"
    "-----END PUBLIC KEY-----\n";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto verifier = cardbureau::layout::QrVerifier::FromPem(kPub);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)verifier->Verify(text);
  (void)cardbureau::layout::ParseClaimsJson(text);
  return 0;
}
