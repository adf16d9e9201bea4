// Deterministic crash test (issue 15): the real `cardbureau serve` with the
// `line` production (one sim printer over a loopback reader) is killed with
// SIGKILL exactly after each named step of a card (Line::ProduceOne: card
// fed, attempt recorded, chip encoded, face composed and checked, faces
// printed, production record written, encoded+printed stored, QA stored,
// report queued), through the test-only crash point
// CARDBUREAU_TEST_CRASH_AT=<step> (server/line/src/crash_point.h), and
// restarted on the same data directory each time. At the end: one terminal
// report per job at the centre, every job's history chains from `received`
// to its state with no gap and no duplicate row, and the batch's
// reconciliation.json agrees with the store's rows.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "cardbureau/server/job_store.h"
#include "cardbureau/testing/files.h"
#include "cardbureau/testing/process.h"
#include "harness.h"

namespace cardbureau::server {
namespace {

using namespace cbtest;
using cardbureau::testing::CardbureauBinary;
using cardbureau::testing::ChildOptions;
using cardbureau::testing::ChildProcess;

const fs::path kSource = CARDBUREAU_SOURCE_DIR;

// The named steps of Line::ProduceOne, in order, and RejectCard (a card
// fault recorded: each run's first print jams) before the print.
const std::vector<std::string> kSteps = {"FeedCard",
                                         "RecordAttempt",
                                         "EncodeChip",
                                         "ComposeFace",
                                         "CheckFace",
                                         "RejectCard",  // a card fault recorded (the jam)
                                         "PrintFaces",
                                         "WriteProductionRecord",
                                         "AdvanceEncodedAndPrinted",
                                         "QaAfterPrinting",
                                         "Finish"};

std::string Tail(const fs::path& p, size_t n = 40) {
  auto lines = ReadLines(p);
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    out += lines[i] + "\n";
  }
  return out;
}

TEST(StepCrash, KillNineAfterEachStepOfACardKeepsHistoryAndCounts) {
  TempDir dir;
  const fs::path data = dir.path() / "data", out = dir.path() / "out";
  fs::create_directories(data);
  cardbureau::testing::CopyTestKeys(kSource, data / "keys");
  fs::permissions(data / "keys", fs::perms::owner_all);
  // One school's demo jobs: one batch, more jobs than kills.
  auto made = cardbureau::testing::RunProcess(
      "/usr/bin/python3",
      {(kSource / "scripts/make_demo_jobs.py").string(), (dir.path() / "all.jsonl").string()});
  ASSERT_EQ(made.code, 0) << made.err;
  std::string school;
  std::set<std::string> job_ids;
  {
    std::ifstream in(dir.path() / "all.jsonl");
    std::ofstream jobs(dir.path() / "jobs.jsonl");
    std::string line;
    while (job_ids.size() < kSteps.size() + 2 && std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      const std::string code = j["school"]["code"];
      if (school.empty()) school = code;
      if (code != school) continue;
      jobs << line << "\n";
      job_ids.insert(j["job_id"].get<std::string>());
    }
  }
  ASSERT_GE(job_ids.size(), kSteps.size());
  {
    nlohmann::json line = {{"keys", "keys/keystore-test.json"},
                           {"template", "bjt-student"},
                           {"profile", "evolis-300"},
                           {"render_threads", 1},
                           {"batches_dir", (out / "batches").string()},
                           {"stock", {{"required", false}}},
                           {"stations",
                            {{{"name", "station-1"},
                              {"printer", "sim"},
                              {"reader", "loopback"},
                              {"hopper", (out / "hopper/station-1").string()},
                              {"seed", 1000},
                              // Each run's first print jams: a card fault
                              // is recorded (and killed after, once).
                              {"faults", {{"jam_print", nlohmann::json::array({1})}}}}}}};
    std::ofstream(data / "line.json") << line.dump(2);
    fs::permissions(data / "line.json", fs::perms::owner_read | fs::perms::owner_write);
  }
  const std::string endpoint = FreeTcpEndpoint();
  {
    nlohmann::json cfg = {{"centre", endpoint},
                          {"data_dir", data.string()},
                          {"bureau_id", "step-crash"},
                          {"production", {{"kind", "line"}}}};
    std::ofstream(dir.path() / "serve.json") << cfg.dump(2);
  }
  const fs::path reports = dir.path() / "reports.jsonl";
  const fs::path centre_log = dir.path() / "centre.log", serve_log = dir.path() / "serve.log";
  ChildOptions centre_opt;
  centre_opt.stderr_file = centre_log;
  ChildProcess centre(CardbureauBinary(),
                      {"centre", "--bind", endpoint, "--jobs", (dir.path() / "jobs.jsonl").string(),
                       "--photos", (kSource / "fixtures/photos").string(), "--reports",
                       reports.string(), "--until-done", "--redeliver-after", "1.5", "--quiet"},
                      centre_opt);
  ASSERT_TRUE(centre.ok());
  auto start_serve = [&](const std::string& crash_at) {
    ChildOptions opt;
    opt.stderr_file = serve_log;
    opt.stdout_file = serve_log;
    if (!crash_at.empty()) opt.extra_env.push_back("CARDBUREAU_TEST_CRASH_AT=" + crash_at);
    return std::make_unique<ChildProcess>(
        CardbureauBinary(),
        std::vector<std::string>{"serve", "--config", (dir.path() / "serve.json").string()}, opt);
  };

  // Killed exactly after each step of a card, in turn; each restart takes
  // up where the kill left the store.
  for (const auto& step : kSteps) {
    SCOPED_TRACE("crash at " + step);
    std::ofstream(serve_log, std::ios::app) << "=== serve, crash at " << step << "\n";
    auto serve = start_serve(step);
    ASSERT_TRUE(serve->ok());
    const auto code = serve->WaitFor(60s);
    ASSERT_TRUE(code.has_value()) << "serve never reached " << step << "\n" << Tail(serve_log);
    ASSERT_EQ(*code, 128 + SIGKILL) << Tail(serve_log);
  }
  // The last run, without a crash point, finishes every job.
  std::ofstream(serve_log, std::ios::app) << "=== serve, no crash point\n";
  auto serve = start_serve("");
  ASSERT_TRUE(serve->ok());
  const auto centre_code = centre.WaitFor(90s);
  ASSERT_EQ(centre_code.value_or(-1), 0) << "the centre did not get every report\n"
                                         << Tail(centre_log) << "--- serve:\n"
                                         << Tail(serve_log);
  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->WaitFor(60s).value_or(-1), 0) << Tail(serve_log);

  // Exactly one terminal report per job.
  std::map<std::string, std::set<std::string>> report_ids;
  std::map<std::string, std::string> outcome;
  const auto report_lines = ReadLines(reports);
  for (const auto& line : report_lines) {
    auto j = nlohmann::json::parse(line);
    const std::string job = j["job_id"];
    report_ids[job].insert(j["report_id"].get<std::string>());
    outcome[job] = j["type"];
  }
  EXPECT_EQ(report_lines.size(), job_ids.size());
  EXPECT_EQ(report_ids.size(), job_ids.size());
  for (const auto& [job, ids] : report_ids) EXPECT_EQ(ids.size(), 1u) << job;
  int completed = 0, failed = 0, rejected = 0;
  for (const auto& [job, type] : outcome) {
    completed += type == "completed";
    failed += type == "failed";
    rejected += type == "rejected";
  }
  EXPECT_EQ(completed + failed + rejected, static_cast<int>(job_ids.size()));

  // The history of every job: no gap, no duplicate.
  auto store = JobStore::Open(data, SystemClock::Instance());
  ASSERT_TRUE(store.ok()) << store.status();
  int interrupted = 0;
  for (const auto& job : job_ids) {
    SCOPED_TRACE(job);
    auto rec = (*store)->Find(job);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    auto history = (*store)->History(job);
    ASSERT_TRUE(history.ok()) << history.status();
    std::string state;
    std::set<std::pair<std::string, std::string>> transitions;
    std::set<std::tuple<std::string, std::string, int, std::string, std::string, std::string>>
        events;
    std::map<std::string, int> kinds;
    for (const auto& h : *history) {
      if (h.kind == "state") {
        EXPECT_EQ(h.from_state, state) << "gap before row " << h.seq;
        EXPECT_TRUE(transitions.emplace(h.from_state, h.state).second)
            << "duplicate " << h.from_state << "->" << h.state;
        state = h.state;
        continue;
      }
      EXPECT_EQ(h.state, state) << h.kind << " row out of place";
      ++kinds[h.kind];
      EXPECT_TRUE(events
                      .emplace(h.kind, h.detail.stage, h.detail.attempt, h.detail.code,
                               h.detail.uid, h.detail.message)
                      .second)
          << "duplicate " << h.kind << "/" << h.detail.stage << " row, card " << h.detail.attempt;
    }
    ASSERT_FALSE(history->empty());
    EXPECT_EQ(history->front().from_state, "");
    EXPECT_EQ(history->front().state, "received");
    EXPECT_EQ(state, std::string(ToString((*rec)->state)));
    // The store's terminal state is the one the centre was told.
    const std::string& type = outcome[job];
    const bool done =
        (*rec)->state == JobState::kReported || (*rec)->state == JobState::kAcknowledged;
    if (type == "completed") {
      EXPECT_TRUE(done) << state;
      EXPECT_EQ(kinds["qa"], 1) << "one QA verdict for the one card produced";
    } else {
      EXPECT_EQ(state, type);
    }
    // A kill between the attempt row and `verified` fails the job: the
    // chip may have been written, it is never encoded twice.
    if (type == "failed" && history->back().detail.code == "CARD_ERROR") ++interrupted;
  }
  // RecordAttempt .. AdvanceEncodedAndPrinted (RejectCard included): one
  // job each. FeedCard, QaAfterPrinting and Finish lose no job.
  EXPECT_EQ(interrupted, static_cast<int>(kSteps.size()) - 3);
  EXPECT_GE(completed, 3);

  // The counts agree: the batch's reconciliation.json (written by the line)
  // against the store's rows of the batch and the centre's reports.
  auto rows = (*store)->BatchRows(school);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), job_ids.size());
  std::set<std::string> produced_ids;
  for (const auto& r : *rows) {
    const bool done = r.state == JobState::kReported || r.state == JobState::kAcknowledged;
    EXPECT_EQ(done, outcome[r.job_id] == "completed") << r.job_id;
    if (!done) continue;
    produced_ids.insert(r.job_id);
    EXPECT_FALSE(r.card_uid.empty()) << r.job_id;
  }
  EXPECT_EQ(static_cast<int>(produced_ids.size()), completed);
  const fs::path rec_path = out / "batches" / school / "reconciliation.json";
  ASSERT_TRUE(fs::exists(rec_path)) << rec_path;
  const auto rec = nlohmann::json::parse(cardbureau::testing::Slurp(rec_path));
  EXPECT_EQ(rec["source"], "store");
  EXPECT_EQ(rec["jobs"].get<int>(), static_cast<int>(job_ids.size())) << rec.dump(2);
  EXPECT_EQ(rec["produced"].get<int>(), completed) << rec.dump(2);
  EXPECT_EQ(rec["failed"].get<int>(), failed) << rec.dump(2);
  EXPECT_EQ(rec["rejected"].get<int>(), rejected) << rec.dump(2);
  EXPECT_EQ(rec["in_progress"].get<int>(), 0) << rec.dump(2);
  // Every card that reached the reader is produced or rejected (the ones a
  // kill left in the station are recorded rejected, quarantined).
  EXPECT_EQ(rec["cards_in"].get<int>(),
            rec["produced"].get<int>() + rec["cards_rejected"].get<int>())
      << rec.dump(2);
  EXPECT_TRUE(rec["balanced"].get<bool>()) << rec.dump(2);
  std::set<std::string> listed;
  for (const auto& c : rec["cards"]) {
    if (!c["voided"].get<bool>()) listed.insert(c["job_id"].get<std::string>());
  }
  EXPECT_EQ(listed, produced_ids);
  std::cerr << "step crash test: " << kSteps.size() << " kills, " << completed << " of "
            << job_ids.size() << " completed\n";
}

}  // namespace
}  // namespace cardbureau::server
