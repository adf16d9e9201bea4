#include "cardbureau/devices/apdu.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace cardbureau::devices {
namespace {

constexpr uint8_t kCla = 0xFF;

struct SwEntry {
  uint16_t sw;
  Code code;
  const char* meaning;
};

// The one status-word table (see apdu.h for the rationale of each row).
constexpr std::array kSwTable = {
    SwEntry{sw::kAuthFailed, Code::kAuthFailed, "authentication failed"},
    SwEntry{sw::kSecurityNotSatisfied, Code::kAuthFailed, "access not allowed"},
    SwEntry{sw::kAddressNotFound, Code::kCardError, "block address not found"},
    SwEntry{sw::kWrongP1P2, Code::kCardError, "wrong parameters (address)"},
    SwEntry{sw::kMemoryFailure, Code::kCardError, "memory failure"},
    SwEntry{sw::kExecutionError, Code::kCardError, "execution error"},
    SwEntry{sw::kWrongLength, Code::kCardError, "wrong length"},
    SwEntry{sw::kCommandNotAllowed, Code::kCardError, "command not allowed"},
    SwEntry{sw::kFunctionNotSupported, Code::kCardError, "function not supported"},
    SwEntry{sw::kInsNotSupported, Code::kCardError, "instruction not supported"},
    SwEntry{sw::kClaNotSupported, Code::kCardError, "class not supported"},
};

std::string SwHex(uint16_t value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02X %02X", value >> 8, value & 0xFF);
  return buf;
}

}  // namespace

Bytes Apdu::GetUid() { return {kCla, 0xCA, 0x00, 0x00, 0x00}; }

Bytes Apdu::LoadKey(uint8_t slot, ByteView key6) {
  if (key6.size() != 6) throw std::invalid_argument("Apdu::LoadKey: key must be 6 bytes");
  Bytes apdu(5 + 6);
  apdu[0] = kCla;
  apdu[1] = 0x82;
  apdu[2] = 0x00;
  apdu[3] = slot;
  apdu[4] = 0x06;
  std::copy(key6.begin(), key6.end(), apdu.begin() + 5);
  return apdu;
}

Bytes Apdu::Authenticate(uint8_t block, KeyType kt, uint8_t slot) {
  return {kCla, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, block, static_cast<uint8_t>(kt), slot};
}

Bytes Apdu::ReadBlock(uint8_t block) { return {kCla, 0xB0, 0x00, block, 0x10}; }

Bytes Apdu::UpdateBlock(uint8_t block, ByteView data16) {
  if (data16.size() != 16) throw std::invalid_argument("Apdu::UpdateBlock: data must be 16 bytes");
  Bytes apdu(5 + 16);
  apdu[0] = kCla;
  apdu[1] = 0xD6;
  apdu[2] = 0x00;
  apdu[3] = block;
  apdu[4] = 0x10;
  std::copy(data16.begin(), data16.end(), apdu.begin() + 5);
  return apdu;
}

Result<Response> ParseResponse(ByteView raw) {
  if (raw.size() < 2) {
    return Status(Code::kProtocolError,
                  "card response of " + std::to_string(raw.size()) + " bytes has no status word");
  }
  Response r;
  r.data.assign(raw.begin(), raw.end() - 2);
  r.sw = static_cast<uint16_t>((raw[raw.size() - 2] << 8) | raw[raw.size() - 1]);
  return r;
}

Status StatusWordToStatus(uint16_t value) {
  if (value == sw::kOk) return Status::Ok();
  for (const auto& e : kSwTable) {
    if (e.sw == value) return Status(e.code, std::string(e.meaning) + " (SW " + SwHex(value) + ")");
  }
  return Status(Code::kCardError, "unexpected status word " + SwHex(value));
}

}  // namespace cardbureau::devices
