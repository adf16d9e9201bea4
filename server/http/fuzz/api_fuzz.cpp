// Fuzzes the HTTP API's pure side: request target parsing, routing, JSON
// bodies, the audit-line parser. Input: "<METHOD> <target>\n<body>".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cardbureau/http/api.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/fake_backend.h"

using namespace cardbureau;
using namespace cardbureau::http;

namespace {

struct World {
  World() {
    tokens = *TokenTable::Parse(R"({"tokens":[{"name":"op","role":"operator","sha256":")" +
                                HashToken("op") + R"("},{"name":"qa","role":"qa","sha256":")" +
                                HashToken("qa") + R"("}]})");
    backend.AddStation("s1");
    backend.AddBatch("B", "11010810", "School", 3);
    backend.RunUntilIdle();
  }
  SystemClock clock;
  FakeBackend backend{clock};
  TokenTable tokens;
  Api api{backend, tokens, nullptr, ApiOptions{}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)ParseAuditLine(in);
  (void)VerifyAuditText(in);
  HttpRequest req;
  const size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  if (nl != std::string_view::npos) req.body = std::string(in.substr(nl + 1));
  const size_t sp = line.find(' ');
  req.method = std::string(line.substr(0, sp));
  req.target = sp == std::string_view::npos ? "/" : std::string(line.substr(sp + 1));
  req.authorization = (size % 2) ? "Bearer op" : "Bearer qa";
  HttpResponse r = world.api.Handle(req);
  if (r.status < 100 || r.status > 599) __builtin_trap();
  return 0;
}
