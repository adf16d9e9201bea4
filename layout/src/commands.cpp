// `cardbureau render` (faces, masks, proof PDF for one job) and
// `cardbureau qr-verify` (decode + verify a face's QR code).
#include "cardbureau/layout/commands.h"

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/file.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/share_dir.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/photo.h"
#include "cardbureau/layout/proof_pdf.h"
#include "cardbureau/layout/qr.h"
#include "cardbureau/layout/template.h"

namespace cardbureau::layout {
namespace {

namespace po = boost::program_options;

// Exit code for a failed Status (cli::ExitCodeFor); a configuration that
// cannot be used (template, profile, signing key) is the operator's set-up:
// a runtime failure.
int Fail(const cli::Cli& cli, const Status& s) {
  if (s.code() == Code::kInvalidConfig) return cli.Runtime(s);
  return cli.Fail(s);
}

int RunRender(const KeystoreQrSigner& keystore_signer, int argc, char** argv) {
  cli::Cli cli(
      "render",
      "JOB.json --photo FILE --out DIR [--uid HEX] [--seq N]\n"
      "         [--transit-no DIGITS] [--profile NAME] [--sign-key PEM | --keys KEYSTORE]\n"
      "         [--today YYYY-MM-DD]",
      "Validates the job (field rules, glyphs, photo), renders both card faces at the\n"
      "printer profile's size and writes front.png, back.png, front-k.png, back-k.png,\n"
      "front.rgb, back.rgb, front-k.bin, back-k.bin and proof.pdf into DIR.\n"
      "A refused job prints 'CODE field: message' and exits 1. Exit 0 rendered,\n"
      "1 refused, 2 usage (also: no QR signing key), 3 runtime failure.");
  std::string job_path, photo_path, out_dir, uid = "00000000", profile_name = "evolis-300",
                                             key_path, keystore_path, today, transit_no;
  int seq = 1;
  cli.Options()("photo", po::value(&photo_path), "student photo (JPEG or PNG)")(
      "out", po::value(&out_dir), "output directory (created)")(
      "uid", po::value(&uid), "chip UID for the QR (hex; default 00000000 = preview)")(
      "seq", po::value(&seq), "issue sequence for the QR (default 1)")(
      "transit-no", po::value(&transit_no),
      "the card's transit number (its stock lot) for the front (default: none)")(
      "profile", po::value(&profile_name), "raster profile: evolis-300 (default), evolis-600")(
      "sign-key", po::value(&key_path),
      "Ed25519 private key (PEM) for the QR; default $CARDBUREAU_QR_SIGN_KEY, else the\n"
      "TEST-ONLY key in fixtures/keys (with a warning; a binary in its build tree only)")(
      "keys-sign", po::value(&key_path), "alias of --sign-key")(
      "keys", po::value(&keystore_path),
      "bureau keystore file (mode 600): sign the QR with its key; with a pkcs11 "
      "keystore the signature is made on the token (docs/keys.md)")(
      "today", po::value(&today), "evaluate date rules as of this Beijing date (testing)")(
      "job", po::value(&job_path), "job JSON file (or the first argument)");
  cli.Positional("job", "JOB.json");
  cli.Example(
      "cardbureau render fixtures/jobs/valid-junior-reissue.json --photo "
      "fixtures/photos/astronaut.png --out /tmp/card");
  cli.Example(
      "cardbureau render job.json --photo photo.jpg --out DIR --uid 04A1B2C3 --keys keystore.json");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"job", "photo", "out"})) return *rc;
  if (!keystore_path.empty() && !key_path.empty()) {
    return cli.Usage("--keys and --sign-key exclude each other");
  }
  if (!keystore_path.empty() && !keystore_signer) {
    return cli.Usage("--keys is not available in this build");
  }
  std::optional<ManualClock> fixed;
  if (!today.empty()) {
    auto d = ParseIsoDate(today);
    if (!d) return cli.Usage("--today must be YYYY-MM-DD, not '" + today + "'");
    fixed.emplace(ManualClock::AtBeijingDate(*d).Now());
  }
  bool test_key = false;  // the TEST-ONLY key of fixtures/keys (public, not a secret)
  if (key_path.empty() && keystore_path.empty()) {
    if (const char* env = std::getenv("CARDBUREAU_QR_SIGN_KEY"); env && *env) {
      key_path = env;
    } else {
      // The test key exists only in a source tree, for a binary in its build
      // tree; an installed binary has no default key.
      auto keys = FindShared(SharedItem::kTestKeys);
      if (!keys.ok()) {
        return cli.Usage(
            "INVALID_CONFIG sign-key: no QR signing key; pass --sign-key PEM or set "
            "CARDBUREAU_QR_SIGN_KEY");
      }
      key_path = (*keys / "qr-test-ed25519.pem").string();
      test_key = true;
      cli.Note("WARNING: signing the QR with the TEST-ONLY key");
    }
  }
  auto profile = FindProfile(profile_name);
  if (!profile.ok()) return cli.Usage(profile.status().ToString());
  if (Status o = cli::CheckOutputDir(out_dir, "out"); !o.ok()) return Fail(cli, o);

  auto text = cli::ReadInputFile(job_path, kMaxJobJsonBytes, "job");
  if (!text.ok()) return Fail(cli, text.status());
  auto job = ParseJob(*text);
  if (!job.ok()) return Fail(cli, job.status());
  auto photo = cli::ReadInputFile(photo_path, kMaxPhotoBytes, "photo");
  if (!photo.ok()) {
    if (photo.status().code() == Code::kInputTooLarge) {
      return Fail(cli, Status(Code::kPhotoUnreadable, photo.status().message(), "photo"));
    }
    return Fail(cli, photo.status());
  }
  auto tmpl = LoadTemplate(job->card.template_name);
  if (!tmpl.ok()) return Fail(cli, tmpl.status());
  auto renderer = CardRenderer::Create(*tmpl, *profile);
  if (!renderer.ok()) return Fail(cli, renderer.status());
  ValidationOptions vo;
  if (fixed) vo.clock = &*fixed;
  vo.glyph_check = (*renderer)->glyph_check();
  Status s = ValidateJob(*job, vo);
  if (!s.ok()) return Fail(cli, s);
  s = ValidatePhotoBytes(*job, AsBytes(*photo));
  if (!s.ok()) return Fail(cli, s);
  Result<QrSigner> signer = Status(Code::kInternal, "no signer");
  if (!keystore_path.empty()) {
    // The keystore's own codes: KEY_FILE_INSECURE, KEYSTORE_UNAVAILABLE,
    // INVALID_KEY, INVALID_JSON (exit 1), IO_ERROR (exit 3).
    signer = keystore_signer(keystore_path);
    if (!signer.ok()) return Fail(cli, signer.status());
  } else if (test_key) {
    // Checked into git (so mode 0644): read as the public test key it is.
    auto pem = ReadFileWithLimit(key_path, 64 * 1024);
    signer = pem.ok() ? QrSigner::FromPem(*pem) : Result<QrSigner>(pem.status());
  } else {
    signer = QrSigner::FromPemFile(key_path);
  }
  if (!signer.ok()) {
    // A key readable by others is refused as such (exit 1); any other key
    // problem is the operator's configuration.
    if (signer.status().code() == Code::kKeyFileInsecure) return Fail(cli, signer.status());
    return Fail(cli, Status(Code::kInvalidConfig, signer.status().message(), "sign-key"));
  }
  auto prepared = (*renderer)->Prepare(*job, AsBytes(*photo));
  if (!prepared.ok()) return Fail(cli, prepared.status());
  auto card = (*renderer)->ComposeQr(std::move(prepared).value(), uid, seq, *signer, transit_no);
  if (!card.ok()) return Fail(cli, card.status());
  s = WriteCardOutputs(*card, out_dir);
  if (!s.ok()) return Fail(cli, s);
  auto pdf = ProofPdf::Create();
  if (!pdf.ok()) return Fail(cli, pdf.status());
  s = pdf->AddCardProof(*card);
  if (s.ok()) s = pdf->SaveToFile(out_dir + "/proof.pdf");
  if (!s.ok()) return Fail(cli, s);
  std::cout << "OK " << job->job_id << " -> " << out_dir << " (" << profile->name << ", QR "
            << card->qr_ec_level << " v" << card->qr_version << ")\n";
  return 0;
}

int RunQrVerify(int argc, char** argv) {
  cli::Cli cli("qr-verify", "(--image FACE.png | --payload TEXT) --pubkey PEM [--uid HEX]",
               "Decodes the QR code of a card face (zbar) or takes the payload, verifies the\n"
               "Ed25519 signature and prints the claims as JSON. With --uid, also checks that the\n"
               "QR names that chip UID (VERIFY_MISMATCH otherwise). Exit 0 ok, 1 refused,\n"
               "2 usage, 3 runtime failure.");
  std::string image, payload, pubkey, uid;
  cli.Options()("image", po::value(&image), "face image")("payload", po::value(&payload),
                                                          "QR payload text")(
      "pubkey", po::value(&pubkey), "Ed25519 public key (PEM)")("uid", po::value(&uid),
                                                                "expected chip UID (hex)");
  cli.Example(
      "cardbureau qr-verify --image out/cards/DEMO-0001/front.png --pubkey "
      "fixtures/keys/qr-test-ed25519.pub.pem");
  cli.Example("cardbureau qr-verify --payload 'BJSC1:...' --pubkey qr.pub.pem --uid 04A1B2C3");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Exclusive("image", "payload", /*one_required=*/true)) return *rc;
  if (auto rc = cli.Require({"pubkey"})) return *rc;
  auto verifier = QrVerifier::FromPemFile(pubkey);
  if (!verifier.ok()) return Fail(cli, verifier.status());  // INVALID_KEY names the file
  if (!image.empty()) {
    if (Status f = cli::CheckInputFile(image, "image"); !f.ok()) return Fail(cli, f);
    auto img = ReadImageFile(image, "image");  // the one decoder: pixel cap, no exceptions
    if (!img.ok()) return Fail(cli, img.status());
    auto decoded = DecodeQrFromImage(*img);
    if (!decoded.ok()) return Fail(cli, decoded.status());
    payload = *decoded;
  }
  auto claims = verifier->Verify(payload);
  if (!claims.ok()) return Fail(cli, claims.status());
  if (!uid.empty()) {
    auto want = FromHex(uid);
    if (!want.ok() || ToHex(*want) != claims->uid) {
      return Fail(cli, Status(Code::kVerifyMismatch,
                              "QR names UID " + claims->uid + ", expected " + uid, "qr.uid"));
    }
  }
  std::cout << *ClaimsJson(*claims) << "\n";
  return 0;
}

}  // namespace

Command MakeRenderCommand(KeystoreQrSigner keystore_signer) {
  return {"render", "render a job's card faces, K masks and proof PDF",
          [ks = std::move(keystore_signer)](int argc, char** argv) {
            return RunRender(ks, argc, argv);
          }};
}

std::vector<Command> Commands() {
  return {MakeRenderCommand(nullptr),
          {"qr-verify", "decode and verify the signed QR code of a card face", RunQrVerify}};
}

}  // namespace cardbureau::layout
