// The pkcs11 keystore backend against a SoftHSM2 token made per test.
#include "cardbureau/encoder/pkcs11_keystore.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "cardbureau/encoder/commands.h"
#include "cardbureau/encoder/diversify.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/testing/commands.h"
#include "cardbureau/testing/softhsm.h"

namespace cardbureau::encoder {
namespace {

namespace fs = std::filesystem;
using testing::kSoftHsmModule;
using testing::kSoftHsmToken;
using testing::SoftHsm;

const fs::path kKeys = fs::path(CARDBUREAU_SOURCE_DIR) / "fixtures/keys";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

KeySet FileKeys() { return ParseKeystore(Slurp(kKeys / "keystore-test.json"), kKeys).value(); }

Bytes SignWithPem(const std::string& pem, ByteView msg) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pk = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  Bytes sig(64);
  size_t len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pk), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, sig.data(), &len, msg.data(), msg.size()), 1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  return sig;
}

bool VerifyWithPem(const std::string& pub_pem, ByteView msg, ByteView sig) {
  BIO* bio = BIO_new_mem_buf(pub_pem.data(), static_cast<int>(pub_pem.size()));
  EVP_PKEY* pk = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!pk) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pk) == 1 &&
                  EVP_DigestVerify(ctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  return ok;
}

class Pkcs11KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cb-pkcs11-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    hsm_.emplace(dir_);
    ASSERT_TRUE(hsm_->ok());
    config_.module = kSoftHsmModule;
    config_.token = kSoftHsmToken;
    config_.pin_file = hsm_->pin_file().string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Import() {
    const Status s = ImportKeysToToken(config_, FileKeys(), Slurp(kKeys / "qr-test-ed25519.pem"));
    ASSERT_TRUE(s.ok()) << s;
  }

  fs::path dir_;
  std::optional<SoftHsm> hsm_;
  Pkcs11Config config_;
};

// THE SAME BYTES: every per-card key and the QR signature through the
// token equal the file backend's.
TEST_F(Pkcs11KeystoreTest, ImportedKeysGiveTheFileBackendsBytes) {
  Import();
  auto backend = OpenPkcs11Backend(config_);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->name(), "pkcs11");
  const KeySet file = FileKeys();
  KeySet token;
  token.backend = *backend;
  const Bytes uids[] = {FromHex("04A1B2C3").value(), FromHex("04112233445566").value()};
  for (const Bytes& uid : uids) {
    for (uint8_t sector = 1; sector < 40; sector += 3) {
      EXPECT_EQ(DeriveKeyA(file, uid, 0x5801, sector).value(),
                DeriveKeyA(token, uid, 0x5801, sector).value());
      EXPECT_EQ(DeriveKeyB(file, uid, 0x5801, sector).value(),
                DeriveKeyB(token, uid, 0x5801, sector).value());
    }
    EXPECT_EQ(DeriveMacKey(file, uid, 0x5801).value(), DeriveMacKey(token, uid, 0x5801).value());
  }
  // Every input length AN10922 allows (K2 padded and the 31-byte K1 case).
  for (size_t n = 1; n <= 31; ++n) {
    Bytes m(n);
    for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(i * 7 + n);
    EXPECT_EQ(Diversify(file.master_write, m).value(),
              (*backend)->Diversify(MasterKeyId::kWrite, m).value())
        << n;
  }
  EXPECT_EQ((*backend)->Diversify(MasterKeyId::kRead, Bytes{}).status().code(),
            Code::kInvalidField);

  const std::string msg = "BJSC1:eyJ2IjoxfQ";
  auto sig = (*backend)->SignEd25519(AsBytes(msg));
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(ToHex(*sig), ToHex(SignWithPem(Slurp(kKeys / "qr-test-ed25519.pem"), AsBytes(msg))));
  auto pem = (*backend)->PublicKeyPem();
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_EQ(*pem, Slurp(kKeys / "qr-test-ed25519.pub.pem"));
}

TEST_F(Pkcs11KeystoreTest, KeystoreFileSelectsTheBackend) {
  Import();
  fs::path ks = dir_ / "keystore.json";
  Pkcs11Config rel = config_;
  rel.pin_file = "token.pin";  // relative to the keystore file
  std::ofstream(ks) << Pkcs11ConfigJson(rel);
  fs::permissions(ks, fs::perms::owner_read | fs::perms::owner_write);
  auto keys = LoadKeystore(ks);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_NE(keys->backend, nullptr);
  EXPECT_TRUE(keys->sign_key_path.empty());
  EXPECT_EQ(keys->master_read, AesKey{});  // the host holds no master
  const Bytes uid = FromHex("04A1B2C3").value();
  EXPECT_EQ(DeriveKeyB(FileKeys(), uid, 0x5801, 8).value(),
            DeriveKeyB(*keys, uid, 0x5801, 8).value());

  auto bad = ParseKeystore(R"({"backend":"hsm"})", dir_);
  EXPECT_EQ(bad.status().code(), Code::kInvalidJson);
  EXPECT_EQ(bad.status().field(), "backend");
  auto missing = ParseKeystore(R"({"backend":"pkcs11","module":"x.so"})", dir_);
  EXPECT_EQ(missing.status().code(), Code::kInvalidJson);
  EXPECT_EQ(missing.status().field(), "token");
}

// One session per station thread, concurrently.
TEST_F(Pkcs11KeystoreTest, StationThreadsDeriveConcurrently) {
  Import();
  auto backend = OpenPkcs11Backend(config_);
  ASSERT_TRUE(backend.ok()) << backend.status();
  KeySet token;
  token.backend = *backend;
  const KeySet file = FileKeys();
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const Bytes uid = {0x04, static_cast<uint8_t>(t), static_cast<uint8_t>(i), 0x99};
        auto a = DeriveKeyA(token, uid, 0x5801, 9);
        if (!a.ok() || !(*a == DeriveKeyA(file, uid, 0x5801, 9).value())) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// The token's storage goes away under a running backend (SoftHSM2: its
// token directory is moved away): KEYSTORE_UNAVAILABLE, and the backend
// reconnects by itself once it is back.
TEST_F(Pkcs11KeystoreTest, TokenThatGoesAwayIsUnavailableThenComesBack) {
  Import();
  auto backend = OpenPkcs11Backend(config_);
  ASSERT_TRUE(backend.ok()) << backend.status();
  const Bytes m = DiversificationInput(FromHex("04A1B2C3").value(), 0x5801, 8).value();
  const AesKey before = (*backend)->Diversify(MasterKeyId::kWrite, m).value();
  const fs::path away = dir_ / "tokens-away";
  fs::rename(hsm_->token_dir(), away);
  auto gone = (*backend)->Diversify(MasterKeyId::kWrite, m);
  EXPECT_EQ(gone.status().code(), Code::kKeystoreUnavailable) << gone.status();
  EXPECT_EQ((*backend)->SignEd25519(AsBytes("x")).status().code(), Code::kKeystoreUnavailable);
  fs::rename(away, hsm_->token_dir());
  auto back = (*backend)->Diversify(MasterKeyId::kWrite, m);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, before);
}

// Raw PKCS#11 access, as an attacker on the production PC would have it.
class RawToken {
 public:
  RawToken() {
    void* h = ::dlopen(kSoftHsmModule, RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(h, nullptr);
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(h, "C_GetFunctionList"));
    EXPECT_EQ(get(&f_), CKR_OK);
    EXPECT_EQ(f_->C_Initialize(nullptr), CKR_OK);
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    EXPECT_EQ(f_->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    for (CK_ULONG i = 0; i < n; ++i) {
      CK_TOKEN_INFO info{};
      f_->C_GetTokenInfo(slots[i], &info);
      if (std::string(reinterpret_cast<char*>(info.label), 10) == "cardbureau") slot_ = slots[i];
    }
    EXPECT_EQ(f_->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s_),
              CKR_OK);
    std::string pin = testing::kSoftHsmPin;
    EXPECT_EQ(f_->C_Login(s_, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()),
              CKR_OK);
  }
  ~RawToken() {
    f_->C_CloseAllSessions(slot_);
    f_->C_Finalize(nullptr);
  }
  CK_OBJECT_HANDLE Find(const std::string& label, CK_OBJECT_CLASS cls) {
    CK_ATTRIBUTE t[] = {{CKA_LABEL, const_cast<char*>(label.data()), label.size()},
                        {CKA_CLASS, &cls, sizeof cls}};
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    f_->C_FindObjectsInit(s_, t, 2);
    f_->C_FindObjects(s_, &o, 1, &n);
    f_->C_FindObjectsFinal(s_);
    EXPECT_EQ(n, 1u) << label;
    return o;
  }
  CK_BBOOL Bool(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type) {
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a{type, &v, sizeof v};
    EXPECT_EQ(f_->C_GetAttributeValue(s_, o, &a, 1), CKR_OK);
    return v;
  }
  CK_RV ReadValue(CK_OBJECT_HANDLE o) {
    uint8_t buf[256];
    CK_ATTRIBUTE a{CKA_VALUE, buf, sizeof buf};
    return f_->C_GetAttributeValue(s_, o, &a, 1);
  }
  void ExpectUnreadable(const std::string& label, CK_OBJECT_CLASS cls) {
    const CK_OBJECT_HANDLE o = Find(label, cls);
    EXPECT_EQ(ReadValue(o), static_cast<CK_RV>(CKR_ATTRIBUTE_SENSITIVE)) << label;
    EXPECT_EQ(Bool(o, CKA_SENSITIVE), CK_TRUE) << label;
    EXPECT_EQ(Bool(o, CKA_EXTRACTABLE), CK_FALSE) << label;
    EXPECT_EQ(Bool(o, CKA_TOKEN), CK_TRUE) << label;
  }
  void ExpectAllUnreadable() {
    for (const char* l : {"cb-master-read", "cb-master-write", "cb-master-mac"}) {
      ExpectUnreadable(l, CKO_SECRET_KEY);
    }
    ExpectUnreadable("cb-qr-sign", CKO_PRIVATE_KEY);
  }
  CK_FUNCTION_LIST_PTR f() { return f_; }
  CK_SESSION_HANDLE s() { return s_; }

 private:
  CK_FUNCTION_LIST_PTR f_ = nullptr;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE s_ = CK_INVALID_HANDLE;
};

TEST_F(Pkcs11KeystoreTest, ImportedValuesCannotBeReadBack) {
  Import();
  RawToken raw;
  raw.ExpectAllUnreadable();
}

TEST_F(Pkcs11KeystoreTest, GeneratedKeysWorkAndCannotBeReadBack) {
  ASSERT_TRUE(GenerateKeysOnToken(config_).ok());
  {
    auto backend = OpenPkcs11Backend(config_);
    ASSERT_TRUE(backend.ok()) << backend.status();
    const Bytes m = DiversificationInput(FromHex("04A1B2C3").value(), 0x5801, 8).value();
    auto a = (*backend)->Diversify(MasterKeyId::kRead, m);
    auto b = (*backend)->Diversify(MasterKeyId::kWrite, m);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_FALSE(*a == *b);  // three different keys were made
    EXPECT_EQ(*a, (*backend)->Diversify(MasterKeyId::kRead, m).value());
    const std::string msg = "BJSC1:claims";
    auto sig = (*backend)->SignEd25519(AsBytes(msg));
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_TRUE(VerifyWithPem((*backend)->PublicKeyPem().value(), AsBytes(msg), *sig));
  }
  RawToken raw;
  raw.ExpectAllUnreadable();
  // Provisioning twice would leave two objects per label: refused.
  EXPECT_EQ(GenerateKeysOnToken(config_).code(), Code::kAlreadyExists);
}

// --- bad input: each a clear code, nothing opened -----------------------------

TEST_F(Pkcs11KeystoreTest, MissingModule) {
  config_.module = (dir_ / "no-such-module.so").string();
  auto b = OpenPkcs11Backend(config_);
  EXPECT_EQ(b.status().code(), Code::kKeystoreUnavailable);
  EXPECT_EQ(b.status().field(), "module");
  config_.module = "/etc/hostname";  // not a shared object
  EXPECT_EQ(OpenPkcs11Backend(config_).status().code(), Code::kKeystoreUnavailable);
}

TEST_F(Pkcs11KeystoreTest, WrongTokenLabel) {
  Import();
  config_.token = "other";
  auto b = OpenPkcs11Backend(config_);
  EXPECT_EQ(b.status().code(), Code::kKeystoreUnavailable);
  EXPECT_EQ(b.status().field(), "token");
}

TEST_F(Pkcs11KeystoreTest, WrongPinIsRefusedAndNeverPrinted) {
  Import();
  std::ofstream(hsm_->pin_file(), std::ios::trunc) << "987654\n";
  auto b = OpenPkcs11Backend(config_);
  EXPECT_EQ(b.status().code(), Code::kKeystoreUnavailable);
  EXPECT_EQ(b.status().field(), "pin_file");
  EXPECT_EQ(b.status().ToString().find("987654"), std::string::npos);
}

TEST_F(Pkcs11KeystoreTest, PinFileOthersCanReadIsRefused) {
  Import();
  fs::permissions(hsm_->pin_file(), fs::perms::group_read | fs::perms::others_read,
                  fs::perm_options::add);
  EXPECT_EQ(OpenPkcs11Backend(config_).status().code(), Code::kKeyFileInsecure);
}

TEST_F(Pkcs11KeystoreTest, LabelNotOnTheToken) {
  Import();
  config_.master_mac = "cb-master-mac-2027";
  auto b = OpenPkcs11Backend(config_);
  EXPECT_EQ(b.status().code(), Code::kKeystoreUnavailable);
  EXPECT_EQ(b.status().field(), "master_mac");
}

TEST_F(Pkcs11KeystoreTest, KeyOfTheWrongTypeOrLength) {
  // A 32-byte AES key and an AES key where the Ed25519 key should be.
  Pkcs11Config gen = config_;
  gen.master_read = "long-read";
  gen.master_write = "long-write";
  gen.master_mac = "long-mac";
  gen.sign_key = "long-sign";
  ASSERT_TRUE(GenerateKeysOnToken(gen).ok());
  {
    RawToken raw;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE;
    for (const char* label : {"aes256", "aes-as-sign"}) {
      CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                          {CKA_KEY_TYPE, &type, sizeof type},
                          {CKA_VALUE_LEN, &len, sizeof len},
                          {CKA_TOKEN, &yes, sizeof yes},
                          {CKA_ENCRYPT, &yes, sizeof yes},
                          {CKA_LABEL, const_cast<char*>(label), std::strlen(label)}};
      CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
      CK_OBJECT_HANDLE o;
      ASSERT_EQ(raw.f()->C_GenerateKey(raw.s(), &mech, t, 6, &o), CKR_OK);
    }
  }
  Pkcs11Config c = gen;
  c.master_write = "aes256";
  auto b = OpenPkcs11Backend(c);
  EXPECT_EQ(b.status().code(), Code::kInvalidKey);
  EXPECT_EQ(b.status().field(), "master_write");
  c = gen;
  c.sign_key = "aes-as-sign";
  b = OpenPkcs11Backend(c);
  EXPECT_EQ(b.status().code(), Code::kInvalidKey);
  EXPECT_EQ(b.status().field(), "sign_key");
  c = gen;
  c.master_read = "long-sign";  // an Ed25519 key where an AES key should be
  b = OpenPkcs11Backend(c);
  EXPECT_EQ(b.status().code(), Code::kInvalidKey);
  EXPECT_EQ(b.status().field(), "master_read");
  EXPECT_TRUE(OpenPkcs11Backend(gen).ok());
}

// --- the command line -----------------------------------------------------

using cardbureau::testing::RunCommand;

TEST_F(Pkcs11KeystoreTest, KeysImportPubkeyAndEncodeRefusals) {
  EXPECT_EQ(RunCommand(Commands(), "keys", {"--help"}), 0);
  EXPECT_EQ(RunCommand(Commands(), "keys", {"import", "--help"}), 0);
  EXPECT_EQ(RunCommand(Commands(), "keys", {"generate", "--help"}), 0);
  EXPECT_EQ(RunCommand(Commands(), "keys", {"pubkey", "--help"}), 0);
  EXPECT_EQ(RunCommand(Commands(), "keys", {}), 2);
  EXPECT_EQ(RunCommand(Commands(), "keys", {"frobnicate"}), 2);
  EXPECT_EQ(RunCommand(Commands(), "keys", {"import", "--module", kSoftHsmModule}), 2);

  // The file keystore must be 0600 to be imported.
  const fs::path src = dir_ / "file";
  fs::create_directories(src);
  for (const char* f : {"keystore-test.json", "qr-test-ed25519.pem"}) {
    fs::copy_file(kKeys / f, src / f);
    fs::permissions(src / f, fs::perms::owner_read | fs::perms::owner_write);
  }
  const std::string out = (dir_ / "pkcs11.json").string();
  const std::vector<std::string> import = {"import",
                                           "--keys",
                                           (src / "keystore-test.json").string(),
                                           "--module",
                                           kSoftHsmModule,
                                           "--token",
                                           kSoftHsmToken,
                                           "--pin-file",
                                           hsm_->pin_file().string(),
                                           "--out",
                                           out};
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunCommand(Commands(), "keys", import), 0);
  (void)::testing::internal::GetCapturedStdout();
  EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunCommand(Commands(), "keys", {"pubkey", "--keys", out}), 0);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), Slurp(kKeys / "qr-test-ed25519.pub.pem"));
  // Refusals: the keystore file exists; a token with the labels already.
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunCommand(Commands(), "keys", import), 1);
  std::vector<std::string> again = import;
  again.back() = (dir_ / "second.json").string();
  EXPECT_EQ(RunCommand(Commands(), "keys", again), 1);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ALREADY_EXISTS"), std::string::npos) << err;

  // `encode` with the pkcs11 keystore refuses a wrong PIN / a PIN file
  // others can read with exit 1 before it waits for a card.
  const std::string job =
      std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/jobs/valid-junior-reissue.json";
  std::ofstream(hsm_->pin_file(), std::ios::trunc) << "999999\n";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(
      RunCommand(Commands(), "encode",
                 {"--reader", "no such reader", "--job", job, "--keys", out, "--timeout", "1"}),
      1);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("KEYSTORE_UNAVAILABLE"), std::string::npos) << err;
  EXPECT_EQ(err.find("999999"), std::string::npos) << err;
  EXPECT_EQ(err.find("waiting for a card"), std::string::npos) << err;
  fs::permissions(hsm_->pin_file(), fs::perms::others_read, fs::perm_options::add);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(
      RunCommand(Commands(), "encode",
                 {"--reader", "no such reader", "--job", job, "--keys", out, "--timeout", "1"}),
      1);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("KEY_FILE_INSECURE"), std::string::npos) << err;
}

TEST_F(Pkcs11KeystoreTest, KeysGenerateMakesAWorkingKeystore) {
  const std::string out = (dir_ / "pkcs11.json").string();
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunCommand(Commands(), "keys",
                       {"generate", "--module", kSoftHsmModule, "--token", kSoftHsmToken,
                        "--pin-file", hsm_->pin_file().string(), "--out", out}),
            0);
  (void)::testing::internal::GetCapturedStdout();
  auto keys = LoadKeystore(out);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_NE(keys->backend, nullptr);
  const Bytes m = DiversificationInput(FromHex("04A1B2C3").value(), 0x5801, 8).value();
  EXPECT_TRUE(keys->backend->Diversify(MasterKeyId::kMac, m).ok());
  // Missing module: exit 1, KEYSTORE_UNAVAILABLE.
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(
      RunCommand(Commands(), "keys",
                 {"generate", "--module", (dir_ / "none.so").string(), "--token", kSoftHsmToken,
                  "--pin-file", hsm_->pin_file().string(), "--out", (dir_ / "x.json").string()}),
      1);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("KEYSTORE_UNAVAILABLE"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir_ / "x.json"));
}

}  // namespace
}  // namespace cardbureau::encoder
