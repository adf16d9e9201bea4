// bench_server_intake [JOBS] [PHOTO_BYTES] [WINDOW]
//
// A Bureau (production "none", so every accepted job stays queued in the
// store) against a raw ROUTER playing the centre over TCP loopback. The centre
// keeps at most WINDOW jobs un-accepted in flight (and never more than the
// bureau's credit). Every photo is distinct (its bytes carry the job number),
// so each one is really written, fsynced and renamed. Prints jobs/s, accept
// latency (median, p99) and the process RSS as the queue grows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "cardbureau/core/cli.h"
#include "harness.h"

using namespace cbtest;
using namespace cardbureau;
using namespace cardbureau::server;
using Steady = std::chrono::steady_clock;

namespace {

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace

constexpr const char* kUsage =
    "Usage: bench_server_intake [JOBS] [PHOTO_BYTES] [WINDOW]\n\n"
    "Jobs per second durably accepted by a Bureau (production none) from a raw\n"
    "centre over TCP loopback, accept latency (median, p99) and resident memory\n"
    "as the queue grows.\n"
    "  JOBS         jobs to send, 1..1000000 (default 10000)\n"
    "  PHOTO_BYTES  photo size, 1..2097152 (default 102400)\n"
    "  WINDOW       jobs in flight at most, 1..100000 (default 256)\n"
    "Exit 0 done, 2 usage, 3 the run failed.\n\n"
    "Example:\n"
    "  bench_server_intake 2000 102400 256\n";

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  const auto jobs_arg = argc > 1 ? cli::ParseInteger(argv[1], 1, 1000000) : 10000;
  const auto photo_arg = argc > 2 ? cli::ParseInteger(argv[2], 1, 2 << 20) : 100 * 1024;
  const auto window_arg = argc > 3 ? cli::ParseInteger(argv[3], 1, 100000) : 256;
  if (argc > 4 || !jobs_arg || !photo_arg || !window_arg) {
    std::fprintf(stderr,
                 "bench_server_intake: bad arguments (JOBS 1..1000000, PHOTO_BYTES 1..2097152, "
                 "WINDOW 1..100000)\nTry 'bench_server_intake --help'\n");
    return 2;
  }
  const int jobs = static_cast<int>(*jobs_arg);
  const size_t photo_bytes = static_cast<size_t>(*photo_arg);
  const int window = static_cast<int>(*window_arg);

  TempDir dir;
  auto centre = RawPeer::Router();
  ServeConfig cfg;
  cfg.bureau_id = "bench-bureau";
  cfg.centre = centre->endpoint();
  cfg.data_dir = dir.path() / "data";
  cfg.queue_capacity = jobs + 100;
  cfg.intake_batch = 64;
  auto store = JobStore::Open(cfg.data_dir, SystemClock::Instance());
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 3;
  }
  auto bureau = Bureau::Create(cfg, **store, SystemClock::Instance(), nullptr, nullptr);
  if (!bureau.ok()) {
    std::fprintf(stderr, "%s\n", bureau.status().ToString().c_str());
    return 3;
  }
  std::atomic<bool> stop{false};
  std::thread t([&] { (void)(*bureau)->Run(stop); });

  int64_t credit = 0;
  while (credit == 0) {
    auto m = centre->Recv(5s);
    if (!m) {
      std::fprintf(stderr, "no pull from the bureau\n");
      return 3;
    }
    if (auto* p = std::get_if<Pull>(&*m)) credit += p->credit;
  }
  const long rss_start = RssKb();

  Bytes photo = FakeJpeg(photo_bytes, 42);
  auto base = ValidJobJson("B-0", photo);
  std::unordered_map<std::string, Steady::time_point> sent_at;
  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<size_t>(jobs));
  std::vector<std::pair<int, long>> rss_marks;
  int sent = 0, accepted = 0;
  const auto t0 = Steady::now();
  while (accepted < jobs) {
    while (sent < jobs && sent - accepted < window && credit > 0) {
      char id[32];
      std::snprintf(id, sizeof id, "B-%07d", sent);
      std::memcpy(photo.data() + 8, &sent, sizeof sent);  // distinct bytes per job
      auto body = base;
      body["job_id"] = id;
      body["photo"]["sha256"] = Sha256Hex(photo);
      JobMessage jm;
      jm.job_id = id;
      jm.body = std::move(body);
      jm.photo = photo;
      sent_at[id] = Steady::now();
      centre->Send(jm);
      ++sent;
      --credit;
    }
    auto m = centre->Recv(10s);
    if (!m) {
      std::fprintf(stderr, "stalled at %d accepted\n", accepted);
      break;
    }
    if (auto* a = std::get_if<Accepted>(&*m)) {
      auto it = sent_at.find(a->job_id);
      if (it != sent_at.end()) {
        latency_ms.push_back(
            std::chrono::duration<double, std::milli>(Steady::now() - it->second).count());
        sent_at.erase(it);
        ++accepted;
        if (accepted % 2000 == 0) rss_marks.emplace_back(accepted, RssKb());
      }
    } else if (auto* p = std::get_if<Pull>(&*m)) {
      credit += p->credit;
    } else if (auto* r = std::get_if<Rejected>(&*m)) {
      std::fprintf(stderr, "rejected %s: %s %s\n", r->job_id.c_str(), r->code.c_str(),
                   r->field.c_str());
      return 1;
    }
  }
  const double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  stop = true;
  t.join();
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double p) {
    if (latency_ms.empty()) return 0.0;
    return latency_ms[std::min(latency_ms.size() - 1,
                               static_cast<size_t>(p * static_cast<double>(latency_ms.size())))];
  };
  auto counts = (*store)->CountsByState();
  std::printf("jobs accepted:      %d (photo %zu bytes, window %d)\n", accepted, photo_bytes,
              window);
  std::printf("throughput:         %.0f jobs/s durably accepted (%.2f s)\n", accepted / secs, secs);
  std::printf("accept latency:     median %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(0.5), pct(0.99),
              latency_ms.empty() ? 0.0 : latency_ms.back());
  std::printf("RSS:                start %ld kB", rss_start);
  for (auto& [n, kb] : rss_marks) std::printf(", %d queued %ld kB", n, kb);
  std::printf("\n");
  std::printf("jobs queued in store: %lld\n",
              counts.ok() ? static_cast<long long>((*counts)[JobState::kValidated]) : -1LL);
  return accepted == jobs ? 0 : 1;
}
