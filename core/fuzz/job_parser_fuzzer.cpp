// libFuzzer target: the job parser and validator must never crash, hang or
// leak on any input, and a job that parses must survive a JSON round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto job = cardbureau::ParseJob(text);
  if (!job.ok()) return 0;
  static const cardbureau::ManualClock clock =
      cardbureau::ManualClock::AtBeijingDate({2026, 11, 25});
  cardbureau::ValidationOptions options;
  options.clock = &clock;
  cardbureau::Job copy = *job;
  (void)cardbureau::ValidateJob(copy, options);
  (void)cardbureau::ValidatePhotoBytes(copy, cardbureau::AsBytes(text));
  auto again = cardbureau::ParseJob(cardbureau::JobToJsonString(*job));
  if (!again.ok()) std::abort();  // a parsed job must serialise to a parseable job
  if (cardbureau::JobToJson(*again) != cardbureau::JobToJson(*job)) std::abort();
  return 0;
}
