#include "cardbureau/layout/qr.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgproc.hpp>

#include "cardbureau/core/bytes.h"

namespace cardbureau::layout {
namespace {

const std::string kKeys = std::string(CARDBUREAU_SOURCE_DIR) + "/fixtures/keys/";

// A private key file of this test, mode `perms` (git checks fixtures out
// 0644; a signing key must be 0600).
std::string KeyCopy(std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                   std::filesystem::perms::owner_write,
                    const std::string& name = "sign.pem") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cb-qr-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path p = dir / name;
  fs::copy_file(kKeys + "qr-test-ed25519.pem", p, fs::copy_options::overwrite_existing);
  fs::permissions(p, perms);
  return p.string();
}

QrClaims Example() {
  QrClaims c;
  c.eid = "12345678";
  c.cno = "1000751234567890";
  c.sch = "11010810";
  c.exp = "20280930";
  c.uid = "04A1B2C3";
  c.seq = 1;
  return c;
}

TEST(QrClaimsTest, CompactJsonInTheFixedOrder) {
  auto j = ClaimsJson(Example());
  ASSERT_TRUE(j.ok()) << j.status();
  // The exact example object of card-format.md §2.
  EXPECT_EQ(*j, R"({"v":1,"eid":"12345678","cno":"1000751234567890","sch":"11010810",)"
                R"("exp":"20280930","uid":"04A1B2C3","seq":1})");
  auto back = ParseClaimsJson(*j);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Example());
}

TEST(QrClaimsTest, RejectsBadForms) {
  QrClaims c = Example();
  c.uid = "04a1b2c3";
  EXPECT_EQ(ClaimsJson(c).status().field(), "qr.uid");
  c = Example();
  c.eid = "1234567";
  EXPECT_EQ(ClaimsJson(c).status().field(), "qr.eid");
  c = Example();
  c.seq = 0;
  EXPECT_EQ(ClaimsJson(c).status().field(), "qr.seq");
  c = Example();
  c.cno = "12\"}";
  EXPECT_EQ(ClaimsJson(c).status().code(), Code::kInvalidField);
  // Not canonical: spaces, reordered keys, extra keys.
  EXPECT_EQ(
      ParseClaimsJson(
          R"({"v":1, "eid":"12345678","cno":"1","sch":"1","exp":"20280930","uid":"04A1B2C3","seq":1})")
          .status()
          .code(),
      Code::kQrUnreadable);
  EXPECT_EQ(
      ParseClaimsJson(
          R"({"eid":"12345678","v":1,"cno":"1","sch":"1","exp":"20280930","uid":"04A1B2C3","seq":1})")
          .status()
          .code(),
      Code::kQrUnreadable);
  EXPECT_EQ(ParseClaimsJson("[]").status().code(), Code::kQrUnreadable);
}

TEST(QrSignTest, SignVerifyRoundTripAndTamper) {
  auto signer = QrSigner::FromPemFile(KeyCopy());
  ASSERT_TRUE(signer.ok()) << signer.status();
  auto verifier = QrVerifier::FromPemFile(kKeys + "qr-test-ed25519.pub.pem");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto payload = signer->Sign(Example());
  ASSERT_TRUE(payload.ok()) << payload.status();
  ASSERT_TRUE(payload->starts_with("BJSC1:"));
  const size_t dot = payload->rfind('.');
  auto claims_bytes = Base64UrlDecode(payload->substr(6, dot - 6));
  ASSERT_TRUE(claims_bytes.ok());
  EXPECT_EQ(std::string(claims_bytes->begin(), claims_bytes->end()), *ClaimsJson(Example()));
  EXPECT_EQ(payload->size() - dot - 1, 86u);  // 64 bytes base64url, no padding
  auto claims = verifier->Verify(*payload);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(*claims, Example());

  // Another UID signed separately does not verify with the first signature.
  QrClaims other = Example();
  other.uid = "04A1B2C4";
  const std::string forged =
      "BJSC1:" + Base64UrlEncode(AsBytes(*ClaimsJson(other))) + payload->substr(dot);
  EXPECT_EQ(verifier->Verify(forged).status().code(), Code::kInvalidSignature);
  std::string flipped = *payload;
  flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verifier->Verify(flipped).status().code(), Code::kInvalidSignature);
  EXPECT_EQ(verifier->Verify("BJSC2:" + payload->substr(6)).status().code(), Code::kQrUnreadable);
  EXPECT_EQ(verifier->Verify("BJSC1:abc").status().code(), Code::kQrUnreadable);
  EXPECT_EQ(verifier->Verify("BJSC1:a=b.c").status().code(), Code::kQrUnreadable);

  // The private key file also yields a verifier (its public half).
  auto from_private = QrVerifier::FromPemFile(KeyCopy());
  ASSERT_TRUE(from_private.ok());
  EXPECT_TRUE(from_private->Verify(*payload).ok());
}

TEST(QrSignTest, KeyErrors) {
  EXPECT_EQ(QrSigner::FromPemFile("/nonexistent.pem").status().code(), Code::kIoError);
  EXPECT_EQ(QrSigner::FromPem("not a key").status().code(), Code::kInvalidKey);
  // A public key is not a signing key.
  std::ifstream in(kKeys + "qr-test-ed25519.pub.pem");
  std::string pub((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(QrSigner::FromPem(pub).status().code(), Code::kInvalidKey);
  // Moved-from signer fails cleanly.
  auto signer = QrSigner::FromPemFile(KeyCopy());
  ASSERT_TRUE(signer.ok());
  QrSigner moved = std::move(signer).value();
  EXPECT_TRUE(moved.Sign(Example()).ok());
}

TEST(QrSignTest, SigningKeyHeldToTheSecretsRule) {
  namespace fs = std::filesystem;
  // Readable by group or others: refused, by the signer and by a verifier
  // given the private key (the keystore's sign_key).
  for (fs::perms extra : {fs::perms::group_read, fs::perms::others_read}) {
    const std::string p =
        KeyCopy(fs::perms::owner_read | fs::perms::owner_write | extra, "open.pem");
    auto s = QrSigner::FromPemFile(p);
    EXPECT_EQ(s.status().code(), Code::kKeyFileInsecure) << s.status();
    EXPECT_NE(s.status().message().find("chmod 600"), std::string::npos);
    EXPECT_EQ(QrVerifier::FromPemFile(p).status().code(), Code::kKeyFileInsecure);
  }
  // A symbolic link to a good key is refused (the link's target could change).
  const std::string good = KeyCopy();
  const std::string link = good + ".link";
  fs::remove(link);
  fs::create_symlink(good, link);
  EXPECT_EQ(QrSigner::FromPemFile(link).status().code(), Code::kIoError);
  // A public key stays readable by all; an empty one is INVALID_KEY naming the file.
  EXPECT_TRUE(QrVerifier::FromPemFile(kKeys + "qr-test-ed25519.pub.pem").ok());
  const std::string empty = good + ".empty";
  std::ofstream(empty).close();
  auto v = QrVerifier::FromPemFile(empty);
  EXPECT_EQ(v.status().code(), Code::kInvalidKey);
  EXPECT_NE(v.status().message().find("is empty"), std::string::npos) << v.status();
}

TEST(QrSymbolTest, LevelDependsOnModuleSize) {
  auto signer = QrSigner::FromPemFile(KeyCopy());
  ASSERT_TRUE(signer.ok());
  const std::string payload = *signer->Sign(Example());
  // 25 mm at 300 dpi = 295 px: M fits with 4 px modules, Q (larger symbol) does not.
  auto m = EncodeQr(payload, 295, 300);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->ec_level, 'M');
  EXPECT_GE(QrModulePx(*m, 295) * 25.4 / 300, kMinQrModuleMm);
  // A bigger box allows Q.
  auto q = EncodeQr(payload, 600, 300);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->ec_level, 'Q');
  EXPECT_GT(q->size, m->size);
  // Too small even for M.
  EXPECT_EQ(EncodeQr(payload, 200, 300).status().code(), Code::kInvalidTemplate);
}

TEST(QrSymbolTest, DrawnSymbolDecodesWithZbar) {
  auto signer = QrSigner::FromPemFile(KeyCopy());
  ASSERT_TRUE(signer.ok());
  const std::string payload = *signer->Sign(Example());
  auto sym = EncodeQr(payload, 295, 300);
  ASSERT_TRUE(sym.ok());
  cv::Mat img(400, 400, CV_8UC3, cv::Scalar(40, 200, 240));
  cv::Mat k = cv::Mat::zeros(400, 400, CV_8UC1);
  DrawQr(*sym, img, &k, cv::Rect(50, 50, 295, 295));
  auto decoded = DecodeQrFromImage(img);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, payload);
  // The K mask alone (black modules) decodes too once inverted.
  cv::Mat inv = 255 - k;
  auto from_mask = DecodeQrFromImage(inv);
  ASSERT_TRUE(from_mask.ok()) << from_mask.status();
  EXPECT_EQ(*from_mask, payload);
  EXPECT_EQ(DecodeQrFromImage(cv::Mat(100, 100, CV_8UC1, cv::Scalar(255))).status().code(),
            Code::kQrUnreadable);
}

// DrawQr writes module rows directly; the pixels are those of one
// cv::rectangle(FILLED) per dark module, also where the box is clipped.
TEST(QrSymbolTest, DrawnPixelsAreOneRectanglePerModule) {
  auto sym = EncodeQr("HC1:cardbureau-test-payload-0123456789", 200, 300);
  ASSERT_TRUE(sym.ok());
  for (const cv::Rect box : {cv::Rect(50, 40, 201, 205), cv::Rect(-30, 250, 200, 200)}) {
    cv::Mat img(400, 400, CV_8UC3, cv::Scalar(40, 200, 240)), k(400, 400, CV_8UC1, cv::Scalar(7));
    DrawQr(*sym, img, &k, box);
    cv::Mat want = cv::Mat(400, 400, CV_8UC3, cv::Scalar(40, 200, 240)),
            want_k(400, 400, CV_8UC1, cv::Scalar(7));
    const int m = QrModulePx(*sym, std::min(box.width, box.height));
    const int span = m * sym->size;
    const int ox = box.x + (box.width - span) / 2, oy = box.y + (box.height - span) / 2;
    cv::rectangle(want, box, cv::Scalar(255, 255, 255), cv::FILLED);
    cv::rectangle(want_k, box, cv::Scalar(0), cv::FILLED);
    for (int y = 0; y < sym->size; ++y) {
      for (int x = 0; x < sym->size; ++x) {
        if (!sym->dark(x, y)) continue;
        const cv::Rect r(ox + x * m, oy + y * m, m, m);
        cv::rectangle(want, r, cv::Scalar(0, 0, 0), cv::FILLED);
        cv::rectangle(want_k, r, cv::Scalar(255), cv::FILLED);
      }
    }
    EXPECT_EQ(cv::norm(img, want, cv::NORM_INF), 0) << box;
    EXPECT_EQ(cv::norm(k, want_k, cv::NORM_INF), 0) << box;
  }
}

}  // namespace
}  // namespace cardbureau::layout
