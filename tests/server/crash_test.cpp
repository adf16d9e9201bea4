// Crash test with real processes: `cardbureau centre` and `cardbureau serve
// --production fake`. The bureau is killed with SIGKILL at random moments of a
// 200-job run and restarted, at least 10 times; the centre is killed and
// restarted once mid-run. At the end the centre must hold exactly one terminal
// report per job, and the fake production's durable log must show no job
// encoded twice. Every job's history (job_store.h) must have no gap (the
// state rows chain from `received` to the job's state, each step's rows
// beside its state change) and no duplicate row.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <set>

#include "cardbureau/server/job_store.h"
#include "cardbureau/testing/wait.h"
#include "harness.h"

extern char** environ;

namespace cardbureau::server {
namespace {

using namespace cbtest;

const char* Binary() { return CARDBUREAU_BINARY_DIR "/bin/cardbureau"; }

// A child process; SIGKILLed in the destructor if still running.
class Child {
 public:
  Child(std::vector<std::string> args, const fs::path& log) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(Binary()));
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int rc = posix_spawn(&pid_, Binary(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
  }
  ~Child() {
    if (pid_ > 0) Kill();
  }
  bool ok() const { return pid_ > 0; }
  void Kill() {
    ::kill(pid_, SIGKILL);
    Wait();
  }
  // Exit status (or 128+signal).
  int Wait() {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  // True (and the exit code in *code) when the child has exited.
  bool Exited(int* code) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r != pid_) return false;
    pid_ = -1;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  int Terminate() {
    ::kill(pid_, SIGTERM);
    return Wait();
  }

 private:
  pid_t pid_ = -1;
};

std::string Tail(const fs::path& p, size_t n = 30) {
  auto lines = ReadLines(p);
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    out += lines[i] + "\n";
  }
  return out;
}

TEST(CrashTest, KillNineBureauAndRestartCentreKeepExactlyOnce) {
  ASSERT_TRUE(fs::exists(Binary())) << Binary() << " not built";
  constexpr int kJobs = 200;
  TempDir dir;
  WriteJobsFile(dir.path(), kJobs, 2000, "CR");
  const std::string endpoint = FreeTcpEndpoint();
  const fs::path reports = dir.path() / "reports.jsonl";
  const fs::path produced = dir.path() / "produced.log";
  const fs::path centre_log = dir.path() / "centre.log";
  const fs::path serve_log = dir.path() / "serve.log";

  auto start_centre = [&] {
    return std::make_unique<Child>(
        std::vector<std::string>{"centre", "--bind", endpoint, "--jobs",
                                 (dir.path() / "jobs.jsonl").string(), "--photos",
                                 (dir.path() / "photos").string(), "--reports", reports.string(),
                                 "--until-done", "--redeliver-after", "1.5", "--heartbeat-ms",
                                 "200", "--peer-timeout-ms", "3000", "--quiet"},
        centre_log);
  };
  auto start_serve = [&] {
    return std::make_unique<Child>(std::vector<std::string>{"serve",
                                                            "--centre",
                                                            endpoint,
                                                            "--data",
                                                            (dir.path() / "data").string(),
                                                            "--bureau-id",
                                                            "crash-bureau",
                                                            "--production",
                                                            "fake",
                                                            "--validation",
                                                            "core",
                                                            "--fake-delay-ms",
                                                            "12",
                                                            "--fake-fail-every",
                                                            "9",
                                                            "--fake-log",
                                                            produced.string(),
                                                            "--stations",
                                                            "2",
                                                            "--queue-capacity",
                                                            "16",
                                                            "--heartbeat-ms",
                                                            "200",
                                                            "--peer-timeout-ms",
                                                            "2000",
                                                            "--reconnect-min-ms",
                                                            "50",
                                                            "--reconnect-max-ms",
                                                            "400",
                                                            "--report-retry-min-ms",
                                                            "300",
                                                            "--report-retry-max-ms",
                                                            "1000"},
                                   serve_log);
  };

  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::uniform_int_distribution<int> pause_ms(150, 700);

  auto centre = start_centre();
  ASSERT_TRUE(centre->ok());
  auto serve = start_serve();
  ASSERT_TRUE(serve->ok());
  int kills = 0;
  for (int round = 0; round < 12; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    serve->Kill();
    ++kills;
    if (round == 5) {  // the centre crashes too, mid-run
      int code = 0;
      if (!centre->Exited(&code)) centre->Kill();
      centre = start_centre();
      ASSERT_TRUE(centre->ok());
    }
    serve = start_serve();
    ASSERT_TRUE(serve->ok());
  }
  EXPECT_GE(kills, 10);

  // Let the run finish: the centre exits 0 once every job has its report.
  int centre_code = -1;
  cardbureau::testing::WaitFor([&] { return centre->Exited(&centre_code); }, 60s, 100ms);
  ASSERT_EQ(centre_code, 0) << "centre did not finish\n"
                            << Tail(centre_log) << "--- serve:\n"
                            << Tail(serve_log);
  // Clean shutdown of the bureau on SIGTERM: exit 0.
  EXPECT_EQ(serve->Terminate(), 0) << Tail(serve_log);

  // Exactly one terminal report per job.
  std::map<std::string, std::set<std::string>> report_ids;
  std::map<std::string, std::string> outcome;
  for (const auto& line : ReadLines(reports)) {
    auto j = nlohmann::json::parse(line);
    const std::string job = j["job_id"];
    report_ids[job].insert(j["report_id"].get<std::string>());
    outcome[job] = j["type"];
  }
  EXPECT_EQ(ReadLines(reports).size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(report_ids.size(), static_cast<size_t>(kJobs));
  for (const auto& [job, ids] : report_ids) EXPECT_EQ(ids.size(), 1u) << job;

  // No job produced (chip encoded) twice; every completed job was produced.
  std::map<std::string, int> produced_count;
  for (const auto& line : ReadLines(produced)) ++produced_count[line];
  for (const auto& [job, n] : produced_count) EXPECT_EQ(n, 1) << job << " encoded " << n << "x";
  int completed = 0;
  for (const auto& [job, type] : outcome) {
    if (type == "completed") {
      ++completed;
      EXPECT_EQ(produced_count.count(job), 1u) << job;
    } else {
      // A bureau killed between `encoding` and `encoded`, or a jam, fails a job.
      EXPECT_EQ(type, "failed") << job;
    }
  }
  EXPECT_GT(completed, kJobs / 2);

  // The history survived every kill -9: no gap, no duplicate. Every 9th job
  // of a run fails with a printer jam (a fault row with its failure).
  int with_fault = 0;
  auto store = JobStore::Open(dir.path() / "data", SystemClock::Instance());
  ASSERT_TRUE(store.ok()) << store.status();
  for (const auto& [job, type] : outcome) {
    SCOPED_TRACE(job);
    auto rec = (*store)->Find(job);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    auto history = (*store)->History(job);
    ASSERT_TRUE(history.ok()) << history.status();
    std::string state;  // the state the chain has reached
    std::set<std::pair<std::string, std::string>> transitions;
    std::map<std::string, int> kinds;
    const auto& h = *history;
    for (size_t i = 0; i < h.size(); ++i) {
      if (h[i].kind == "state") {
        EXPECT_EQ(h[i].from_state, state) << "gap before row " << h[i].seq;
        EXPECT_TRUE(transitions.emplace(h[i].from_state, h[i].state).second)
            << "duplicate " << h[i].from_state << "->" << h[i].state;
        state = h[i].state;
        continue;
      }
      ++kinds[h[i].kind];
      EXPECT_EQ(h[i].state, state) << h[i].kind << " row out of place";
      // Each step's row is stored with the state change it explains: the
      // next row of the job is that change.
      ASSERT_LT(i + 1, h.size()) << h[i].kind << " row without its state change";
      // (A card left mid-encoding by a kill is recorded rejected with
      // the job's failure at restart.)
      const bool quarantined = h[i].kind == "card" && h[i].detail.stage == "rejected";
      const std::string next = h[i].kind == "attempt" ? "encoding"
                               : quarantined          ? "failed"
                               : h[i].kind == "card"  ? "encoded"
                               : h[i].kind == "qa"    ? "verified"
                                                      : "failed";
      EXPECT_EQ(h[i + 1].kind, "state");
      EXPECT_EQ(h[i + 1].state, next) << h[i].kind;
    }
    EXPECT_EQ(state, std::string(ToString((*rec)->state)));
    for (const auto& [kind, n] : kinds) EXPECT_EQ(n, 1) << "duplicate " << kind << " rows";
    with_fault += kinds.count("fault") > 0;
    if (type == "completed") {
      EXPECT_EQ(kinds["attempt"], 1);
      EXPECT_EQ(kinds["card"], 1);
      EXPECT_EQ(kinds["qa"], 1);
    } else {
      ASSERT_FALSE(h.empty());
      EXPECT_EQ(h.back().state, "failed");
      EXPECT_FALSE(h.back().detail.code.empty());
    }
  }
  EXPECT_GT(with_fault, 0) << "no fault was recorded";
  std::cerr << "crash test: " << kills << " kills, " << completed << " completed, "
            << (kJobs - completed) << " failed (interrupted while encoding)\n";
}

}  // namespace
}  // namespace cardbureau::server
