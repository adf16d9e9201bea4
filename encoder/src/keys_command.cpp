// `cardbureau keys import|generate|pubkey`: puts the bureau's keys on a
// PKCS#11 token and writes the pkcs11 keystore file (docs/keys.md).
#include "keys_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <span>
#include <string>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/file.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/pkcs11_keystore.h"

namespace cardbureau::encoder {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

using cli::kExitOk;

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
  cli::Cli cli(
      import ? "keys import" : "keys generate",
      import ? "--keys FILE_KEYSTORE --module SO --token LABEL\n"
               "                             --pin-file F --out PKCS11_KEYSTORE.json"
             : "--module SO --token LABEL --pin-file F\n"
               "                               --out PKCS11_KEYSTORE.json",
      import ? "Puts a file keystore's three master keys and its Ed25519 QR signing key on a\n"
               "PKCS#11 token as sensitive, non-extractable token objects (labels\n"
               "cb-master-read, cb-master-write, cb-master-mac, cb-qr-sign) and writes the\n"
               "pkcs11 keystore file (mode 0600). Afterwards destroy the file keystore or keep\n"
               "it offline (docs/keys.md). Exit 0 done, 1 refused (the message names the\n"
               "code), 2 usage, 3 runtime failure."
             : "Generates the three AES-128 master keys and the Ed25519 QR signing key ON the\n"
               "token (nothing ever leaves it) and writes the pkcs11 keystore file (mode\n"
               "0600). Export the public key with `cardbureau keys pubkey`. Exit 0 done, 1\n"
               "refused (the message names the code), 2 usage, 3 runtime failure.");
  std::string keys_path, out;
  Pkcs11Config c;
  cli.Options()("module", po::value(&c.module), "the PKCS#11 module (.so) of the HSM")(
      "token", po::value(&c.token), "the token's label")("pin-file", po::value(&c.pin_file),
                                                         "file holding the user PIN (mode 0600)")(
      "out", po::value(&out), "the pkcs11 keystore file to write (must not exist)");
  if (import) cli.Options()("keys", po::value(&keys_path), "the file keystore to import");
  if (import) {
    cli.Example(
        "cardbureau keys import --keys keystore.json --module /usr/lib/softhsm/libsofthsm2.so "
        "--token bureau --pin-file pin --out pkcs11.json");
  } else {
    cli.Example(
        "cardbureau keys generate --module /usr/lib/softhsm/libsofthsm2.so --token bureau "
        "--pin-file pin --out pkcs11.json");
  }
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = import ? cli.Require({"keys", "module", "token", "pin-file", "out"})
                       : cli.Require({"module", "token", "pin-file", "out"})) {
    return *rc;
  }
  if (Status s = cli::CheckOutputFile(out, "out"); !s.ok()) return cli.Fail(s);
  c.module = Absolute(c.module);
  c.pin_file = Absolute(c.pin_file);
  if (fs::exists(out)) {
    return cli.Fail(Status(Code::kAlreadyExists, out + " exists; not overwritten", "out"));
  }
  Status s;
  if (import) {
    auto keys = LoadKeystore(keys_path);
    if (!keys.ok()) return cli.Fail(keys.status());
    if (keys->backend) {
      return cli.Fail(Status(Code::kInvalidConfig, "--keys must be a file keystore", "keys"));
    }
    auto pem = ReadSecretFile(keys->sign_key_path, 64 * 1024, "QR signing key");
    if (!pem.ok()) return cli.Fail(pem.status());
    s = ImportKeysToToken(c, *keys, *pem);
    SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(pem->data()), pem->size()));
  } else {
    s = GenerateKeysOnToken(c);
  }
  if (!s.ok()) return cli.Fail(s);
  // Check what was made opens as a keystore before writing the file.
  auto backend = OpenPkcs11Backend(c);
  if (!backend.ok()) return cli.Fail(backend.status());
  s = WriteNew(out, Pkcs11ConfigJson(c));
  if (!s.ok()) return cli.Fail(s);
  std::cout << "keys on token \"" << c.token << "\"; keystore written to " << out << "\n";
  return kExitOk;
}

int RunPubkey(int argc, char** argv) {
  cli::Cli cli("keys pubkey", "--keys PKCS11_KEYSTORE.json [--out PUB.pem]",
               "Prints (or writes) the PEM public key of the token's QR signing key, the key\n"
               "`cardbureau qr-verify --pubkey` takes. Exit 0 done, 1 refused, 2 usage, 3\n"
               "runtime failure.");
  std::string keys_path, out;
  cli.Options()("keys", po::value(&keys_path), "the pkcs11 keystore file")(
      "out", po::value(&out), "write the PEM here instead of standard output");
  cli.Example("cardbureau keys pubkey --keys pkcs11.json --out qr-pub.pem");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"keys"})) return *rc;
  if (!out.empty()) {
    if (Status s = cli::CheckOutputFile(out, "out"); !s.ok()) return cli.Fail(s);
  }
  auto keys = LoadKeystore(keys_path);
  if (!keys.ok()) return cli.Fail(keys.status());
  if (!keys->backend) {
    return cli.Fail(Status(Code::kInvalidConfig,
                           "not a pkcs11 keystore (a file keystore's public key is "
                           "`openssl pkey -pubout` of its sign_key)",
                           "keys"));
  }
  auto pem = keys->backend->PublicKeyPem();
  if (!pem.ok()) return cli.Fail(pem.status());
  if (out.empty()) {
    std::cout << *pem;
    return kExitOk;
  }
  const Status s = WriteNew(out, *pem);
  return s.ok() ? kExitOk : cli.Fail(s);
}

}  // namespace

int RunKeys(int argc, char** argv) {
  const std::vector<std::string> subs = {"import", "generate", "pubkey"};
  const std::string usage =
      "Usage: cardbureau keys import|generate|pubkey [options]  (--help on each)\n"
      "  import    put a file keystore's keys on a PKCS#11 token\n"
      "  generate  generate the keys on a PKCS#11 token\n"
      "  pubkey    export the token's QR public key (PEM)\n\n"
      "Examples:\n"
      "  cardbureau keys generate --help\n"
      "  cardbureau keys pubkey --keys pkcs11.json\n";
  if (argc < 2)
    return cli::UsageError("keys", "a subcommand is required: import, generate or pubkey");
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h") {
    std::cout << usage;
    return kExitOk;
  }
  if (sub == "import") return RunProvision(true, argc - 1, argv + 1);
  if (sub == "generate") return RunProvision(false, argc - 1, argv + 1);
  if (sub == "pubkey") return RunPubkey(argc - 1, argv + 1);
  std::string problem = "unknown subcommand '" + sub + "'";
  const std::string hint = cli::DidYouMean(sub, subs);
  problem += hint.empty() ? " (import, generate or pubkey)" : "; " + hint;
  return cli::UsageError("keys", problem);
}

}  // namespace cardbureau::encoder
