#include "cardbureau/encoder/diversify.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <memory>

#include "cardbureau/encoder/key_backend.h"

namespace cardbureau::encoder {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacFree {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using Mac = std::unique_ptr<EVP_MAC, MacFree>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

constexpr size_t kBlock = 16;
using Block = std::array<uint8_t, kBlock>;

// AES-128-CBC with a zero IV and no padding over whole blocks; returns the
// last cipher block.
Result<Block> CbcMacLastBlock(const AesKey& key, ByteView data) {
  if (data.empty() || data.size() % kBlock != 0) {
    return Status(Code::kInternal, "CBC input must be whole blocks");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const Block iv{};
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, key.view().data(), iv.data()) !=
          1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1) {
    return Status(Code::kInternal, "OpenSSL AES init failed");
  }
  Bytes out(data.size() + kBlock);
  int len = 0;
  if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, data.data(), static_cast<int>(data.size())) !=
          1 ||
      static_cast<size_t>(len) != data.size()) {
    return Status(Code::kInternal, "OpenSSL AES encrypt failed");
  }
  Block last;
  std::copy(out.begin() + len - static_cast<long>(kBlock), out.begin() + len, last.begin());
  SecureZero(out);
  return last;
}

// Left shift by one bit of a 128-bit big-endian value, with the CMAC
// reduction constant 0x87 when the top bit falls out.
Block ShiftXor(const Block& in) {
  Block out{};
  for (size_t i = 0; i < kBlock; ++i) {
    out[i] = static_cast<uint8_t>(in[i] << 1);
    if (i + 1 < kBlock) out[i] = static_cast<uint8_t>(out[i] | (in[i + 1] >> 7));
  }
  if (in[0] & 0x80) out[kBlock - 1] ^= 0x87;
  return out;
}

}  // namespace

Result<Bytes> AesCmac(const AesKey& key, ByteView message) {
  Mac mac(EVP_MAC_fetch(nullptr, "CMAC", nullptr));
  if (!mac) return Status(Code::kInternal, "OpenSSL has no CMAC");
  MacCtx ctx(EVP_MAC_CTX_new(mac.get()));
  char cipher[] = "AES-128-CBC";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
                               OSSL_PARAM_END};
  if (!ctx || EVP_MAC_init(ctx.get(), key.view().data(), key.view().size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), message.data(), message.size()) != 1) {
    return Status(Code::kInternal, "OpenSSL CMAC failed");
  }
  Bytes out(kBlock);
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != kBlock) {
    return Status(Code::kInternal, "OpenSSL CMAC final failed");
  }
  return out;
}

Result<AesKey> Diversify(const AesKey& master, ByteView m) {
  if (m.empty() || m.size() > 31) {
    return Status(Code::kInvalidField, "AN10922 input must be 1..31 bytes", "diversification");
  }
  // Subkeys: L = AES(K, 0), K1 = L<<1 (^87), K2 = K1<<1 (^87).
  const Block zero{};
  CB_ASSIGN_OR_RETURN(Block l, CbcMacLastBlock(master, zero));
  Block k1 = ShiftXor(l);
  Block k2 = ShiftXor(k1);

  std::array<uint8_t, 2 * kBlock> d{};
  d[0] = 0x01;
  std::copy(m.begin(), m.end(), d.begin() + 1);
  const size_t used = 1 + m.size();
  const bool padded = used < d.size();
  if (padded) d[used] = 0x80;  // the rest is already 00
  const Block& sub = padded ? k2 : k1;
  for (size_t i = 0; i < kBlock; ++i) d[kBlock + i] ^= sub[i];

  auto last = CbcMacLastBlock(master, d);
  SecureZero(l);
  SecureZero(k1);
  SecureZero(k2);
  SecureZero(d);
  if (!last.ok()) return last.status();
  auto key = AesKey::FromBytes(*last);
  SecureZero(*last);
  return key;
}

Result<Bytes> DiversificationInput(ByteView uid, uint16_t aid, uint8_t sector) {
  if (uid.size() != 4 && uid.size() != 7) {
    return Status(Code::kInvalidField, "UID must be 4 or 7 bytes", "uid");
  }
  Bytes m(uid.begin(), uid.end());
  m.push_back(static_cast<uint8_t>(aid >> 8));
  m.push_back(static_cast<uint8_t>(aid & 0xFF));
  m.push_back(sector);
  for (char c : std::string_view("BJSC")) m.push_back(static_cast<uint8_t>(c));
  return m;
}

namespace {
// The master's diversification, on the host (file backend) or by the
// keystore backend (the master never reaches the host).
Result<AesKey> DiversifyWith(const KeySet& keys, MasterKeyId which, ByteView m) {
  if (keys.backend) return keys.backend->Diversify(which, m);
  const AesKey& master = which == MasterKeyId::kRead    ? keys.master_read
                         : which == MasterKeyId::kWrite ? keys.master_write
                                                        : keys.master_mac;
  return Diversify(master, m);
}

Result<MifareKey> SectorKey(const KeySet& keys, MasterKeyId which, ByteView uid, uint16_t aid,
                            uint8_t sector) {
  CB_ASSIGN_OR_RETURN(Bytes m, DiversificationInput(uid, aid, sector));
  CB_ASSIGN_OR_RETURN(AesKey full, DiversifyWith(keys, which, m));
  return MifareKey::FromBytes(full.view().first(MifareKey::kSize));
}
}  // namespace

Result<MifareKey> DeriveKeyA(const KeySet& keys, ByteView uid, uint16_t aid, uint8_t sector) {
  return SectorKey(keys, MasterKeyId::kRead, uid, aid, sector);
}
Result<MifareKey> DeriveKeyB(const KeySet& keys, ByteView uid, uint16_t aid, uint8_t sector) {
  return SectorKey(keys, MasterKeyId::kWrite, uid, aid, sector);
}
Result<AesKey> DeriveMacKey(const KeySet& keys, ByteView uid, uint16_t aid) {
  CB_ASSIGN_OR_RETURN(Bytes m, DiversificationInput(uid, aid, 0));
  return DiversifyWith(keys, MasterKeyId::kMac, m);
}

MifareKey TransportKey() {
  const uint8_t k[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  return MifareKey::FromBytes(k).value();
}
MifareKey MadKeyA() {
  const uint8_t k[6] = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5};
  return MifareKey::FromBytes(k).value();
}

}  // namespace cardbureau::encoder
