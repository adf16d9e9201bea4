// Scan QA on one core: a simulated 12 MP phone photo (4000 x 3000 JPEG
// q90, the card half the image width, tilted) of a printed front: decode
// (DecodeImageBytes), the expected face's render (Prepare) and the
// find + rectify + field comparison + QR decode (CompareScan), and the
// three together (what `verify --scan` spends besides reading the chip).
// Run: build/<release dir>/bench/scan/bench_scan
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/core/utility.hpp>

#include "capture_sim.h"  // tests/layout
#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/scan.h"

namespace {

using namespace cardbureau;
using namespace cardbureau::layout;
namespace fs = std::filesystem;

const std::string kSource = CARDBUREAU_SOURCE_DIR;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Setup {
  std::unique_ptr<CardRenderer> renderer;
  Job job;
  Bytes photo;
  std::vector<uchar> capture;
};

Setup& Shared() {
  static Setup s = [] {
    cv::setNumThreads(1);
    Setup out;
    out.renderer =
        std::move(CardRenderer::Create(*LoadTemplate("bjt-student"), *FindProfile("evolis-300")))
            .value();
    out.job = *ParseJob(ReadText(kSource + "/fixtures/jobs/valid-primary-new.json"));
    const ManualClock clock = ManualClock::AtBeijingDate(CivilDate{2026, 11, 25});
    ValidationOptions vo;
    vo.clock = &clock;
    (void)ValidateJob(out.job, vo);
    out.photo = ToBytes(ReadText(kSource + "/fixtures/photos/astronaut.png"));
    // The signing key held to the secrets rule (mode 0600 copy).
    const fs::path key =
        fs::temp_directory_path() / ("cb-bench-scan-" + std::to_string(::getpid()));
    fs::copy_file(kSource + "/fixtures/keys/qr-test-ed25519.pem", key,
                  fs::copy_options::overwrite_existing);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    auto signer = QrSigner::FromPemFile(key.string());
    fs::remove(key);
    auto prepared = out.renderer->Prepare(out.job, out.photo);
    auto card = out.renderer->ComposeQr(*prepared, "04A1B2C3D4E5F6", 1, *signer);
    testing::CaptureParams p = testing::RandomCapture(7, false);
    p.width = 4000;
    p.height = 3000;
    p.card_fraction = 0.5;
    p.tilt_deg = 20;
    p.jpeg_quality = 90;
    out.capture = testing::SimulateCapture(card->images.front,
                                           MakeScanTarget(*out.renderer, cv::Mat()).card, p);
    return out;
  }();
  return s;
}

void BM_Decode12MP(benchmark::State& state) {
  Setup& s = Shared();
  for (auto _ : state) {
    auto img = DecodeImageBytes(ByteView(s.capture.data(), s.capture.size()), "capture", "scan");
    if (!img.ok()) state.SkipWithError(img.status().ToString().c_str());
    benchmark::DoNotOptimize(img);
  }
}
BENCHMARK(BM_Decode12MP)->Unit(benchmark::kMillisecond);

void BM_PrepareExpected(benchmark::State& state) {
  Setup& s = Shared();
  for (auto _ : state) {
    auto prepared = s.renderer->Prepare(s.job, s.photo);
    benchmark::DoNotOptimize(prepared);
  }
}
BENCHMARK(BM_PrepareExpected)->Unit(benchmark::kMillisecond);

void BM_CompareScan12MP(benchmark::State& state) {
  Setup& s = Shared();
  auto img = DecodeImageBytes(ByteView(s.capture.data(), s.capture.size()), "capture", "scan");
  auto prepared = s.renderer->Prepare(s.job, s.photo);
  for (auto _ : state) {
    auto cmp = CompareScan(*img, *s.renderer, *prepared);
    if (!cmp.ok() || !cmp->ok()) state.SkipWithError("the genuine capture did not pass");
    benchmark::DoNotOptimize(cmp);
  }
}
BENCHMARK(BM_CompareScan12MP)->Unit(benchmark::kMillisecond);

void BM_VerifyScan12MP(benchmark::State& state) {
  Setup& s = Shared();
  for (auto _ : state) {
    auto img = DecodeImageBytes(ByteView(s.capture.data(), s.capture.size()), "capture", "scan");
    auto prepared = s.renderer->Prepare(s.job, s.photo);
    auto cmp = CompareScan(*img, *s.renderer, *prepared);
    if (!cmp.ok() || !cmp->ok()) state.SkipWithError("the genuine capture did not pass");
    benchmark::DoNotOptimize(cmp);
  }
}
BENCHMARK(BM_VerifyScan12MP)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
