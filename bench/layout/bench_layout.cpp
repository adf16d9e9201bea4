// Layout throughput on one core: cards per second (front + back with photo,
// text and signed QR) to memory, with the outputs written, and proof-PDF
// time per card. Run: build/release/bench/layout/bench_layout
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <cstdlib>
#include <filesystem>
#include <opencv2/core/utility.hpp>
#include <fstream>
#include <iterator>

#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/proof_pdf.h"

namespace {

using namespace cardbureau;
using namespace cardbureau::layout;

const std::string kSource = CARDBUREAU_SOURCE_DIR;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Fixture {
  std::unique_ptr<CardRenderer> renderer;
  Job job;
  Bytes photo;
  std::optional<QrSigner> signer;

  Fixture() {
    auto t = LoadTemplate("bjt-student");
    renderer = std::move(CardRenderer::Create(*t, *FindProfile("evolis-300"))).value();
    job = *ParseJob(ReadText(kSource + "/fixtures/jobs/valid-primary-new.json"));
    static const ManualClock clock = ManualClock::AtBeijingDate({2026, 11, 25});
    ValidationOptions vo;
    vo.clock = &clock;
    vo.glyph_check = renderer->glyph_check();
    if (!ValidateJob(job, vo).ok()) std::abort();
    photo = ToBytes(ReadText(kSource + "/fixtures/photos/astronaut.png"));
    signer.emplace(std::move(QrSigner::FromPemFile(kSource + "/fixtures/keys/qr-test-ed25519.pem")).value());
  }
  RenderedCard Render() {
    auto p = renderer->Prepare(job, photo);
    if (!p.ok()) std::abort();
    auto c = renderer->ComposeQr(std::move(p).value(), "04A1B2C3", 1, *signer);
    if (!c.ok()) std::abort();
    return std::move(c).value();
  }
};

Fixture& F() {
  static Fixture f;
  return f;
}

// Full card: photo decode + face detection + gates + crop, text, QR, both faces.
void BM_CardToMemory(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    RenderedCard c = f.Render();
    benchmark::DoNotOptimize(c.images.front.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CardToMemory)->Unit(benchmark::kMillisecond);

// As above with the JPEG photo (the protocol's default format).
void BM_CardToMemoryJpegPhoto(benchmark::State& state) {
  Fixture& f = F();
  const Bytes jpeg = ToBytes(ReadText(kSource + "/fixtures/photos/astronaut.jpg"));
  for (auto _ : state) {
    auto p = f.renderer->Prepare(f.job, jpeg);
    auto c = f.renderer->ComposeQr(std::move(p).value(), "04A1B2C3", 1, *f.signer);
    benchmark::DoNotOptimize(c->images.front.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CardToMemoryJpegPhoto)->Unit(benchmark::kMillisecond);

// Faces only: the photo already decoded and checked (as when a job's photo
// was checked at intake).
void BM_FacesFromCheckedPhoto(benchmark::State& state) {
  Fixture& f = F();
  auto checked = f.renderer->photos().Check(f.photo);
  if (!checked.ok()) std::abort();
  for (auto _ : state) {
    auto p = f.renderer->PrepareWithPhoto(f.job, *checked);
    auto c = f.renderer->ComposeQr(std::move(p).value(), "04A1B2C3", 1, *f.signer);
    benchmark::DoNotOptimize(c->images.front.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FacesFromCheckedPhoto)->Unit(benchmark::kMillisecond);

// Photo pipeline alone: decode + detect + gates.
void BM_PhotoCheck(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    auto checked = f.renderer->photos().Check(f.photo);
    benchmark::DoNotOptimize(checked.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PhotoCheck)->Unit(benchmark::kMillisecond);

// Full card plus front/back PNG, K masks (PNG + packed) and raw panel buffers written.
void BM_CardWritten(benchmark::State& state) {
  Fixture& f = F();
  const std::string dir = std::filesystem::temp_directory_path().string() + "/cardbureau-bench-layout";
  for (auto _ : state) {
    RenderedCard c = f.Render();
    if (!WriteCardOutputs(c, dir).ok()) std::abort();
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CardWritten)->Unit(benchmark::kMillisecond);

// Writing alone (PNGs, masks, raw buffers) for an already rendered card.
void BM_WriteOutputsOnly(benchmark::State& state) {
  Fixture& f = F();
  RenderedCard c = f.Render();
  const std::string dir = std::filesystem::temp_directory_path().string() + "/cardbureau-bench-layout-w";
  for (auto _ : state) {
    if (!WriteCardOutputs(c, dir).ok()) std::abort();
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteOutputsOnly)->Unit(benchmark::kMillisecond);

// One proof PDF per card (new document, fonts embedded, saved to memory).
void BM_ProofPdfPerCard(benchmark::State& state) {
  Fixture& f = F();
  RenderedCard c = f.Render();
  for (auto _ : state) {
    auto pdf = ProofPdf::Create();
    if (!pdf.ok() || !pdf->AddCardProof(c).ok()) std::abort();
    auto bytes = pdf->Save();
    benchmark::DoNotOptimize(bytes->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProofPdfPerCard)->Unit(benchmark::kMillisecond);

// Batch sheets + manifest for 20 cards; reported per card.
void BM_ProofPdfBatchOf20(benchmark::State& state) {
  Fixture& f = F();
  std::vector<RenderedCard> cards;
  for (int i = 0; i < 20; ++i) cards.push_back(f.Render());
  std::vector<const RenderedCard*> ptrs;
  for (const auto& c : cards) ptrs.push_back(&c);
  for (auto _ : state) {
    auto pdf = ProofPdf::Create();
    if (!pdf.ok() || !pdf->AddBatch(ptrs).ok()) std::abort();
    auto bytes = pdf->Save();
    benchmark::DoNotOptimize(bytes->data());
  }
  state.SetItemsProcessed(state.iterations() * 20);
}
BENCHMARK(BM_ProofPdfBatchOf20)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // Per-core figures: OpenCV must not spread one card over both cores.
  cv::setNumThreads(1);
  // CARDBUREAU_BENCH_MALLOPT=1: keep freed raster buffers in the heap
  // instead of returning them to the kernel, so each card does not pay
  // ~1500 fresh page faults (expensive on virtual machines).
  if (const char* m = std::getenv("CARDBUREAU_BENCH_MALLOPT"); m && *m == '1') {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
