// `cardbureau keys import|generate|pubkey`: puts the bureau's keys on a
// PKCS#11 token and writes the pkcs11 keystore file (docs/keys.md).
#include "keys_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>
#include <span>
#include <string>

#include "cardbureau/core/file.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/pkcs11_keystore.h"

namespace cardbureau::encoder {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

constexpr int kExitOk = 0, kExitRefused = 1, kExitUsage = 2, kExitFailure = 3;

int Fail(std::string_view sub, const Status& s) {
  std::cerr << "cardbureau keys " << sub << ": " << s.ToString() << "\n";
  if (s.code() == Code::kKeyFileInsecure) {
    std::cerr << "  the file must be readable by its owner only: chmod 600 FILE\n";
  }
  switch (s.code()) {
    case Code::kIoError:
    case Code::kInternal:
      return kExitFailure;
    default:
      return kExitRefused;
  }
}

// Writes `text` to a new file of mode 0600 (refuses to overwrite).
Status WriteNew(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Status(Code::kAlreadyExists, path + " exists; not overwritten", "out");
    return Status(Code::kIoError, "cannot create " + path);
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return (::close(fd) == 0 && ok) ? Status::Ok() : Status(Code::kIoError, "cannot write " + path);
}

std::string Absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

int RunProvision(bool import, int argc, char** argv) {
  const char* sub = import ? "import" : "generate";
  po::options_description opts(
      import ? "Usage: cardbureau keys import --keys FILE_KEYSTORE --module SO --token LABEL\n"
               "                             --pin-file F --out PKCS11_KEYSTORE.json\n\n"
               "Puts a file keystore's three master keys and its Ed25519 QR signing key on a\n"
               "PKCS#11 token as sensitive, non-extractable token objects (labels\n"
               "cb-master-read, cb-master-write, cb-master-mac, cb-qr-sign) and writes the\n"
               "pkcs11 keystore file (mode 0600). Afterwards destroy the file keystore or keep\n"
               "it offline (docs/keys.md). Exit 0 done, 1 refused (the message names the\n"
               "code), 2 usage, 3 runtime failure.\n\nOptions"
             : "Usage: cardbureau keys generate --module SO --token LABEL --pin-file F\n"
               "                               --out PKCS11_KEYSTORE.json\n\n"
               "Generates the three AES-128 master keys and the Ed25519 QR signing key ON the\n"
               "token (nothing ever leaves it) and writes the pkcs11 keystore file (mode\n"
               "0600). Export the public key with `cardbureau keys pubkey`. Exit 0 done, 1\n"
               "refused (the message names the code), 2 usage, 3 runtime failure.\n\nOptions");
  std::string keys_path, out;
  Pkcs11Config c;
  opts.add_options()("help,h", "show this help")("module", po::value(&c.module),
                                                 "the PKCS#11 module (.so) of the HSM")(
      "token", po::value(&c.token), "the token's label")("pin-file", po::value(&c.pin_file),
                                                         "file holding the user PIN (mode 0600)")(
      "out", po::value(&out), "the pkcs11 keystore file to write (must not exist)");
  if (import) opts.add_options()("keys", po::value(&keys_path), "the file keystore to import");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "cardbureau keys " << sub << ": " << e.what() << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  if (c.module.empty() || c.token.empty() || c.pin_file.empty() || out.empty() ||
      (import && keys_path.empty())) {
    std::cerr << "cardbureau keys " << sub << ": missing options\n\n" << opts << "\n";
    return kExitUsage;
  }
  c.module = Absolute(c.module);
  c.pin_file = Absolute(c.pin_file);
  if (fs::exists(out)) {
    return Fail(sub, Status(Code::kAlreadyExists, out + " exists; not overwritten", "out"));
  }
  Status s;
  if (import) {
    auto keys = LoadKeystore(keys_path);
    if (!keys.ok()) return Fail(sub, keys.status());
    if (keys->backend) {
      return Fail(sub, Status(Code::kInvalidConfig, "--keys must be a file keystore", "keys"));
    }
    auto pem = ReadSecretFile(keys->sign_key_path, 64 * 1024, "QR signing key");
    if (!pem.ok()) return Fail(sub, pem.status());
    s = ImportKeysToToken(c, *keys, *pem);
    SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(pem->data()), pem->size()));
  } else {
    s = GenerateKeysOnToken(c);
  }
  if (!s.ok()) return Fail(sub, s);
  // Check what was made opens as a keystore before writing the file.
  auto backend = OpenPkcs11Backend(c);
  if (!backend.ok()) return Fail(sub, backend.status());
  s = WriteNew(out, Pkcs11ConfigJson(c));
  if (!s.ok()) return Fail(sub, s);
  std::cout << "keys on token \"" << c.token << "\"; keystore written to " << out << "\n";
  return kExitOk;
}

int RunPubkey(int argc, char** argv) {
  po::options_description opts(
      "Usage: cardbureau keys pubkey --keys PKCS11_KEYSTORE.json [--out PUB.pem]\n\n"
      "Prints (or writes) the PEM public key of the token's QR signing key, the key\n"
      "`cardbureau qr-verify --pubkey` takes. Exit 0 done, 1 refused, 2 usage, 3\n"
      "runtime failure.\n\nOptions");
  std::string keys_path, out;
  opts.add_options()("help,h", "show this help")("keys", po::value(&keys_path),
                                                 "the pkcs11 keystore file")(
      "out", po::value(&out), "write the PEM here instead of standard output");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "cardbureau keys pubkey: " << e.what() << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  if (keys_path.empty()) {
    std::cerr << "cardbureau keys pubkey: --keys is required\n\n" << opts << "\n";
    return kExitUsage;
  }
  auto keys = LoadKeystore(keys_path);
  if (!keys.ok()) return Fail("pubkey", keys.status());
  if (!keys->backend) {
    return Fail("pubkey", Status(Code::kInvalidConfig,
                                 "not a pkcs11 keystore (a file keystore's public key is "
                                 "`openssl pkey -pubout` of its sign_key)",
                                 "keys"));
  }
  auto pem = keys->backend->PublicKeyPem();
  if (!pem.ok()) return Fail("pubkey", pem.status());
  if (out.empty()) {
    std::cout << *pem;
    return kExitOk;
  }
  const Status s = WriteNew(out, *pem);
  return s.ok() ? kExitOk : Fail("pubkey", s);
}

}  // namespace

int RunKeys(int argc, char** argv) {
  const std::string usage =
      "Usage: cardbureau keys import|generate|pubkey [options]  (--help on each)\n"
      "  import    put a file keystore's keys on a PKCS#11 token\n"
      "  generate  generate the keys on a PKCS#11 token\n"
      "  pubkey    export the token's QR public key (PEM)\n";
  if (argc < 2) {
    std::cerr << usage;
    return kExitUsage;
  }
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h") {
    std::cout << usage;
    return kExitOk;
  }
  if (sub == "import") return RunProvision(true, argc - 1, argv + 1);
  if (sub == "generate") return RunProvision(false, argc - 1, argv + 1);
  if (sub == "pubkey") return RunPubkey(argc - 1, argv + 1);
  std::cerr << "cardbureau keys: unknown subcommand " << sub << "\n" << usage;
  return kExitUsage;
}

}  // namespace cardbureau::encoder
