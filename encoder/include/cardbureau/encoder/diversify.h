// AES-128 key diversification (NXP AN10922) and the per-card key
// derivation of card-format.md "Keys". Pure functions of their inputs;
// thread-safe (each call uses its own OpenSSL contexts).
#pragma once

#include <cstdint>

#include "cardbureau/core/bytes.h"
#include "cardbureau/core/status.h"
#include "cardbureau/encoder/keys.h"

namespace cardbureau::encoder {

// Full 16-byte AES-CMAC (NIST SP 800-38B) of `message` under `key`
// (OpenSSL EVP_MAC "CMAC" with AES-128-CBC). INTERNAL only when OpenSSL
// itself fails.
Result<Bytes> AesCmac(const AesKey& key, ByteView message);

// AN10922 AES-128 diversification: D = 01 ‖ M, padded with 80 00.. to 32
// bytes (last block XOR CMAC subkey K2 when padded, K1 when D is exactly 32
// bytes), AES-CBC with a zero IV, result = last cipher block.
// INVALID_FIELD when M is empty or longer than 31 bytes.
Result<AesKey> Diversify(const AesKey& master, ByteView m);

// The diversification input UID ‖ AID(2, big-endian) ‖ sector ‖ "BJSC".
// INVALID_FIELD unless the UID is 4 or 7 bytes.
Result<Bytes> DiversificationInput(ByteView uid, uint16_t aid, uint8_t sector);

// Per-card keys (card-format.md): key A from master_read, key B from
// master_write, both the first 6 bytes of DIV(master, UID ‖ AID ‖ sector ‖
// "BJSC"); the MAC key is DIV(master_mac, UID ‖ AID ‖ 00 ‖ "BJSC").
// `aid` is the student application id (0x5801 by default).
// Errors: INVALID_FIELD (UID length).
Result<MifareKey> DeriveKeyA(const KeySet& keys, ByteView uid, uint16_t aid, uint8_t sector);
Result<MifareKey> DeriveKeyB(const KeySet& keys, ByteView uid, uint16_t aid, uint8_t sector);
Result<AesKey> DeriveMacKey(const KeySet& keys, ByteView uid, uint16_t aid);

}  // namespace cardbureau::encoder
