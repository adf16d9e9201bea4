// Cards per second through the whole production line (render, encode on a
// virtual card, compose and check the QR, "print" to a sim printer, QA read
// back) with sim printers at zero mechanical time, for 1, 2 and 4 stations.
//
// Every job has its own photo (the fixture JPEG with one pixel changed per
// job, re-encoded), as at a real bureau. Two runs per station count:
//   cold   the line checks each photo itself (decode, face detection,
//          gates, crop);
//   intake the photos were checked at intake first (the `serve` intake
//          validator, as in production), so the line reuses the verdict
//          and crop from the process-wide photo cache.
//
// Each run is made twice, side by side: with the card outputs' large files
// written with O_DIRECT (`direct_io` on, line.json) and all buffered (off).
//
// Usage: bench_line [JOBS] [RENDER_THREADS] [DIRECT_IO]
//   (default 40 jobs, 2 render threads, DIRECT_IO "both"; "1" or "0" runs
//   one setting only)
// Prints one line per station count, mode and direct_io setting.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/validation.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/line/commands.h"
#include "cardbureau/line/line.h"
#include "cardbureau/printers/sim_printer.h"

namespace fs = std::filesystem;
using namespace cardbureau;

namespace {

class CountingSink : public server::ProductionSink {
 public:
  Status Advance(const std::string&, server::JobState) override { return Status::Ok(); }
  void Completed(const std::string&, const server::CardOutcome&) override { Done(true); }
  void Failed(const std::string& id, const Status& why, bool) override {
    std::fprintf(stderr, "failed %s: %s\n", id.c_str(), why.ToString().c_str());
    Done(false);
  }
  void Wait(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_ >= n; });
  }
  int failed() const { return failed_; }

 private:
  void Done(bool ok) {
    std::lock_guard lock(mu_);
    ++done_;
    if (!ok) ++failed_;
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  int done_ = 0;
  int failed_ = 0;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

constexpr const char* kUsage =
    "Usage: bench_line [JOBS] [RENDER_THREADS] [DIRECT_IO]\n\n"
    "Cards per second through the whole production line (render, encode on a\n"
    "virtual card, QR, sim printer at zero mechanical time, QA read back) for 1, 2\n"
    "and 4 stations, cold and after intake, with direct_io on and off.\n"
    "  JOBS            jobs per run, 1..100000 (default 40)\n"
    "  RENDER_THREADS  1..64 (default 2)\n"
    "  DIRECT_IO       both (default), 1 (on only) or 0 (off only)\n"
    "Exit 0 done, 2 usage, 3 the run failed.\n\n"
    "Example:\n"
    "  bench_line 40 2\n";

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  const auto jobs_arg = argc > 1 ? cli::ParseInteger(argv[1], 1, 100000) : 40;
  const auto threads_arg = argc > 2 ? cli::ParseInteger(argv[2], 1, 64) : 2;
  const std::string direct_arg = argc > 3 ? argv[3] : "both";
  if (argc > 4 || !jobs_arg || !threads_arg ||
      (direct_arg != "both" && direct_arg != "0" && direct_arg != "1")) {
    std::fprintf(stderr,
                 "bench_line: bad arguments (JOBS 1..100000, RENDER_THREADS 1..64, "
                 "DIRECT_IO both|0|1)\nTry 'bench_line --help'\n");
    return 2;
  }
  const int jobs = static_cast<int>(*jobs_arg);
  const int render_threads = static_cast<int>(*threads_arg);
  std::vector<bool> direct_settings;
  if (direct_arg != "0") direct_settings.push_back(true);
  if (direct_arg != "1") direct_settings.push_back(false);
  const fs::path root = CARDBUREAU_SOURCE_DIR;
  const fs::path dir = fs::temp_directory_path() / ("bench-line-" + std::to_string(::getpid()));
  fs::create_directories(dir / "keys");
  for (const char* f : {"keystore-test.json", "qr-test-ed25519.pem"}) {
    fs::copy_file(root / "fixtures/keys" / f, dir / "keys" / f,
                  fs::copy_options::overwrite_existing);
    fs::permissions(dir / "keys" / f, fs::perms::owner_read | fs::perms::owner_write);
  }
  auto keys = encoder::LoadKeystore(dir / "keys/keystore-test.json");
  if (!keys.ok()) {
    std::fprintf(stderr, "%s\n", keys.status().ToString().c_str());
    return 3;
  }
  auto base = ParseJob(Slurp(root / "fixtures/jobs/valid-junior-reissue.json"));
  ValidationOptions vo;
  if (!base.ok() || !ValidateJob(*base, vo).ok()) return 3;

  std::printf(
      "line benchmark: %d jobs, %d render thread(s), sim printers at zero mechanical time, "
      "loopback readers\n",
      jobs, render_threads);
  // One distinct photo per job and run, so no run finds another's photos
  // in the cache.
  const cv::Mat astronaut = cv::imread((root / "fixtures/photos/astronaut.jpg").string());
  if (astronaut.empty()) return 3;
  int photo_seq = 0;
  auto make_photos = [&](int n) {
    std::vector<std::pair<fs::path, std::string>> out;  // path, bytes
    fs::create_directories(dir / "photos");
    for (int i = 0; i < n; ++i, ++photo_seq) {
      cv::Mat m = astronaut.clone();
      // A small mark in the top row, away from the face; bytes differ per job.
      const int x = (photo_seq * 4) % (m.cols - 4), y = (photo_seq * 4 / (m.cols - 4)) % 8;
      cv::rectangle(m, cv::Rect(x, y, 4, 4),
                    cv::Scalar(photo_seq * 37 % 256, photo_seq * 91 % 256, photo_seq * 53 % 256),
                    cv::FILLED);
      std::vector<uchar> buf;
      cv::imencode(".jpg", m, buf, {cv::IMWRITE_JPEG_QUALITY, 92});
      const fs::path p = dir / "photos" / ("p" + std::to_string(photo_seq) + ".jpg");
      std::ofstream(p, std::ios::binary)
          .write(reinterpret_cast<const char*>(buf.data()),
                 static_cast<std::streamsize>(buf.size()));
      out.emplace_back(p, std::string(buf.begin(), buf.end()));
    }
    return out;
  };
  auto intake = line::MakeIntakeValidator(SystemClock::Instance());

  for (int stations : {1, 2, 4}) {
    for (const bool warm : {false, true}) {
      for (const bool direct : direct_settings) {
        const auto photos = make_photos(jobs);
        std::set<std::string> distinct;
        for (const auto& p : photos) distinct.insert(p.second);
        if (distinct.size() != photos.size()) {
          std::fprintf(stderr, "photos are not distinct\n");
          return 3;
        }
        double intake_secs = 0;
        if (warm) {
          const auto i0 = std::chrono::steady_clock::now();
          for (const auto& [path, bytes] : photos) {
            Job j = *base;
            j.photo.format = PhotoFormat::kJpeg;
            j.photo.sha256 = Sha256Hex(AsBytes(bytes));
            Status s = intake(j, AsBytes(bytes));
            if (!s.ok()) {
              std::fprintf(stderr, "intake refused a photo: %s\n", s.ToString().c_str());
              return 3;
            }
          }
          intake_secs =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - i0).count();
        }
        CountingSink sink;
        line::LineOptions o;
        o.keys = *keys;
        o.render_threads = render_threads;
        o.outputs.direct_io = direct;
        std::vector<line::StationSetup> setups;
        for (int s = 0; s < stations; ++s) {
          auto slot = std::make_shared<printers::LoopbackSlot>();
          printers::SimPrinterConfig pc;
          pc.name = "st" + std::to_string(s);
          pc.hopper_dir =
              dir / ("run" + std::to_string(stations) + (warm ? "w" : "c") + (direct ? "d" : "b")) /
              pc.name;
          pc.seed = static_cast<uint64_t>(s * 100000 + 1);
          line::StationSetup st;
          st.name = pc.name;
          st.printer = std::make_unique<printers::SimPrinter>(pc, *slot);
          st.source = std::make_unique<line::LoopbackCardSource>(*slot);
          st.keepalive = slot;
          setups.push_back(std::move(st));
        }
        auto ln = line::Line::Create(sink, o, std::move(setups));
        if (!ln.ok()) {
          std::fprintf(stderr, "%s\n", ln.status().ToString().c_str());
          return 3;
        }
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < jobs; ++i) {
          server::JobContext ctx;
          ctx.job_id = "B" + std::to_string(stations) + (warm ? "w" : "c") +
                       (direct ? "d-" : "b-") + std::to_string(i);
          ctx.job = *base;
          ctx.job.job_id = ctx.job_id;
          ctx.photo_path = photos[static_cast<size_t>(i)].first;
          ctx.job.photo.format = PhotoFormat::kJpeg;
          ctx.job.photo.sha256 = Sha256Hex(AsBytes(photos[static_cast<size_t>(i)].second));
          ctx.cards_dir = dir / "cards" / ctx.job_id;
          fs::create_directories(ctx.cards_dir);
          (*ln)->Start(std::move(ctx));
        }
        sink.Wait(jobs);
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        (*ln)->Stop();
        std::printf("  %d station(s), %-6s, %-8s: %d cards in %.2f s = %.1f cards/s (%d failed)",
                    stations, warm ? "intake" : "cold", direct ? "direct" : "buffered", jobs, secs,
                    jobs / secs, sink.failed());
        if (warm) std::printf("  [intake checks before: %.2f s]", intake_secs);
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  fs::remove_all(dir);
  return 0;
}
