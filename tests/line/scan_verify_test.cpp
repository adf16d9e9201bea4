// `cardbureau verify --scan` and `read --image`, in process: a chip encoded
// on an emulated blank card and saved as an image, its front rendered and
// captured by the simulator (tests/layout/capture_sim.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../layout/scan_fixtures.h"
#include "cardbureau/devices/blank_stock.h"
#include "cardbureau/devices/card_image.h"
#include "cardbureau/devices/loopback_channel.h"
#include "cardbureau/devices/mifare_emulator.h"
#include "cardbureau/encoder/commands.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/personalizer.h"
#include "cardbureau/line/commands.h"
#include "cardbureau/testing/files.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
using namespace cardbureau::layout::testing;

struct CmdRun {
  int code = -1;
  std::string out, err;
};

CmdRun RunCommand(const std::vector<Command>& commands, std::vector<std::string> args) {
  auto it = std::find_if(commands.begin(), commands.end(),
                         [&](const Command& c) { return c.name == args[0]; });
  CmdRun r;
  if (it == commands.end()) return r;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  r.code = it->run(static_cast<int>(argv.size()), argv.data());
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

void WriteFile(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

class ScanVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cb-scan-verify-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    cardbureau::testing::CopyTestKeys(kSource, dir_ / "keys");
    keystore_ = (dir_ / "keys/keystore-test.json").string();
    auto keys = encoder::LoadKeystore(keystore_);
    ASSERT_TRUE(keys.ok()) << keys.status();
    auto job = LoadJob("valid-primary-new.json");
    ASSERT_TRUE(job.ok()) << job.status();
    job_ = *job;
    // Encode a blank card and save its memory image.
    const Bytes blank = devices::MakeBlankStock(devices::StockKind::kBjt1k, 42);
    auto uid = devices::UidFromImage(blank);
    ASSERT_TRUE(uid.ok());
    uid_ = ToHex(*uid);
    auto card = devices::MifareClassicEmulator::Create(blank, *uid);
    ASSERT_TRUE(card.ok()) << card.status();
    devices::LoopbackChannel channel(*card);
    encoder::Personalizer personalizer(*keys);
    encoder::EncodeParams params;
    params.issued_on = kToday;
    auto encoded = personalizer.Encode(channel, job_, params);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    ASSERT_TRUE(devices::SaveCardImage((dir_ / "card.mfd").string(), (*card)->Image()).ok());
    renderer_ = MakeRenderer();
    ASSERT_NE(renderer_, nullptr);
    auto signer = layout::QrSigner::FromPemFile(keys->sign_key_path);
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_.emplace(std::move(*signer));
    auto prepared = renderer_->Prepare(job_, ReadPhoto("astronaut.png"));
    ASSERT_TRUE(prepared.ok()) << prepared.status();
    auto rendered = renderer_->ComposeQr(*prepared, uid_, 1, *signer_);
    ASSERT_TRUE(rendered.ok()) << rendered.status();
    front_ = rendered->images.front.clone();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A simulated photo of `front` written as dir/name.
  std::string Capture(const cv::Mat& front, const std::string& name, uint64_t seed) {
    const auto bytes = SimulateCapture(front, layout::MakeScanTarget(*renderer_, cv::Mat()).card,
                                       RandomCapture(seed, false, 1600));
    const fs::path p = dir_ / name;
    WriteFile(p, std::string(bytes.begin(), bytes.end()));
    return p.string();
  }

  CmdRun Verify(const std::string& scan, bool json = false) {
    std::vector<std::string> args = {"verify",
                                     "--scan",
                                     scan,
                                     "--keys",
                                     keystore_,
                                     "--image",
                                     (dir_ / "card.mfd").string(),
                                     "--job",
                                     kSource + "/fixtures/jobs/valid-primary-new.json",
                                     "--photo",
                                     kSource + "/fixtures/photos/astronaut.png"};
    if (json) args.push_back("--json");
    return RunCommand(Commands(), args);
  }

  fs::path dir_;
  std::string keystore_, uid_;
  Job job_;
  std::unique_ptr<layout::CardRenderer> renderer_;
  std::optional<layout::QrSigner> signer_;
  cv::Mat front_;
};

TEST_F(ScanVerifyTest, GenuineCapturePassesWithTableAndJson) {
  const std::string scan = Capture(front_, "genuine.jpg", 11);
  CmdRun r = Verify(scan);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  for (const char* f : {"name", "school", "gender", "education_id", "card_no", "valid_until",
                        "level", "photo", "qr"}) {
    EXPECT_NE(r.out.find(std::string("\n") + f + " "), std::string::npos) << f << "\n" << r.out;
  }
  CmdRun j = Verify(scan, true);
  EXPECT_EQ(j.code, 0) << j.out << j.err;
  auto parsed = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << j.out;
  EXPECT_EQ(parsed["ok"], true);
  EXPECT_EQ(parsed["uid"], uid_);
  EXPECT_EQ(parsed["fields"].size(), 9u);
}

TEST_F(ScanVerifyTest, AnotherNamePastedInFailsOnTheName) {
  Job other = job_;
  other.student.name = "李小明";
  auto prepared = renderer_->Prepare(other, ReadPhoto("astronaut.png"));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  auto rendered = renderer_->ComposeQr(*prepared, uid_, 1, *signer_);
  ASSERT_TRUE(rendered.ok());
  CmdRun r = Verify(Capture(rendered->images.front, "tampered.jpg", 12));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("VERIFY_MISMATCH face.name:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("face.qr"), std::string::npos) << r.err;
}

TEST_F(ScanVerifyTest, BadScanFilesAreRefusedWithACode) {
  const fs::path empty = dir_ / "empty.jpg", text = dir_ / "text.jpg", cut = dir_ / "cut.jpg",
                 huge = dir_ / "huge.png";
  WriteFile(empty, "");
  WriteFile(text, "this is not an image\n");
  const std::string good = [&] {
    std::ifstream in(Capture(front_, "full.jpg", 13), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  WriteFile(cut, good.substr(0, good.size() / 2));
  // A PNG header claiming 65535 x 65535 pixels.
  std::string png = "\x89PNG\r\n\x1a\n";
  png += std::string("\x00\x00\x00\x0dIHDR", 8);
  png += std::string("\x00\x00\xff\xff\x00\x00\xff\xff\x08\x02\x00\x00\x00", 13);
  png += std::string("\x00\x00\x00\x00", 4);
  WriteFile(huge, png);
  for (const fs::path& p : {empty, text, cut, huge}) {
    CmdRun r = Verify(p.string());
    EXPECT_EQ(r.code, 1) << p << "\n" << r.err;
    EXPECT_NE(r.err.find("PHOTO_UNREADABLE"), std::string::npos) << p << "\n" << r.err;
  }
  // No card in the picture at all: SCAN_UNUSABLE, saying so.
  cv::Mat wood(1200, 1600, CV_8UC3);
  cv::randn(wood, cv::Scalar(60, 100, 150), cv::Scalar(12, 12, 12));
  std::vector<uchar> bytes;
  cv::imencode(".jpg", wood, bytes);
  WriteFile(dir_ / "wood.jpg", std::string(bytes.begin(), bytes.end()));
  CmdRun r = Verify((dir_ / "wood.jpg").string());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("SCAN_UNUSABLE"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no card found"), std::string::npos) << r.err;
  // Usage.
  EXPECT_EQ(RunCommand(Commands(), {"verify", "--scan", "x.jpg"}).code, 2);
  CmdRun help = RunCommand(Commands(), {"verify", "--scan=x", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("field by field"), std::string::npos) << help.out;
}

TEST_F(ScanVerifyTest, ReadSavedChipImage) {
  CmdRun r = RunCommand(encoder::Commands(), {"read", "--image", (dir_ / "card.mfd").string(),
                                              "--keys", keystore_, "--json"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["uid"], uid_);
  EXPECT_EQ(j["mac"], "OK") << r.out;
  const fs::path bad = dir_ / "bad.mfd";
  WriteFile(bad, "short");
  EXPECT_EQ(RunCommand(encoder::Commands(), {"read", "--image", bad.string()}).code, 1);
}

}  // namespace
}  // namespace cardbureau::line
