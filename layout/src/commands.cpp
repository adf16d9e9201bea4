// `cardbureau render` (faces, masks, proof PDF for one job) and
// `cardbureau qr-verify` (decode + verify a face's QR code).
#include "cardbureau/layout/commands.h"

#include <boost/program_options.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>

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

// Exit code for a failed Status: 3 for runtime failures, 1 for refusals.
int Fail(const char* cmd, const Status& s) {
  std::cerr << "cardbureau " << cmd << ": " << s.ToString() << "\n";
  switch (s.code()) {
    case Code::kIoError:
    case Code::kInternal:
    case Code::kInvalidConfig:
      return 3;
    default:
      return 1;
  }
}

int RunRender(const KeystoreQrSigner& keystore_signer, int argc, char** argv) {
  po::options_description opts(
      "Usage: cardbureau render JOB.json --photo FILE --out DIR [--uid HEX] [--seq N]\n"
      "         [--profile NAME] [--sign-key PEM | --keys KEYSTORE] [--today YYYY-MM-DD]\n\n"
      "Validates the job (field rules, glyphs, photo), renders both card faces at the\n"
      "printer profile's size and writes front.png, back.png, front-k.png, back-k.png,\n"
      "front.rgb, back.rgb, front-k.bin, back-k.bin and proof.pdf into DIR.\n"
      "A refused job prints 'CODE field: message' and exits 1.\n\n"
      "Options");
  std::string job_path, photo_path, out_dir, uid = "00000000", profile_name = "evolis-300",
                                             key_path, keystore_path, today;
  int seq = 1;
  opts.add_options()("help,h", "show this help")(
      "photo", po::value(&photo_path), "student photo (JPEG or PNG)")("out", po::value(&out_dir),
                                                                      "output directory (created)")(
      "uid", po::value(&uid), "chip UID for the QR (hex; default 00000000 = preview)")(
      "seq", po::value(&seq), "issue sequence for the QR (default 1)")(
      "profile", po::value(&profile_name), "raster profile: evolis-300 (default), evolis-600")(
      "sign-key", po::value(&key_path),
      "Ed25519 private key (PEM) for the QR; default $CARDBUREAU_QR_SIGN_KEY, else the\n"
      "TEST-ONLY key in fixtures/keys (with a warning; a binary in its build tree only)")(
      "keys-sign", po::value(&key_path), "alias of --sign-key")(
      "keys", po::value(&keystore_path),
      "bureau keystore file (mode 600): sign the QR with its key; with a pkcs11 "
      "keystore the signature is made on the token (docs/keys.md)")(
      "today", po::value(&today), "evaluate date rules as of this Beijing date (testing)")(
      "job", po::value(&job_path), "job JSON file");
  po::positional_options_description pos;
  pos.add("job", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "cardbureau render: " << e.what() << "\n\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (job_path.empty() || photo_path.empty() || out_dir.empty()) {
    std::cerr << "cardbureau render: JOB.json, --photo and --out are required\n\n" << opts << "\n";
    return 2;
  }
  if (!keystore_path.empty() && (!key_path.empty() || !keystore_signer)) {
    std::cerr << "cardbureau render: "
              << (keystore_signer ? "--keys and --sign-key exclude each other"
                                  : "--keys is not available in this build")
              << "\n\n"
              << opts << "\n";
    return 2;
  }
  std::optional<ManualClock> fixed;
  if (!today.empty()) {
    auto d = ParseIsoDate(today);
    if (!d) {
      std::cerr << "cardbureau render: --today must be YYYY-MM-DD\n";
      return 2;
    }
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
        std::cerr << "cardbureau render: INVALID_CONFIG sign-key: no QR signing key; pass "
                     "--sign-key PEM or set CARDBUREAU_QR_SIGN_KEY\n";
        return 2;
      }
      key_path = (*keys / "qr-test-ed25519.pem").string();
      test_key = true;
      std::cerr << "cardbureau render: WARNING: signing the QR with the TEST-ONLY key\n";
    }
  }
  auto profile = FindProfile(profile_name);
  if (!profile.ok()) {
    std::cerr << "cardbureau render: " << profile.status().ToString() << "\n";
    return 2;
  }

  auto text = ReadFileWithLimit(job_path, kMaxJobJsonBytes);
  if (!text.ok()) return Fail("render", text.status());
  auto job = ParseJob(*text);
  if (!job.ok()) return Fail("render", job.status());
  auto photo = ReadFileWithLimit(photo_path, kMaxPhotoBytes);
  if (!photo.ok()) {
    if (photo.status().code() == Code::kInputTooLarge) {
      return Fail("render", Status(Code::kPhotoUnreadable, photo.status().message(), "photo"));
    }
    return Fail("render", photo.status());
  }
  auto tmpl = LoadTemplate(job->card.template_name);
  if (!tmpl.ok()) return Fail("render", tmpl.status());
  auto renderer = CardRenderer::Create(*tmpl, *profile);
  if (!renderer.ok()) return Fail("render", renderer.status());
  ValidationOptions vo;
  if (fixed) vo.clock = &*fixed;
  vo.glyph_check = (*renderer)->glyph_check();
  Status s = ValidateJob(*job, vo);
  if (!s.ok()) return Fail("render", s);
  s = ValidatePhotoBytes(*job, AsBytes(*photo));
  if (!s.ok()) return Fail("render", s);
  Result<QrSigner> signer = Status(Code::kInternal, "no signer");
  if (!keystore_path.empty()) {
    // The keystore's own codes: KEY_FILE_INSECURE, KEYSTORE_UNAVAILABLE,
    // INVALID_KEY, INVALID_JSON (exit 1), IO_ERROR (exit 3).
    signer = keystore_signer(keystore_path);
    if (!signer.ok()) return Fail("render", signer.status());
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
    if (signer.status().code() == Code::kKeyFileInsecure) return Fail("render", signer.status());
    return Fail("render", Status(Code::kInvalidConfig, signer.status().message(), "sign-key"));
  }
  auto prepared = (*renderer)->Prepare(*job, AsBytes(*photo));
  if (!prepared.ok()) return Fail("render", prepared.status());
  auto card = (*renderer)->ComposeQr(std::move(prepared).value(), uid, seq, *signer);
  if (!card.ok()) return Fail("render", card.status());
  s = WriteCardOutputs(*card, out_dir);
  if (!s.ok()) return Fail("render", s);
  auto pdf = ProofPdf::Create();
  if (!pdf.ok()) return Fail("render", pdf.status());
  s = pdf->AddCardProof(*card);
  if (s.ok()) s = pdf->SaveToFile(out_dir + "/proof.pdf");
  if (!s.ok()) return Fail("render", s);
  std::cout << "OK " << job->job_id << " -> " << out_dir << " (" << profile->name << ", QR "
            << card->qr_ec_level << " v" << card->qr_version << ")\n";
  return 0;
}

int RunQrVerify(int argc, char** argv) {
  po::options_description opts(
      "Usage: cardbureau qr-verify (--image FACE.png | --payload TEXT) --pubkey PEM [--uid HEX]\n\n"
      "Decodes the QR code of a card face (zbar) or takes the payload, verifies the\n"
      "Ed25519 signature and prints the claims as JSON. With --uid, also checks that the\n"
      "QR names that chip UID (VERIFY_MISMATCH otherwise). Exit 0 ok, 1 refused.\n\n"
      "Options");
  std::string image, payload, pubkey, uid;
  opts.add_options()("help,h", "show this help")("image", po::value(&image), "face image")(
      "payload", po::value(&payload), "QR payload text")(
      "pubkey", po::value(&pubkey), "Ed25519 public key (PEM)")("uid", po::value(&uid),
                                                                "expected chip UID (hex)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "cardbureau qr-verify: " << e.what() << "\n\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if ((image.empty() == payload.empty()) || pubkey.empty()) {
    std::cerr << "cardbureau qr-verify: one of --image/--payload and --pubkey are required\n\n"
              << opts << "\n";
    return 2;
  }
  auto verifier = QrVerifier::FromPemFile(pubkey);
  if (!verifier.ok()) return Fail("qr-verify", verifier.status());  // INVALID_KEY names the file
  if (!image.empty()) {
    auto img = ReadImageFile(image, "image");  // the one decoder: pixel cap, no exceptions
    if (!img.ok()) return Fail("qr-verify", img.status());
    auto decoded = DecodeQrFromImage(*img);
    if (!decoded.ok()) return Fail("qr-verify", decoded.status());
    payload = *decoded;
  }
  auto claims = verifier->Verify(payload);
  if (!claims.ok()) return Fail("qr-verify", claims.status());
  if (!uid.empty()) {
    auto want = FromHex(uid);
    if (!want.ok() || ToHex(*want) != claims->uid) {
      return Fail("qr-verify",
                  Status(Code::kVerifyMismatch, "QR names UID " + claims->uid + ", expected " + uid,
                         "qr.uid"));
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
