// The QA and proof commands with a pkcs11 keystore: the TEST-ONLY keys are
// put on a SoftHSM2 token made for each test (`cardbureau keys import`),
// then
//   - `render --keys` signs the QR on the token; the face is byte-identical
//     to the file keystore's (Ed25519 and the renderer are deterministic)
//     and its QR verifies with `qr-verify` and the `keys pubkey` export;
//   - `verify --keys` passes a card encoded with the token's keys and fails
//     a tampered chip image and a face of another UID with VERIFY_MISMATCH;
//   - a bad token set-up (wrong PIN, a PIN file others can read, a label
//     not on the token, a missing module) is refused with its code and
//     exit 1 by render, verify and serve, before anything is written.
// The commands run in this process through the modules' Command tables (the
// functions main.cpp dispatches to; a process start under ASan costs
// seconds); `verify` and `serve` also run as the real executable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/commands.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/personalizer.h"
#include "cardbureau/encoder/pkcs11_keystore.h"
#include "cardbureau/layout/commands.h"
#include "cardbureau/line/commands.h"
#include "cardbureau/testing/files.h"
#include "cardbureau/testing/process.h"
#include "cardbureau/testing/softhsm.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
using cardbureau::testing::ProcessResult;
using cardbureau::testing::RunCardbureau;
using cardbureau::testing::Slurp;

const fs::path kRoot = CARDBUREAU_SOURCE_DIR;
const std::string kJob = (kRoot / "fixtures/jobs/valid-extb-fallback-font.json").string();
const std::string kPhoto = (kRoot / "fixtures/photos/astronaut.png").string();
constexpr char kToday[] = "2026-11-25";

// `cardbureau NAME ARGS...` in this process, as main.cpp resolves it (a
// later module's command replaces an earlier one: the line's `render`).
ProcessResult RunHere(const std::string& name, std::vector<std::string> args) {
  std::optional<Command> found;
  for (auto* group : {&layout::Commands, &encoder::Commands, &line::Commands}) {
    for (auto& c : group()) {
      if (c.name == name) found = std::move(c);
    }
  }
  ProcessResult r;
  if (!found) {
    ADD_FAILURE() << "no command " << name;
    return r;
  }
  args.insert(args.begin(), name);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  r.code = found->run(static_cast<int>(args.size()), argv.data());
  r.err = ::testing::internal::GetCapturedStderr();
  r.out = ::testing::internal::GetCapturedStdout();
  return r;
}

class Pkcs11CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cb-pkcs11-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    hsm_.emplace(dir_ / "hsm");  // sets SOFTHSM2_CONF for us and every child
    ASSERT_TRUE(hsm_->ok());
    cardbureau::testing::CopyTestKeys(kRoot, dir_ / "file");
    file_keystore_ = (dir_ / "file/keystore-test.json").string();
    keystore_ = (dir_ / "keystore-pkcs11.json").string();
    const ProcessResult r = RunHere(
        "keys", {"import", "--keys", file_keystore_, "--module",
                 cardbureau::testing::kSoftHsmModule, "--token", cardbureau::testing::kSoftHsmToken,
                 "--pin-file", hsm_->pin_file().string(), "--out", keystore_});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `cardbureau render` of the fixture job as of kToday into dir_/out.
  ProcessResult Render(const std::string& out, const std::string& uid,
                       std::vector<std::string> key_args) {
    std::vector<std::string> args = {kJob, "--photo", kPhoto, "--out",   out,   "--uid",
                                     uid,  "--seq",   "1",    "--today", kToday};
    args.insert(args.end(), key_args.begin(), key_args.end());
    return RunHere("render", args);
  }

  // A card encoded (in this process) through the pkcs11 keystore: its chip
  // image in dir_/card.mfd; returns its UID (hex).
  std::string EncodeCard() {
    auto keys = encoder::LoadKeystore(keystore_);
    EXPECT_TRUE(keys.ok()) << keys.status();
    if (!keys.ok()) return "";
    EXPECT_NE(keys->backend, nullptr);
    auto job = ParseJob(Slurp(kJob));
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return "";
    const ManualClock clock = ManualClock::AtBeijingDate({2026, 11, 25});
    ValidationOptions vo;
    vo.clock = &clock;
    EXPECT_TRUE(ValidateJob(*job, vo).ok());
    Bytes image = devices::MakeBlankStock(devices::StockKind::kBjt1k, 4242);
    Bytes uid = devices::UidFromImage(image).value();
    auto card = std::make_shared<devices::MifareClassicEmulator>(image, uid);
    devices::LoopbackChannel channel(card);
    const encoder::Personalizer personalizer(*keys);
    auto out = personalizer.Encode(channel, *job, encoder::EncodeParams{{2026, 11, 25}, 1});
    EXPECT_TRUE(out.ok()) << out.status();
    const Bytes written = card->Image();
    std::ofstream(dir_ / "card.mfd", std::ios::binary)
        .write(reinterpret_cast<const char*>(written.data()),
               static_cast<std::streamsize>(written.size()));
    return ToHex(uid);
  }

  fs::path dir_;
  std::optional<cardbureau::testing::SoftHsm> hsm_;
  std::string file_keystore_, keystore_;
};

TEST_F(Pkcs11CliTest, RenderSignsOnTheTokenWithTheFileKeystoresBytes) {
  const std::string on_token = (dir_ / "token").string();
  ProcessResult r = Render(on_token, "04A1B2C3", {"--keys", keystore_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("TEST-ONLY"), std::string::npos) << r.err;  // the token's key, no default
  // The same keys as a file keystore, and as the bare PEM: the same faces.
  const std::string by_file = (dir_ / "file-keystore").string();
  r = Render(by_file, "04A1B2C3", {"--keys", file_keystore_});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string by_pem = (dir_ / "pem").string();
  r = Render(by_pem, "04A1B2C3", {"--sign-key", (dir_ / "file/qr-test-ed25519.pem").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* face : {"front.png", "back.png", "front-k.png"}) {
    const std::string token_bytes = Slurp(fs::path(on_token) / face);
    ASSERT_FALSE(token_bytes.empty()) << face;
    EXPECT_TRUE(token_bytes == Slurp(fs::path(by_file) / face)) << face;
    EXPECT_TRUE(token_bytes == Slurp(fs::path(by_pem) / face)) << face;
  }
  EXPECT_TRUE(fs::exists(fs::path(on_token) / "proof.pdf"));

  // The QR verifies with the public key exported from the token.
  const std::string pub = (dir_ / "qr-pub.pem").string();
  r = RunHere("keys", {"pubkey", "--keys", keystore_, "--out", pub});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Slurp(pub), Slurp(kRoot / "fixtures/keys/qr-test-ed25519.pub.pem"));
  r = RunHere("qr-verify",
              {"--image", on_token + "/front.png", "--pubkey", pub, "--uid", "04A1B2C3"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"uid\":\"04A1B2C3\""), std::string::npos) << r.out;

  // Usage: one key source only.
  r = Render((dir_ / "both").string(), "04A1B2C3",
             {"--keys", keystore_, "--sign-key", (dir_ / "file/qr-test-ed25519.pem").string()});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "both"));
}

TEST_F(Pkcs11CliTest, VerifyPassesTheGoodCardAndFailsATamperedOne) {
  const std::string uid = EncodeCard();
  ASSERT_FALSE(uid.empty());
  const std::string face_dir = (dir_ / "face").string();
  ProcessResult r = Render(face_dir, uid, {"--keys", keystore_});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string card = (dir_ / "card.mfd").string();
  const std::string front = face_dir + "/front.png";

  // The real executable, as QA staff run it.
  r = RunCardbureau({"verify", "--image", card, "--face", front, "--keys", keystore_, "--json"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"chip\":\"ok\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"qr\":\"ok\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"ok\":true"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(uid), std::string::npos) << r.out;

  // The chip record edited after encoding (one digit of the card number):
  // the record still parses, its MAC (keyed on the token) does not verify.
  std::string image = Slurp(card);
  const size_t at = image.find("1000751234567890");
  ASSERT_NE(at, std::string::npos);
  image[at + 15] = '7';
  const fs::path tampered = dir_ / "tampered.mfd";
  std::ofstream(tampered, std::ios::binary) << image;
  r = RunCardbureau(
      {"verify", "--image", tampered.string(), "--face", front, "--keys", keystore_, "--json"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("\"chip\":\"VERIFY_MISMATCH\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MAC"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"ok\":false"), std::string::npos) << r.out;

  // A genuine face of another chip: signed by the token, but not this UID.
  const std::string other = (dir_ / "other").string();
  r = Render(other, "04FFFFFF", {"--keys", keystore_});
  ASSERT_EQ(r.code, 0) << r.err;
  r = RunHere("verify",
              {"--image", card, "--face", other + "/front.png", "--keys", keystore_, "--json"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("\"chip\":\"ok\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"qr\":\"VERIFY_MISMATCH\""), std::string::npos) << r.out;

  // The file keystore with the same keys agrees (the same bytes).
  r = RunHere("verify", {"--image", card, "--face", front, "--keys", file_keystore_, "--json"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

// A keystore that cannot be used: the code on stderr, exit 1, nothing
// rendered; `serve` refuses to start its line (no job pulled, no card fed).
TEST_F(Pkcs11CliTest, BadTokenSetUpIsRefusedWithItsCode) {
  const std::string good = Slurp(keystore_);
  auto variant = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    return p.string();
  };
  // A card image to verify (never reached: the keystore is refused first).
  const Bytes blank_image = devices::MakeBlankStock(devices::StockKind::kBjt1k, 7);
  const std::string blank = (dir_ / "blank.mfd").string();
  std::ofstream(blank, std::ios::binary)
      .write(reinterpret_cast<const char*>(blank_image.data()),
             static_cast<std::streamsize>(blank_image.size()));
  struct Case {
    std::string keystore;
    std::string code;
  };
  const std::vector<Case> cases = {
      {variant("no-module.json", cardbureau::testing::kSoftHsmModule,
               (dir_ / "no-such-module.so").string()),
       "KEYSTORE_UNAVAILABLE module"},
      {variant("no-token.json", "\"token\": \"cardbureau\"", "\"token\": \"other\""),
       "KEYSTORE_UNAVAILABLE token"},
      {variant("no-label.json", "cb-master-mac", "cb-master-mac-2027"),
       "KEYSTORE_UNAVAILABLE master_mac"},
      {variant("aes-as-sign.json", "\"sign_key\": \"cb-qr-sign\"",
               "\"sign_key\": \"cb-master-read\""),
       "INVALID_KEY sign_key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.keystore);
    const fs::path out = dir_ / "render-out";
    ProcessResult r = Render(out.string(), "04A1B2C3", {"--keys", c.keystore});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find(c.code), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out / "front.png"));
    r = RunHere("verify", {"--image", blank, "--face", kPhoto, "--keys", c.keystore});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find(c.code.substr(0, c.code.find(' '))), std::string::npos) << r.err;
  }

  // The PIN: refused by the token (never printed), or in a file others can read.
  std::ofstream(hsm_->pin_file(), std::ios::trunc) << "987654\n";
  ProcessResult r = Render((dir_ / "pin").string(), "04A1B2C3", {"--keys", keystore_});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("KEYSTORE_UNAVAILABLE pin_file"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("987654"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "pin" / "front.png"));

  // serve with a line on that keystore: refused before the line starts.
  fs::create_directories(dir_ / "data" / "keys");
  fs::copy_file(keystore_, dir_ / "data" / "keys" / "keystore.json");
  fs::permissions(dir_ / "data" / "keys" / "keystore.json",
                  fs::perms::owner_read | fs::perms::owner_write);
  std::ofstream(dir_ / "data" / "line.json")
      << R"({"keys": "keys/keystore.json", "stations": [{"name": "s1", "printer": "sim",
            "reader": "loopback", "hopper": ")"
      << (dir_ / "hopper").string() << R"("}]})";
  r = RunCardbureau({"serve", "--centre", "tcp://127.0.0.1:9", "--data", (dir_ / "data").string(),
                     "--production", "line"},
                    std::chrono::seconds(60));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("KEYSTORE_UNAVAILABLE"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("987654"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "hopper" / "output"));

  std::ofstream(hsm_->pin_file(), std::ios::trunc) << cardbureau::testing::kSoftHsmPin << "\n";
  fs::permissions(hsm_->pin_file(), fs::perms::group_read, fs::perm_options::add);
  r = Render((dir_ / "pin").string(), "04A1B2C3", {"--keys", keystore_});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("KEY_FILE_INSECURE"), std::string::npos) << r.err;
  r = RunHere("verify", {"--image", blank, "--face", kPhoto, "--keys", keystore_});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("KEY_FILE_INSECURE"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cardbureau::line
