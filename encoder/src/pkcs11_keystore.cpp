#include "cardbureau/encoder/pkcs11_keystore.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <p11-kit/pkcs11.h>

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>
#include <vector>

#include "cardbureau/core/file.h"

namespace cardbureau::encoder {
namespace {

constexpr size_t kBlock = 16;
using Block = std::array<uint8_t, kBlock>;
constexpr size_t kMaxPinBytes = 256;
// DER of the Ed25519 curve OID 1.3.101.112 (RFC 8410), CKA_EC_PARAMS.
constexpr std::array<uint8_t, 5> kEd25519Params = {0x06, 0x03, 0x2B, 0x65, 0x70};

std::string Rv(CK_RV rv) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR 0x%lX", static_cast<unsigned long>(rv));
  return buf;
}

Status Unavailable(const std::string& msg, std::string field = {}) {
  return Status(Code::kKeystoreUnavailable, msg, std::move(field));
}

// Errors after which the token (or our login on it) is gone: drop every
// session and reconnect on the next call.
bool TokenGone(CK_RV rv) {
  switch (rv) {
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_PIN_INCORRECT:
    case CKR_PIN_EXPIRED:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_GENERAL_ERROR:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return true;
    default:
      return false;
  }
}

void Wipe(std::string& s) {
  SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
}

// Left shift by one bit with the CMAC reduction (SP 800-38B subkeys).
Block ShiftXor(const Block& in) {
  Block out{};
  for (size_t i = 0; i < kBlock; ++i) {
    out[i] = static_cast<uint8_t>(in[i] << 1);
    if (i + 1 < kBlock) out[i] = static_cast<uint8_t>(out[i] | (in[i + 1] >> 7));
  }
  if (in[0] & 0x80) out[kBlock - 1] ^= 0x87;
  return out;
}

// --- the module -------------------------------------------------------------

// A loaded and initialised PKCS#11 module. One per module path per process
// (C_Initialize is per process): shared by every backend of that module and
// finalised when the last one is gone. The library itself stays mapped
// (vendor modules do not all survive dlclose).
class Module {
 public:
  static Result<std::shared_ptr<Module>> Get(const std::string& path) {
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<Module>> loaded;
    std::lock_guard lock(mu);
    if (auto m = loaded[path].lock()) return m;
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* err = ::dlerror();
      return Unavailable(
          "cannot load the PKCS#11 module " + path + ": " + (err ? err : "dlopen failed"),
          "module");
    }
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
    CK_FUNCTION_LIST_PTR f = nullptr;
    if (!get_list || get_list(&f) != CKR_OK || !f) {
      return Unavailable(path + " is not a PKCS#11 module (no C_GetFunctionList)", "module");
    }
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    const CK_RV rv = f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      return Unavailable("C_Initialize of " + path + " failed (" + Rv(rv) + ")", "module");
    }
    auto m = std::shared_ptr<Module>(new Module(f, rv == CKR_OK));
    loaded[path] = m;
    return m;
  }
  ~Module() {
    if (owns_) f_->C_Finalize(nullptr);
  }
  CK_FUNCTION_LIST_PTR f() const { return f_; }

  // C_Finalize + C_Initialize, for a token that came back: many modules
  // (SoftHSM2 among them) only rescan their slots and tokens when
  // initialised. At most once every 2 s after a successful one (a failed
  // C_Initialize, e.g. while the token's storage is away, is retried on the
  // next call); never when another part of the process initialised the
  // module. Every session of the module is lost (their users reconnect).
  // True when re-initialised.
  bool Reinitialize() {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (external_ || (owns_ && now - last_reinit_ < std::chrono::seconds(2))) return false;
    if (owns_) f_->C_Finalize(nullptr);
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    owns_ = f_->C_Initialize(&args) == CKR_OK;
    if (owns_) last_reinit_ = now;
    return owns_;
  }

 private:
  Module(CK_FUNCTION_LIST_PTR f, bool owns) : f_(f), owns_(owns), external_(!owns) {}
  CK_FUNCTION_LIST_PTR f_;
  bool owns_;      // this process's C_Initialize is in force
  bool external_;  // initialised by someone else in the process: never touched
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_reinit_{};
};

// Finds the slot whose token has `label` (CK_UTF8CHAR[32], space padded).
Result<CK_SLOT_ID> FindSlot(CK_FUNCTION_LIST_PTR f, const std::string& label) {
  CK_ULONG n = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &n);
  if (rv != CKR_OK) return Unavailable("C_GetSlotList failed (" + Rv(rv) + ")", "token");
  std::vector<CK_SLOT_ID> slots(n);
  rv = f->C_GetSlotList(CK_TRUE, slots.data(), &n);
  if (rv != CKR_OK) return Unavailable("C_GetSlotList failed (" + Rv(rv) + ")", "token");
  slots.resize(n);
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (f->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    std::string have(reinterpret_cast<const char*>(info.label), sizeof info.label);
    while (!have.empty() && (have.back() == ' ' || have.back() == '\0')) have.pop_back();
    if (have == label) return slot;
  }
  return Unavailable("no token labelled \"" + label + "\" is present", "token");
}

// Opens a read/write session on `slot` and logs the user in with the PIN
// of `pin_file` (read under the secrets' rule, wiped at once).
Result<CK_SESSION_HANDLE> OpenLoggedIn(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot,
                                       const std::string& pin_file) {
  CB_ASSIGN_OR_RETURN(std::string pin, ReadSecretFile(pin_file, kMaxPinBytes, "PIN file"));
  while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
  if (rv != CKR_OK) {
    Wipe(pin);
    return Unavailable("C_OpenSession failed (" + Rv(rv) + ")", "token");
  }
  rv = f->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size());
  Wipe(pin);
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    f->C_CloseSession(s);
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_LOCKED) {
      return Unavailable("the token refused the PIN of the PIN file (" + Rv(rv) + ")", "pin_file");
    }
    return Unavailable("C_Login failed (" + Rv(rv) + ")", "pin_file");
  }
  return s;
}

Result<Bytes> GetAttr(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1);
  if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return Status(Code::kInvalidKey, "attribute unavailable (" + Rv(rv) + ")");
  }
  Bytes v(a.ulValueLen);
  a.pValue = v.data();
  rv = f->C_GetAttributeValue(s, o, &a, 1);
  if (rv != CKR_OK) return Status(Code::kInvalidKey, "attribute unavailable (" + Rv(rv) + ")");
  v.resize(a.ulValueLen);
  return v;
}

Result<CK_ULONG> GetUlong(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_ATTRIBUTE_TYPE type) {
  CK_ULONG v = 0;
  CK_ATTRIBUTE a{type, &v, sizeof v};
  const CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1);
  if (rv != CKR_OK) return Status(Code::kInvalidKey, "attribute unavailable (" + Rv(rv) + ")");
  return v;
}

// Every object labelled `label` (at most a few).
Result<std::vector<CK_OBJECT_HANDLE>> FindByLabel(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
                                                  const std::string& label) {
  CK_ATTRIBUTE t{CKA_LABEL, const_cast<char*>(label.data()), label.size()};
  CK_RV rv = f->C_FindObjectsInit(s, &t, 1);
  if (rv != CKR_OK) return Unavailable("C_FindObjectsInit failed (" + Rv(rv) + ")");
  std::vector<CK_OBJECT_HANDLE> found(8);
  CK_ULONG n = 0;
  rv = f->C_FindObjects(s, found.data(), found.size(), &n);
  f->C_FindObjectsFinal(s);
  if (rv != CKR_OK) return Unavailable("C_FindObjects failed (" + Rv(rv) + ")");
  found.resize(n);
  return found;
}

// The one object labelled `label` of class `cls`. KEYSTORE_UNAVAILABLE when
// no object has the label, INVALID_KEY when objects have it but none of
// that class or more than one.
Result<CK_OBJECT_HANDLE> FindKey(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
                                 const std::string& label, CK_OBJECT_CLASS cls,
                                 const std::string& field) {
  CB_ASSIGN_OR_RETURN(auto all, FindByLabel(f, s, label));
  if (all.empty()) return Unavailable("no object labelled \"" + label + "\" on the token", field);
  std::vector<CK_OBJECT_HANDLE> match;
  for (CK_OBJECT_HANDLE o : all) {
    auto c = GetUlong(f, s, o, CKA_CLASS);
    if (c.ok() && *c == cls) match.push_back(o);
  }
  if (match.size() != 1) {
    return Status(Code::kInvalidKey,
                  "\"" + label + "\" names " + std::to_string(match.size()) +
                      " objects of the expected class on the token",
                  field);
  }
  return match.front();
}

Status CheckAesKey(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                   const std::string& label, const std::string& field) {
  auto type = GetUlong(f, s, o, CKA_KEY_TYPE);
  if (!type.ok() || *type != CKK_AES) {
    return Status(Code::kInvalidKey, "\"" + label + "\" is not an AES key", field);
  }
  auto len = GetUlong(f, s, o, CKA_VALUE_LEN);
  if (!len.ok() || *len != 16) {
    return Status(Code::kInvalidKey, "\"" + label + "\" is not a 16-byte AES key", field);
  }
  return Status::Ok();
}

// CKA_EC_POINT of an Ed25519 public key: the DER OCTET STRING 04 20 ‖ key
// (PKCS#11 3.0), or the bare 32 bytes some modules return.
Result<Bytes> RawEdPoint(ByteView point) {
  if (point.size() == 34 && point[0] == 0x04 && point[1] == 0x20) {
    return Bytes(point.begin() + 2, point.end());
  }
  if (point.size() == 32) return Bytes(point.begin(), point.end());
  return Status(Code::kInvalidKey, "not an Ed25519 public point");
}

bool IsEd25519Params(ByteView p) {
  static constexpr std::string_view kName = "edwards25519";
  if (std::equal(p.begin(), p.end(), kEd25519Params.begin(), kEd25519Params.end())) return true;
  // PrintableString "edwards25519" (the form SoftHSM2 and PKCS#11 3.0 also accept).
  return p.size() == 2 + kName.size() && p[0] == 0x13 && p[1] == kName.size() &&
         std::equal(kName.begin(), kName.end(), p.begin() + 2);
}

Result<std::string> PublicPem(ByteView raw) {
  EVP_PKEY* pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
  if (!pk) return Status(Code::kInvalidKey, "not an Ed25519 public key");
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (bio && PEM_write_bio_PUBKEY(bio, pk) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  EVP_PKEY_free(pk);
  if (out.empty()) return Status(Code::kInternal, "PEM encoding failed");
  return out;
}

// --- the backend ------------------------------------------------------------

// AN10922 on the token. Why not CKM_AES_CMAC: AN10922 pads D = 01 ‖ M to a
// fixed 32 bytes (80 00 ..) and XORs the LAST of those two blocks with the
// CMAC subkey K2. A standard CMAC (SP 800-38B) of the 12- or 15-byte D pads
// only to the next block boundary (one block, not two) and a CMAC of the
// already-padded 32 bytes sees a complete final block and uses K1 instead
// of K2: neither gives AN10922's bytes. So the token computes
//   L = AES-ECB(master, 0^16)          (CKM_AES_ECB, once per connection)
// the host derives K1 = L<<1 (^87), K2 = K1<<1 (^87) — subkeys, which
// reveal nothing about the master — and the token computes the CBC-MAC
//   AES-CBC(master, IV 0, D with K2 XORed into its last block)
// (CKM_AES_CBC) whose last cipher block is the diversified key.
class Pkcs11Backend final : public KeyBackend {
 public:
  Pkcs11Backend(Pkcs11Config config, std::shared_ptr<Module> module)
      : config_(std::move(config)), module_(std::move(module)) {}
  ~Pkcs11Backend() override {
    std::lock_guard lock(mu_);
    Disconnect();
  }

  std::string_view name() const override { return "pkcs11"; }

  Result<AesKey> Diversify(MasterKeyId which, ByteView m) const override {
    if (m.empty() || m.size() > 31) {
      return Status(Code::kInvalidField, "AN10922 input must be 1..31 bytes", "diversification");
    }
    const auto idx = static_cast<size_t>(which);
    std::array<uint8_t, 2 * kBlock> d{};
    Block last{};
    Status st = WithSession([&](CK_SESSION_HANDLE s, const Conn& c) -> CK_RV {
      d = {};
      d[0] = 0x01;
      std::copy(m.begin(), m.end(), d.begin() + 1);
      const size_t used = 1 + m.size();
      const bool padded = used < d.size();
      if (padded) d[used] = 0x80;
      const Block& sub = padded ? c.k2[idx] : c.k1[idx];
      for (size_t i = 0; i < kBlock; ++i) d[kBlock + i] ^= sub[i];
      Block iv{};
      CK_MECHANISM mech{CKM_AES_CBC, iv.data(), iv.size()};
      CK_FUNCTION_LIST_PTR f = module_->f();
      CK_RV rv = f->C_EncryptInit(s, &mech, c.master[idx]);
      if (rv != CKR_OK) return rv;
      std::array<uint8_t, 2 * kBlock> out{};
      CK_ULONG len = out.size();
      rv = f->C_Encrypt(s, d.data(), d.size(), out.data(), &len);
      if (rv == CKR_OK && len == out.size()) {
        std::copy(out.begin() + kBlock, out.end(), last.begin());
      } else if (rv == CKR_OK) {
        rv = CKR_FUNCTION_FAILED;
      }
      SecureZero(out);
      return rv;
    });
    SecureZero(d);
    if (!st.ok()) return st;
    auto key = AesKey::FromBytes(last);
    SecureZero(last);
    return key;
  }

  Result<Bytes> SignEd25519(ByteView message) const override {
    Bytes sig(64);
    Status st = WithSession([&](CK_SESSION_HANDLE s, const Conn& c) -> CK_RV {
      CK_MECHANISM mech{CKM_EDDSA, nullptr, 0};
      CK_FUNCTION_LIST_PTR f = module_->f();
      CK_RV rv = f->C_SignInit(s, &mech, c.sign);
      if (rv != CKR_OK) return rv;
      CK_ULONG len = sig.size();
      rv = f->C_Sign(s, const_cast<CK_BYTE_PTR>(message.data()), message.size(), sig.data(), &len);
      if (rv == CKR_OK && len != 64) rv = CKR_FUNCTION_FAILED;
      return rv;
    });
    if (!st.ok()) return st;
    return sig;
  }

  Result<std::string> PublicKeyPem() const override {
    std::lock_guard lock(mu_);
    if (!conn_) CB_RETURN_IF_ERROR(Connect());
    return conn_->public_pem;
  }

  // Connects (for OpenPkcs11Backend: every check up front).
  Status Start() {
    std::lock_guard lock(mu_);
    return Connect();
  }

 private:
  struct Conn {
    CK_SLOT_ID slot = 0;
    std::array<CK_OBJECT_HANDLE, 3> master{};
    std::array<Block, 3> k1{}, k2{};
    CK_OBJECT_HANDLE sign = CK_INVALID_HANDLE;
    std::string public_pem;
    ~Conn() {
      for (auto& b : k1) SecureZero(b);
      for (auto& b : k2) SecureZero(b);
    }
  };

  // Runs `op` on this thread's session of the current connection
  // (connecting first when the token was away). An error that means the
  // token went away drops the connection: KEYSTORE_UNAVAILABLE, and the
  // next call reconnects.
  template <typename Op>
  Status WithSession(Op op) const {
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    std::shared_ptr<const Conn> conn;
    {
      std::lock_guard lock(mu_);
      if (!conn_) CB_RETURN_IF_ERROR(Connect());
      conn = conn_;
      auto it = sessions_.find(std::this_thread::get_id());
      if (it != sessions_.end()) {
        s = it->second;
      } else {
        const CK_RV rv = module_->f()->C_OpenSession(
            conn_->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
        if (rv != CKR_OK) {
          Disconnect();
          return Unavailable("C_OpenSession failed (" + Rv(rv) + "): is the token still there?");
        }
        sessions_.emplace(std::this_thread::get_id(), s);
      }
    }
    const CK_RV rv = op(s, *conn);
    if (rv == CKR_OK) return Status::Ok();
    if (TokenGone(rv)) {
      std::lock_guard lock(mu_);
      if (conn_ == conn) Disconnect();
      return Unavailable("the token \"" + config_.token + "\" went away (" + Rv(rv) + ")");
    }
    // The operation may have been left active: this session's next Init
    // would fail with CKR_OPERATION_ACTIVE, so replace the session.
    {
      std::lock_guard lock(mu_);
      auto it = sessions_.find(std::this_thread::get_id());
      if (it != sessions_.end() && conn_ == conn) {
        module_->f()->C_CloseSession(it->second);
        sessions_.erase(it);
      }
    }
    return Status(Code::kInternal, "PKCS#11 operation failed (" + Rv(rv) + ")");
  }

  // mu_ held. After a lost connection, a token that is not found makes
  // the module re-initialise once (see Module::Reinitialize) before
  // giving up: KEYSTORE_UNAVAILABLE until it is back.
  Status Connect() const {
    CK_FUNCTION_LIST_PTR f = module_->f();
    auto found = FindSlot(f, config_.token);
    if (!found.ok() && was_connected_ && module_->Reinitialize()) {
      sessions_.clear();  // gone with the module's state
      found = FindSlot(f, config_.token);
    }
    CB_ASSIGN_OR_RETURN(CK_SLOT_ID slot, std::move(found));
    CB_ASSIGN_OR_RETURN(CK_SESSION_HANDLE s, OpenLoggedIn(f, slot, config_.pin_file));
    auto conn = std::make_shared<Conn>();
    conn->slot = slot;
    Status st = Load(f, s, *conn);
    if (!st.ok()) {
      f->C_CloseSession(s);
      return st;
    }
    conn_ = std::move(conn);
    sessions_[std::this_thread::get_id()] = s;
    was_connected_ = true;
    return Status::Ok();
  }

  // mu_ held. Closes this backend's sessions (the login goes with the
  // application's last one).
  void Disconnect() const {
    for (const auto& [thread, s] : sessions_) module_->f()->C_CloseSession(s);
    sessions_.clear();
    conn_.reset();
  }

  Status Load(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, Conn& c) const {
    const std::array<std::pair<const std::string*, const char*>, 3> masters = {
        std::pair{&config_.master_read, "master_read"},
        std::pair{&config_.master_write, "master_write"},
        std::pair{&config_.master_mac, "master_mac"}};
    for (size_t i = 0; i < masters.size(); ++i) {
      const auto& [label, field] = masters[i];
      CB_ASSIGN_OR_RETURN(c.master[i], FindKey(f, s, *label, CKO_SECRET_KEY, field));
      CB_RETURN_IF_ERROR(CheckAesKey(f, s, c.master[i], *label, field));
      // L = AES-ECB(master, 0) on the token; the subkeys on the host.
      Block zero{}, l{};
      CK_MECHANISM ecb{CKM_AES_ECB, nullptr, 0};
      CK_ULONG len = l.size();
      CK_RV rv = f->C_EncryptInit(s, &ecb, c.master[i]);
      if (rv == CKR_OK) rv = f->C_Encrypt(s, zero.data(), zero.size(), l.data(), &len);
      if (rv != CKR_OK || len != l.size()) {
        return Status(TokenGone(rv) ? Code::kKeystoreUnavailable : Code::kInvalidKey,
                      "\"" + *label + "\" cannot encrypt with CKM_AES_ECB (" + Rv(rv) + ")", field);
      }
      c.k1[i] = ShiftXor(l);
      c.k2[i] = ShiftXor(c.k1[i]);
      SecureZero(l);
    }
    CB_ASSIGN_OR_RETURN(c.sign, FindKey(f, s, config_.sign_key, CKO_PRIVATE_KEY, "sign_key"));
    auto type = GetUlong(f, s, c.sign, CKA_KEY_TYPE);
    if (!type.ok() || *type != CKK_EC_EDWARDS) {
      return Status(Code::kInvalidKey, "\"" + config_.sign_key + "\" is not an EdDSA key",
                    "sign_key");
    }
    CB_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE pub,
                        FindKey(f, s, config_.sign_key, CKO_PUBLIC_KEY, "sign_key"));
    auto params = GetAttr(f, s, pub, CKA_EC_PARAMS);
    if (!params.ok() || !IsEd25519Params(*params)) {
      return Status(Code::kInvalidKey, "\"" + config_.sign_key + "\" is not an Ed25519 key",
                    "sign_key");
    }
    auto point = GetAttr(f, s, pub, CKA_EC_POINT);
    if (!point.ok()) return Status(Code::kInvalidKey, point.status().message(), "sign_key");
    auto raw = RawEdPoint(*point);
    if (!raw.ok()) return Status(Code::kInvalidKey, raw.status().message(), "sign_key");
    CB_ASSIGN_OR_RETURN(c.public_pem, PublicPem(*raw));
    return Status::Ok();
  }

  const Pkcs11Config config_;
  const std::shared_ptr<Module> module_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const Conn> conn_;  // null while the token is away
  mutable std::map<std::thread::id, CK_SESSION_HANDLE> sessions_;
  mutable bool was_connected_ = false;
};

// --- provisioning -------------------------------------------------------------

struct Provision {
  std::shared_ptr<Module> module;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  ~Provision() {
    if (module && s != CK_INVALID_HANDLE) module->f()->C_CloseSession(s);
  }
  CK_FUNCTION_LIST_PTR f() const { return module->f(); }
};

Status OpenForProvisioning(const Pkcs11Config& config, Provision& p) {
  CB_ASSIGN_OR_RETURN(p.module, Module::Get(config.module));
  CB_ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindSlot(p.f(), config.token));
  CB_ASSIGN_OR_RETURN(p.s, OpenLoggedIn(p.f(), slot, config.pin_file));
  for (const std::string* label :
       {&config.master_read, &config.master_write, &config.master_mac, &config.sign_key}) {
    CB_ASSIGN_OR_RETURN(auto found, FindByLabel(p.f(), p.s, *label));
    if (!found.empty()) {
      return Status(Code::kAlreadyExists, "the token already holds an object labelled \"" + *label +
                                              "\" (rotate with new labels, docs/keys.md)");
    }
  }
  return Status::Ok();
}

CK_BBOOL kTrue = CK_TRUE, kFalse = CK_FALSE;

struct AesTemplate {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 16;
  std::vector<CK_ATTRIBUTE> attrs;
  AesTemplate(const std::string& label, bool with_len) {
    attrs = {{CKA_CLASS, &cls, sizeof cls},
             {CKA_KEY_TYPE, &type, sizeof type},
             {CKA_TOKEN, &kTrue, sizeof kTrue},
             {CKA_PRIVATE, &kTrue, sizeof kTrue},
             {CKA_SENSITIVE, &kTrue, sizeof kTrue},
             {CKA_EXTRACTABLE, &kFalse, sizeof kFalse},
             {CKA_ENCRYPT, &kTrue, sizeof kTrue},
             {CKA_DECRYPT, &kFalse, sizeof kFalse},
             {CKA_WRAP, &kFalse, sizeof kFalse},
             {CKA_DERIVE, &kFalse, sizeof kFalse},
             {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    if (with_len) attrs.push_back({CKA_VALUE_LEN, &len, sizeof len});
  }
};

struct EdTemplates {
  CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
  CK_KEY_TYPE type = CKK_EC_EDWARDS;
  std::array<uint8_t, 5> params = kEd25519Params;
  std::vector<CK_ATTRIBUTE> pub, priv;
  explicit EdTemplates(const std::string& label) {
    pub = {{CKA_CLASS, &pub_cls, sizeof pub_cls},
           {CKA_KEY_TYPE, &type, sizeof type},
           {CKA_TOKEN, &kTrue, sizeof kTrue},
           {CKA_VERIFY, &kTrue, sizeof kTrue},
           {CKA_EC_PARAMS, params.data(), params.size()},
           {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    priv = {{CKA_CLASS, &priv_cls, sizeof priv_cls},
            {CKA_KEY_TYPE, &type, sizeof type},
            {CKA_TOKEN, &kTrue, sizeof kTrue},
            {CKA_PRIVATE, &kTrue, sizeof kTrue},
            {CKA_SENSITIVE, &kTrue, sizeof kTrue},
            {CKA_EXTRACTABLE, &kFalse, sizeof kFalse},
            {CKA_SIGN, &kTrue, sizeof kTrue},
            {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
  }
};

Status Created(CK_RV rv, const std::string& label) {
  if (rv == CKR_OK) return Status::Ok();
  return Status(TokenGone(rv) ? Code::kKeystoreUnavailable : Code::kInternal,
                "cannot create \"" + label + "\" on the token (" + Rv(rv) + ")");
}

}  // namespace

Result<Pkcs11Config> ParsePkcs11Config(std::string_view json_text,
                                       const std::filesystem::path& base_dir) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(Code::kInvalidJson, "keystore is not a JSON object");
  }
  Pkcs11Config c;
  auto field = [&](const char* name, std::string& out, bool path) -> Status {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      return Status(Code::kInvalidJson, "missing or not a string", name);
    }
    std::string v = it->get<std::string>();
    if (path && std::filesystem::path(v).is_relative()) {
      v = (base_dir / v).lexically_normal().string();
    }
    out = std::move(v);
    return Status::Ok();
  };
  CB_RETURN_IF_ERROR(field("module", c.module, true));
  CB_RETURN_IF_ERROR(field("token", c.token, false));
  CB_RETURN_IF_ERROR(field("pin_file", c.pin_file, true));
  CB_RETURN_IF_ERROR(field("master_read", c.master_read, false));
  CB_RETURN_IF_ERROR(field("master_write", c.master_write, false));
  CB_RETURN_IF_ERROR(field("master_mac", c.master_mac, false));
  CB_RETURN_IF_ERROR(field("sign_key", c.sign_key, false));
  return c;
}

std::string Pkcs11ConfigJson(const Pkcs11Config& c) {
  nlohmann::ordered_json j = {{"backend", "pkcs11"},
                              {"module", c.module},
                              {"token", c.token},
                              {"pin_file", c.pin_file},
                              {"master_read", c.master_read},
                              {"master_write", c.master_write},
                              {"master_mac", c.master_mac},
                              {"sign_key", c.sign_key}};
  return j.dump(2) + "\n";
}

Result<std::shared_ptr<const KeyBackend>> OpenPkcs11Backend(const Pkcs11Config& config) {
  CB_ASSIGN_OR_RETURN(auto module, Module::Get(config.module));
  auto backend = std::make_shared<Pkcs11Backend>(config, std::move(module));
  CB_RETURN_IF_ERROR(backend->Start());
  return std::shared_ptr<const KeyBackend>(std::move(backend));
}

Status ImportKeysToToken(const Pkcs11Config& config, const KeySet& keys,
                         std::string_view sign_key_pem) {
  if (keys.backend) return Status(Code::kInvalidKey, "the source keystore must be a file keystore");
  // The Ed25519 seed and public key from the PEM.
  BIO* bio = BIO_new_mem_buf(sign_key_pem.data(), static_cast<int>(sign_key_pem.size()));
  EVP_PKEY* pk = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  std::array<uint8_t, 32> seed{}, pub{};
  size_t seed_len = seed.size(), pub_len = pub.size();
  const bool ok = pk && EVP_PKEY_get_id(pk) == EVP_PKEY_ED25519 &&
                  EVP_PKEY_get_raw_private_key(pk, seed.data(), &seed_len) == 1 &&
                  EVP_PKEY_get_raw_public_key(pk, pub.data(), &pub_len) == 1 && seed_len == 32 &&
                  pub_len == 32;
  EVP_PKEY_free(pk);
  if (!ok) {
    SecureZero(seed);
    return Status(Code::kInvalidKey, "not a PEM Ed25519 private key", "sign_key");
  }

  Provision p;
  Status st = OpenForProvisioning(config, p);
  if (!st.ok()) {
    SecureZero(seed);
    return st;
  }
  const std::array<std::pair<const std::string*, const AesKey*>, 3> masters = {
      std::pair{&config.master_read, &keys.master_read},
      std::pair{&config.master_write, &keys.master_write},
      std::pair{&config.master_mac, &keys.master_mac}};
  for (const auto& [label, key] : masters) {
    AesTemplate t(*label, false);
    std::array<uint8_t, 16> value{};
    std::copy(key->view().begin(), key->view().end(), value.begin());
    t.attrs.push_back({CKA_VALUE, value.data(), value.size()});
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    const CK_RV rv = p.f()->C_CreateObject(p.s, t.attrs.data(), t.attrs.size(), &o);
    SecureZero(value);
    if (Status c = Created(rv, *label); !c.ok()) {
      SecureZero(seed);
      return c;
    }
  }
  EdTemplates t(config.sign_key);
  std::array<uint8_t, 34> point{0x04, 0x20};
  std::copy(pub.begin(), pub.end(), point.begin() + 2);
  t.pub.push_back({CKA_EC_POINT, point.data(), point.size()});
  CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
  CK_RV rv = p.f()->C_CreateObject(p.s, t.pub.data(), t.pub.size(), &o);
  if (Status c = Created(rv, config.sign_key); !c.ok()) {
    SecureZero(seed);
    return c;
  }
  t.priv.push_back({CKA_EC_PARAMS, t.params.data(), t.params.size()});
  t.priv.push_back({CKA_VALUE, seed.data(), seed.size()});
  rv = p.f()->C_CreateObject(p.s, t.priv.data(), t.priv.size(), &o);
  SecureZero(seed);
  return Created(rv, config.sign_key);
}

Status GenerateKeysOnToken(const Pkcs11Config& config) {
  Provision p;
  CB_RETURN_IF_ERROR(OpenForProvisioning(config, p));
  for (const std::string* label : {&config.master_read, &config.master_write, &config.master_mac}) {
    AesTemplate t(*label, true);
    CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    CB_RETURN_IF_ERROR(
        Created(p.f()->C_GenerateKey(p.s, &mech, t.attrs.data(), t.attrs.size(), &o), *label));
  }
  EdTemplates t(config.sign_key);
  CK_MECHANISM mech{CKM_EC_EDWARDS_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
  return Created(p.f()->C_GenerateKeyPair(p.s, &mech, t.pub.data(), t.pub.size(), t.priv.data(),
                                          t.priv.size(), &pub, &priv),
                 config.sign_key);
}

}  // namespace cardbureau::encoder
