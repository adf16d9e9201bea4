#include "command_sequence.h"

#include "cardbureau/devices/apdu.h"
#include "cardbureau/devices/mifare_layout.h"

namespace cardbureau::devices::testing {

std::vector<std::string> RunCommandSequence(CardChannel& channel) {
  std::vector<std::string> transcript;
  auto send = [&](const Bytes& apdu) {
    auto raw = channel.Transmit(apdu);
    transcript.push_back(
        ToSpacedHex(apdu) + " -> " +
        (raw.ok() ? ToSpacedHex(*raw) : "!" + std::string(raw.status().code_name())));
  };
  const Bytes mad_key = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5};
  const Bytes transport(6, 0xFF);
  const Bytes new_a = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
  const Bytes new_b = {0x99, 0x88, 0x77, 0x66, 0x55, 0x44};

  send(Apdu::GetUid());
  send(Apdu::LoadKey(0, mad_key));
  send(Apdu::Authenticate(1, KeyType::kA, 0));
  send(Apdu::ReadBlock(1));
  send(Apdu::ReadBlock(2));
  send(Apdu::ReadBlock(3));
  send(Apdu::UpdateBlock(1, Bytes(16, 0)));  // MAD: key B only -> 69 82
  send(Apdu::LoadKey(1, transport));
  send(Apdu::Authenticate(4, KeyType::kA, 1));  // transit sector -> 63 00
  send(Apdu::Authenticate(28, KeyType::kA, 1));
  for (uint8_t b = 30; b >= 28; --b) {
    Bytes data(16, b);
    send(Apdu::UpdateBlock(b, data));
    send(Apdu::ReadBlock(b));
  }
  send(Apdu::ReadBlock(31));
  Bytes trailer = new_a;
  const auto bits = EncodeAccessBits({{4, 4, 4, 3}});
  trailer.insert(trailer.end(), bits.begin(), bits.end());
  trailer.push_back(0x00);
  trailer.insert(trailer.end(), new_b.begin(), new_b.end());
  send(Apdu::UpdateBlock(31, trailer));
  send(Apdu::LoadKey(2, new_b));
  send(Apdu::Authenticate(28, KeyType::kB, 2));
  send(Apdu::ReadBlock(28));
  send(Apdu::ReadBlock(31));
  send(Apdu::UpdateBlock(29, Bytes(16, 0x42)));
  send(Apdu::Authenticate(28, KeyType::kA, 1));  // transport key no longer works
  send(Apdu::ReadBlock(28));                     // session dropped -> 69 82
  send(Apdu::Authenticate(0, KeyType::kA, 0));
  send(Apdu::UpdateBlock(0, Bytes(16, 0)));  // block 0 read-only
  send({0xFF, 0x00, 0x00, 0x00, 0x00});      // unknown INS
  return transcript;
}

}  // namespace cardbureau::devices::testing
