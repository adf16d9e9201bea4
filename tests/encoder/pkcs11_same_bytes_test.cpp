// THE SAME BYTES: with the same master keys, every fixture job's card
// encoded through the pkcs11 keystore (SoftHSM2, keys imported from the
// TEST-ONLY file keystore) is byte-identical to the file keystore's, and
// so is its signed QR payload (Ed25519 is deterministic).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/pkcs11_keystore.h"
#include "cardbureau/layout/qr.h"
#include "cardbureau/testing/files.h"
#include "cardbureau/testing/softhsm.h"
#include "encoder_test_support.h"

namespace cardbureau::encoder {
namespace {

namespace fs = std::filesystem;
using devices::LoopbackChannel;
using devices::StockKind;
using namespace cardbureau::encoder::testing;

const char* const kJobs[] = {
    "valid-check-char-x.json",    "valid-derived-valid-until.json", "valid-extb-fallback-font.json",
    "valid-job-id-64-chars.json", "valid-junior-reissue.json",      "valid-latin-diacritics.json",
    "valid-one-character.json",   "valid-primary-new.json",         "valid-reissue-no-uid.json",
    "valid-senior-4k.json",       "valid-uyghur-middle-dot.json"};

TEST(Pkcs11SameBytesTest, FixtureJobsEncodeAndSignIdentically) {
  const fs::path dir = fs::temp_directory_path() / ("cb-pkcs11-same-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  cardbureau::testing::SoftHsm hsm(dir);
  ASSERT_TRUE(hsm.ok());
  Pkcs11Config config;
  config.module = cardbureau::testing::kSoftHsmModule;
  config.token = cardbureau::testing::kSoftHsmToken;
  config.pin_file = hsm.pin_file().string();
  const KeySet file_keys = TestKeys();
  const std::string pem = cardbureau::testing::Slurp(kRepo / "fixtures/keys/qr-test-ed25519.pem");
  {
    const Status s = ImportKeysToToken(config, file_keys, pem);
    ASSERT_TRUE(s.ok()) << s;
  }
  auto backend = OpenPkcs11Backend(config);
  ASSERT_TRUE(backend.ok()) << backend.status();
  KeySet token_keys;
  token_keys.backend = *backend;

  const Personalizer by_file(file_keys);
  const Personalizer by_token(token_keys);
  auto file_signer = layout::QrSigner::FromPem(pem);
  ASSERT_TRUE(file_signer.ok());
  const std::shared_ptr<const KeyBackend> b = *backend;
  const auto token_signer =
      layout::QrSigner::FromSignFunction([b](ByteView m) { return b->SignEd25519(m); });
  auto verifier = layout::QrVerifier::FromPem(b->PublicKeyPem().value());
  ASSERT_TRUE(verifier.ok());

  int cards = 0;
  uint64_t seed = 100;
  for (const char* name : kJobs) {
    SCOPED_TRACE(name);
    const Job job = LoadJob(name);
    const StockKind kind =
        job.card.card_type == CardType::kMifareClassic4K ? StockKind::kBjt4k : StockKind::kBjt1k;
    ++seed;
    auto card_f = NewCard(kind, seed);
    auto card_t = NewCard(kind, seed);
    ASSERT_EQ(card_f->Image(), card_t->Image());
    LoopbackChannel ch_f(card_f), ch_t(card_t);
    auto out_f = by_file.Encode(ch_f, job, Params());
    auto out_t = by_token.Encode(ch_t, job, Params());
    ASSERT_TRUE(out_f.ok()) << out_f.status();
    ASSERT_TRUE(out_t.ok()) << out_t.status();
    EXPECT_EQ(out_t->kind, EncodeKind::kWritten);
    EXPECT_EQ(ToHex(card_f->Image()), ToHex(card_t->Image()));

    layout::QrClaims claims;
    claims.eid = job.student.education_id;
    claims.cno = job.card.card_no;
    claims.sch = job.school.code;
    claims.exp = job.ValidUntil().ToCompact();
    claims.uid = ToHex(out_f->uid);
    claims.seq = 1;
    auto qr_f = file_signer->Sign(claims);
    auto qr_t = token_signer.Sign(claims);
    ASSERT_TRUE(qr_f.ok() && qr_t.ok());
    EXPECT_EQ(*qr_f, *qr_t);
    EXPECT_TRUE(verifier->Verify(*qr_t).ok());
    ++cards;
  }
  EXPECT_EQ(cards, static_cast<int>(std::size(kJobs)));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::encoder
