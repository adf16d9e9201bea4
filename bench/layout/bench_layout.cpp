// Layout throughput on one core: cards per second (front + back with photo,
// text and signed QR) to memory, with the outputs written, and proof-PDF
// time per card; "cold" cases use a new photo for every card, "warm" ones
// the same photo (served by the photo check cache).
// Run: build/<release dir>/bench/layout/bench_layout
#include <benchmark/benchmark.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <optional>
#include <set>
#include <vector>

#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/proof_pdf.h"
#include "haar_detector.h"  // layout/src, private (bench/layout/CMakeLists.txt)

namespace {

using namespace cardbureau;
using namespace cardbureau::layout;

const std::string kSource = CARDBUREAU_SOURCE_DIR;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A renderer with its own photo cache, so the cases do not warm each other.
std::unique_ptr<CardRenderer> MakeRenderer(PhotoCheckCache::Limits limits) {
  PhotoConfig pc;
  pc.cache = std::make_shared<PhotoCheckCache>(limits);
  auto t = LoadTemplate("bjt-student");
  return std::move(CardRenderer::Create(*t, *FindProfile("evolis-300"), pc)).value();
}

// `n` different photos: the fixture with a corner changed per photo,
// re-encoded (PNG as libpng's defaults, JPEG at quality 90 as the fixture),
// so each has its own SHA-256 and must be decoded and detected afresh.
std::vector<Bytes> DistinctPhotos(const std::string& ext, int n) {
  const cv::Mat base = cv::imread(kSource + "/fixtures/photos/astronaut.png", cv::IMREAD_COLOR);
  std::vector<Bytes> out;
  for (int i = 0; i < n; ++i) {
    cv::Mat img = base.clone();
    // A 16 x 16 corner block (far from the face) of a per-photo grey, large
    // enough to survive JPEG quantisation.
    img(cv::Rect(0, 0, 16, 16)).setTo(cv::Scalar::all(static_cast<double>(i * 15)));
    std::vector<uchar> buf;
    const std::vector<int> params =
        ext == ".jpg" ? std::vector<int>{cv::IMWRITE_JPEG_QUALITY, 90} : std::vector<int>{};
    if (!cv::imencode(ext, img, buf, params)) std::abort();
    out.emplace_back(buf.begin(), buf.end());
  }
  std::set<Bytes> hashes;
  for (const Bytes& p : out) hashes.insert(Sha256(p));
  if (hashes.size() != out.size()) std::abort();  // must really be distinct
  return out;
}

struct Fixture {
  std::unique_ptr<CardRenderer> renderer;
  Job job;
  Bytes photo;
  std::optional<QrSigner> signer;

  Fixture() {
    renderer = MakeRenderer({});
    job = *ParseJob(ReadText(kSource + "/fixtures/jobs/valid-primary-new.json"));
    static const ManualClock clock = ManualClock::AtBeijingDate({2026, 11, 25});
    ValidationOptions vo;
    vo.clock = &clock;
    vo.glyph_check = renderer->glyph_check();
    if (!ValidateJob(job, vo).ok()) std::abort();
    photo = ToBytes(ReadText(kSource + "/fixtures/photos/astronaut.png"));
    signer.emplace(
        std::move(QrSigner::FromPem(ReadText(kSource + "/fixtures/keys/qr-test-ed25519.pem")))
            .value());
  }
  RenderedCard Render(CardRenderer& r, ByteView p) {
    auto prepared = r.Prepare(job, p);
    if (!prepared.ok()) std::abort();
    auto c = r.ComposeQr(std::move(prepared).value(), "04A1B2C3", 1, *signer);
    if (!c.ok()) std::abort();
    return std::move(c).value();
  }
  RenderedCard Render() { return Render(*renderer, photo); }
};

Fixture& F() {
  static Fixture f;
  return f;
}

// Cold: every card a photo never seen before (16 distinct photos in turn
// through a 4-entry cache: every lookup misses), so each card pays SHA-256,
// decode, face detection, gates and crop, plus text, QR and both faces.
void CardToMemoryCold(benchmark::State& state, const std::string& ext) {
  Fixture& f = F();
  auto renderer = MakeRenderer({4, size_t{64} << 20});
  const std::vector<Bytes> photos = DistinctPhotos(ext, 16);
  size_t i = 0;
  for (auto _ : state) {
    RenderedCard c = f.Render(*renderer, photos[i++ % photos.size()]);
    benchmark::DoNotOptimize(c.images.front.data);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["photo_kB"] = static_cast<double>(photos[0].size()) / 1024.0;
}
void BM_CardToMemoryCold(benchmark::State& state) { CardToMemoryCold(state, ".png"); }
void BM_CardToMemoryColdJpeg(benchmark::State& state) { CardToMemoryCold(state, ".jpg"); }
BENCHMARK(BM_CardToMemoryCold)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CardToMemoryColdJpeg)->Unit(benchmark::kMillisecond);

// Warm: the same photo every card (a retry, a reissue, or a photo checked
// at intake by the same process): SHA-256 + cached crop, text, QR, faces.
void CardToMemoryWarm(benchmark::State& state, const std::string& file) {
  Fixture& f = F();
  auto renderer = MakeRenderer({});
  const Bytes photo = ToBytes(ReadText(kSource + "/fixtures/photos/" + file));
  f.Render(*renderer, photo);  // the first sight fills the cache
  for (auto _ : state) {
    RenderedCard c = f.Render(*renderer, photo);
    benchmark::DoNotOptimize(c.images.front.data);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_CardToMemoryWarm(benchmark::State& state) { CardToMemoryWarm(state, "astronaut.png"); }
void BM_CardToMemoryWarmJpeg(benchmark::State& state) { CardToMemoryWarm(state, "astronaut.jpg"); }
BENCHMARK(BM_CardToMemoryWarm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CardToMemoryWarmJpeg)->Unit(benchmark::kMillisecond);

// Verdict cached, crop not (a photo checked at intake whose crop has been
// evicted): decode + crop, no detection. 16 distinct photos whose verdicts
// were cached by a first render; the cache keeps no crops.
void CardToMemoryVerdictCached(benchmark::State& state, const std::string& ext) {
  Fixture& f = F();
  auto renderer = MakeRenderer({1024, 0});
  const std::vector<Bytes> photos = DistinctPhotos(ext, 16);
  for (const Bytes& p : photos) f.Render(*renderer, p);
  size_t i = 0;
  for (auto _ : state) {
    RenderedCard c = f.Render(*renderer, photos[i++ % photos.size()]);
    benchmark::DoNotOptimize(c.images.front.data);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_CardToMemoryVerdictCached(benchmark::State& state) {
  CardToMemoryVerdictCached(state, ".png");
}
void BM_CardToMemoryVerdictCachedJpeg(benchmark::State& state) {
  CardToMemoryVerdictCached(state, ".jpg");
}
BENCHMARK(BM_CardToMemoryVerdictCached)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CardToMemoryVerdictCachedJpeg)->Unit(benchmark::kMillisecond);

// Faces only: the photo already decoded and checked by the caller.
void BM_FacesFromCheckedPhoto(benchmark::State& state) {
  Fixture& f = F();
  auto checked = f.renderer->photos().Check(f.photo);
  if (!checked.ok()) std::abort();
  checked->cache_key.clear();  // crop every card (no crop cache)
  for (auto _ : state) {
    auto p = f.renderer->PrepareWithPhoto(f.job, *checked);
    auto c = f.renderer->ComposeQr(std::move(p).value(), "04A1B2C3", 1, *f.signer);
    benchmark::DoNotOptimize(c->images.front.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FacesFromCheckedPhoto)->Unit(benchmark::kMillisecond);

// Photo pipeline alone, uncached: decode + detect + gates.
void PhotoCheckUncached(benchmark::State& state, const std::string& file) {
  PhotoConfig pc;
  pc.cache = nullptr;
  auto proc = std::move(PhotoProcessor::Create(pc)).value();
  const Bytes photo = ToBytes(ReadText(kSource + "/fixtures/photos/" + file));
  for (auto _ : state) {
    auto checked = proc->Check(photo);
    if (!checked.ok()) std::abort();
    benchmark::DoNotOptimize(checked->image.data);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_PhotoCheck(benchmark::State& state) { PhotoCheckUncached(state, "astronaut.png"); }
void BM_PhotoCheckJpeg(benchmark::State& state) { PhotoCheckUncached(state, "astronaut.jpg"); }
BENCHMARK(BM_PhotoCheck)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PhotoCheckJpeg)->Unit(benchmark::kMillisecond);

// Decoding alone, a cold-benchmark photo (the astronaut re-encoded as
// OpenCV's defaults: PNG 453 kB with Sub rows and RLE, JPEG q90 66 kB):
// DecodePhoto (libdeflate / libjpeg-turbo to BGR) against cv::imdecode.
void Decode(benchmark::State& state, const std::string& ext, bool ours) {
  const Bytes photo = DistinctPhotos(ext, 1)[0];
  const PhotoConfig pc;
  const cv::Mat buf(1, static_cast<int>(photo.size()), CV_8UC1, const_cast<uint8_t*>(photo.data()));
  for (auto _ : state) {
    if (ours) {
      auto img = DecodePhoto(photo, pc);
      if (!img.ok()) std::abort();
      benchmark::DoNotOptimize(img->data);
    } else {
      cv::Mat img = cv::imdecode(buf, cv::IMREAD_COLOR);
      if (img.empty()) std::abort();
      benchmark::DoNotOptimize(img.data);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_DecodePhotoPng(benchmark::State& state) { Decode(state, ".png", true); }
void BM_ImdecodePng(benchmark::State& state) { Decode(state, ".png", false); }
void BM_DecodePhotoJpeg(benchmark::State& state) { Decode(state, ".jpg", true); }
void BM_ImdecodeJpeg(benchmark::State& state) { Decode(state, ".jpg", false); }
BENCHMARK(BM_DecodePhotoPng)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ImdecodePng)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodePhotoJpeg)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ImdecodeJpeg)->Unit(benchmark::kMillisecond);

// Face detection alone on the photo check's detection copy (grey, 160 px,
// equalised): OpenCV's CascadeClassifier against HaarCascade (same windows,
// bit for bit), with its AVX2 and its generic kernel.
cv::Mat DetectionCopy() {
  const cv::Mat bgr = cv::imread(kSource + "/fixtures/photos/astronaut.png", cv::IMREAD_COLOR);
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return DetectionImage(gray, PhotoConfig().detect_max_side);
}
const std::string kCascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
void BM_DetectOpenCv(benchmark::State& state) {
  const cv::Mat img = DetectionCopy();
  cv::CascadeClassifier c(kCascade);
  std::vector<cv::Rect> faces;
  for (auto _ : state) {
    c.detectMultiScale(img, faces, 1.1, 5, 0, cv::Size(26, 26));
    if (faces.size() != 1) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DetectOpenCv)->Unit(benchmark::kMillisecond);
void DetectFast(benchmark::State& state, bool best) {
  const cv::Mat img = DetectionCopy();
  auto c = std::move(HaarCascade::Load(kCascade, {.best_kernel = best})).value();
  state.SetLabel(c->kernel());
  std::vector<cv::Rect> faces;
  for (auto _ : state) {
    c->Detect(img, 1.1, 5, cv::Size(26, 26), &faces);
    if (faces.size() != 1) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_DetectFast(benchmark::State& state) { DetectFast(state, true); }
void BM_DetectFastGeneric(benchmark::State& state) { DetectFast(state, false); }
BENCHMARK(BM_DetectFast)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DetectFastGeneric)->Unit(benchmark::kMillisecond);

// A new directory per card, as the line writes each card into its job's
// own directory (rewriting the same files would make ext4 wait for the
// previous card's writeback on every truncation). A bureau keeps a card's
// outputs until the job is purged (days later), so the timed loop only
// creates; all folders of the process go at exit. Deleting inside the run
// would measure the filesystem instead: on ext4 without a journal (this
// project's VM), every file created after many deletions first walks the
// recently deleted inodes of its group (`recently_deleted` in ext4's inode
// allocator, for the last 60-360 s), 5-10 ms per card here. Only when the
// disk runs low (< 2 GiB free) are a case's folders removed mid-run, with
// the timer paused; Report() gives that count as `mid_run_cleanups`.
class CardDirs {
 public:
  explicit CardDirs(const std::string& name)
      : base_(Root().path + "/" + name + "-" + std::to_string(Root().cases++)) {}
  std::string Next(benchmark::State& state) {
    if (n_ > 0 && n_ % 64 == 0 && LowOnDisk()) {
      state.PauseTiming();
      std::filesystem::remove_all(base_);
      ++cleanups_;
      state.ResumeTiming();
    }
    return base_ + "/" + std::to_string(n_++);
  }
  void Report(benchmark::State& state) const {
    state.counters["mid_run_cleanups"] = static_cast<double>(cleanups_);
  }

 private:
  // One folder per process for every case's output, removed at exit.
  struct RunRoot {
    std::string path = std::filesystem::temp_directory_path().string() +
                       "/cardbureau-bench-layout-" + std::to_string(::getpid());
    int cases = 0;
    ~RunRoot() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static RunRoot& Root() {
    static RunRoot root;
    return root;
  }
  static bool LowOnDisk() {
    struct statvfs fs {};
    if (::statvfs(std::filesystem::temp_directory_path().c_str(), &fs) != 0) return true;
    return static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize) < 2.0 * (1u << 30);
  }
  std::string base_;
  size_t n_ = 0;
  int cleanups_ = 0;
};

// A phone-sized JPEG (the astronaut scaled to 3200 x 3200, q90), checked
// uncached: decoded at 1/2 scale (default) or at full size.
void PhotoCheckLargeJpeg(benchmark::State& state, int reduce_side) {
  cv::Mat big;
  cv::resize(cv::imread(kSource + "/fixtures/photos/astronaut.png", cv::IMREAD_COLOR), big,
             cv::Size(3200, 3200), 0, 0, cv::INTER_CUBIC);
  std::vector<uchar> buf;
  if (!cv::imencode(".jpg", big, buf, {cv::IMWRITE_JPEG_QUALITY, 90})) std::abort();
  const Bytes photo(buf.begin(), buf.end());
  PhotoConfig pc;
  pc.cache = nullptr;
  pc.reduce_jpeg_min_side = reduce_side;
  auto proc = std::move(PhotoProcessor::Create(pc)).value();
  for (auto _ : state) {
    auto checked = proc->Check(photo);
    if (!checked.ok()) std::abort();
    benchmark::DoNotOptimize(checked->image.data);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_PhotoCheckLargeJpeg(benchmark::State& state) { PhotoCheckLargeJpeg(state, 1536); }
void BM_PhotoCheckLargeJpegFullDecode(benchmark::State& state) { PhotoCheckLargeJpeg(state, 0); }
BENCHMARK(BM_PhotoCheckLargeJpeg)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PhotoCheckLargeJpegFullDecode)->Unit(benchmark::kMillisecond);

// Full card plus front/back PNG, K masks (PNG + packed) and raw panel
// buffers written; cold (new photo every card) and warm (same photo). The
// argument: 1 = the large files with O_DIRECT submitted by AIO (direct_io,
// aio), 2 = with O_DIRECT written synchronously (direct_io, no aio), 0 =
// all buffered (no direct_io). Wall time: with O_DIRECT the thread
// waits for the device, and cards/s must count that wait.
OutputOptions OptionsFor(benchmark::State& state) {
  const OutputOptions options{.direct_io = state.range(0) != 0, .aio = state.range(0) == 1};
  state.SetLabel(!options.direct_io ? "buffered" : options.aio ? "direct-aio" : "direct-sync");
  return options;
}
void CardWritten(benchmark::State& state, bool cold) {
  Fixture& f = F();
  auto renderer = MakeRenderer({cold ? size_t{4} : size_t{1024}, size_t{64} << 20});
  const std::vector<Bytes> photos = cold ? DistinctPhotos(".png", 16) : std::vector<Bytes>{f.photo};
  const OutputOptions options = OptionsFor(state);
  CardDirs dirs("written");
  size_t i = 0;
  for (auto _ : state) {
    RenderedCard c = f.Render(*renderer, photos[i++ % photos.size()]);
    if (!WriteCardOutputs(c, dirs.Next(state), options).ok()) std::abort();
  }
  dirs.Report(state);
  state.SetItemsProcessed(state.iterations());
}
void BM_CardWrittenCold(benchmark::State& state) { CardWritten(state, true); }
void BM_CardWrittenWarm(benchmark::State& state) { CardWritten(state, false); }
BENCHMARK(BM_CardWrittenCold)->Arg(1)->Arg(2)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CardWrittenWarm)->Arg(1)->Arg(2)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);

// Writing alone (PNGs, masks, raw buffers) for an already rendered card.
void BM_WriteOutputsOnly(benchmark::State& state) {
  Fixture& f = F();
  RenderedCard c = f.Render();
  const OutputOptions options = OptionsFor(state);
  CardDirs dirs("write-only");
  for (auto _ : state) {
    if (!WriteCardOutputs(c, dirs.Next(state), options).ok()) std::abort();
  }
  dirs.Report(state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteOutputsOnly)
    ->Arg(1)
    ->Arg(2)
    ->Arg(0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// PNG encoding of one rendered front face (the per-card PNG work; the back
// is encoded once per renderer).
void BM_EncodeFrontPng(benchmark::State& state) {
  Fixture& f = F();
  RenderedCard c = f.Render();
  Bytes out;
  for (auto _ : state) {
    if (!EncodePngTo(c.images.front, out).ok()) std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["png_kB"] = static_cast<double>(out.size()) / 1024.0;
}
BENCHMARK(BM_EncodeFrontPng)->Unit(benchmark::kMillisecond);

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
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
