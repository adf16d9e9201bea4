// libFuzzer target for the student-record parser (pure: bytes in, record or
// Status out). Also checks that whatever parses re-encodes to a record that
// parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "cardbureau/encoder/student_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cardbureau;
  using namespace cardbureau::encoder;
  const ByteView area(data, size);
  auto parsed = ParseRecord(area);
  if (!parsed.ok()) return 0;
  if (parsed->signed_length + kRecordMacSize > size) std::abort();
  const AesKey key;
  const Bytes uid{0x04, 0x01, 0x02, 0x03};
  (void)VerifyRecordMac(area, *parsed, uid, key);
  auto again = EncodeRecord(parsed->record, uid, key, 0, 10000);
  if (again.ok()) {
    auto reparsed = ParseRecord(*again);
    if (!reparsed.ok() || !(reparsed->record == parsed->record)) std::abort();
  }
  return 0;
}
