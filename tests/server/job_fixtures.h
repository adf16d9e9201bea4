// Test-only builders for protocol v1 jobs and photos (valid by default).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/server/messages.h"

namespace cbtest {

// Bytes that pass core's photo checks as a JPEG (magic FF D8 FF), `size`
// long, different for each seed.
inline cardbureau::Bytes FakeJpeg(size_t size, uint32_t seed) {
  cardbureau::Bytes b(size < 4 ? 4 : size);
  b[0] = 0xFF;
  b[1] = 0xD8;
  b[2] = 0xFF;
  b[3] = 0xE0;
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 4; i < b.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b[i] = static_cast<uint8_t>(x);
  }
  return b;
}

// A job that passes core validation today (graduation 2030, no valid_until).
inline nlohmann::json ValidJobJson(const std::string& job_id, const cardbureau::Bytes& photo,
                                   const std::string& name = "张三") {
  const std::string digits17 = "11010120100101123";
  const std::string student_no =
      "G" + digits17 + std::string(1, cardbureau::Mod11_2CheckChar(digits17));
  return nlohmann::json{
      {"type", "job"},
      {"v", 1},
      {"job_id", job_id},
      {"kind", "new"},
      {"confirmed_at", "2026-11-20T10:04:00+08:00"},
      {"student",
       {{"name", name},
        {"gender", "M"},
        {"education_id", "12345678"},
        {"student_no", student_no},
        {"level", "junior"},
        {"graduation", "2030-07"}}},
      {"school", {{"code", "11010810"}, {"name", "北京一零一中学"}, {"district", "海淀区"}}},
      {"card",
       {{"card_no", "1000751234567890"},
        {"template", "bjt-student"},
        {"card_type", "mifare-classic-1k"}}},
      {"photo", {{"format", "jpeg"}, {"sha256", cardbureau::Sha256Hex(photo)}}}};
}

inline cardbureau::server::JobMessage MakeJobMessage(const std::string& job_id,
                                                     const cardbureau::Bytes& photo) {
  cardbureau::server::JobMessage m;
  m.job_id = job_id;
  m.body = ValidJobJson(job_id, photo);
  m.photo = photo;
  return m;
}

}  // namespace cbtest
