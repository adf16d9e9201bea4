// Cards per second through the whole production line (render, encode on a
// virtual card, compose and check the QR, "print" to a sim printer, QA read
// back) with sim printers at zero mechanical time, for 1, 2 and 4 stations.
//
// Usage: bench_line [JOBS] [RENDER_THREADS]   (default 40 jobs, 2 render threads)
// Prints one line per station count.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "cardbureau/core/validation.h"
#include "cardbureau/encoder/keystore.h"
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

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::atoi(argv[1]) : 40;
  const int render_threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const fs::path root = CARDBUREAU_SOURCE_DIR;
  const fs::path dir = fs::temp_directory_path() / ("bench-line-" + std::to_string(::getpid()));
  fs::create_directories(dir / "keys");
  for (const char* f : {"keystore-test.json", "qr-test-ed25519.pem"}) {
    fs::copy_file(root / "fixtures/keys" / f, dir / "keys" / f, fs::copy_options::overwrite_existing);
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

  std::printf("line benchmark: %d jobs, %d render thread(s), sim printers at zero mechanical time, "
              "loopback readers\n", jobs, render_threads);
  for (int stations : {1, 2, 4}) {
    CountingSink sink;
    line::LineOptions o;
    o.keys = *keys;
    o.render_threads = render_threads;
    std::vector<line::StationSetup> setups;
    for (int s = 0; s < stations; ++s) {
      auto slot = std::make_shared<printers::LoopbackSlot>();
      printers::SimPrinterConfig pc;
      pc.name = "st" + std::to_string(s);
      pc.hopper_dir = dir / ("run" + std::to_string(stations)) / pc.name;
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
      ctx.job_id = "B" + std::to_string(stations) + "-" + std::to_string(i);
      ctx.job = *base;
      ctx.job.job_id = ctx.job_id;
      ctx.photo_path = root / "fixtures/photos/astronaut.jpg";
      ctx.job.photo.format = PhotoFormat::kJpeg;
      ctx.cards_dir = dir / ("cards" + std::to_string(stations)) / ctx.job_id;
      fs::create_directories(ctx.cards_dir);
      (*ln)->Start(std::move(ctx));
    }
    sink.Wait(jobs);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    (*ln)->Stop();
    std::printf("  %d station(s): %d cards in %.2f s = %.1f cards/s (%d failed)\n", stations, jobs, secs,
                jobs / secs, sink.failed());
  }
  fs::remove_all(dir);
  return 0;
}
