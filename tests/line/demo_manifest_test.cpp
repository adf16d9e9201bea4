// The demo's own manifest (issue 15, "Tests and demo"): every name of a
// batch of the demo's data, extracted from the manifest PDF with pdftotext,
// equals the job's name byte for byte (王𠀁 and 李䶮 included), and poppler
// prints no warning.
//
// Running scripts/demo.sh itself (56 jobs, two processes, a dashboard) is
// too slow for a ctest entry under the sanitizers, so this test builds one
// school's batch of the demo through the same code path the demo uses:
// the same jobs (scripts/make_demo_jobs.py, filtered to the school with the
// refused jobs, 北京一零一中学 11010810: 11 valid jobs, 11 refused ones),
// the same photos (fixtures/photos), the reference centre (server::Centre)
// offering them over ZeroMQ to the bureau (server::Bureau with serve's
// intake validator and the `line` production of `cardbureau serve`,
// line::MakeServeHooks, reading a line.json like the demo's: bjt-student,
// evolis-300, two sim printers on loopback readers, without the injected
// faults). The manifest is the one the line writes when the bureau stops.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cardbureau/line/commands.h"
#include "cardbureau/server/bureau.h"
#include "cardbureau/server/centre.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/testing/files.h"
#include "cardbureau/testing/process.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kDemoRoot = CARDBUREAU_SOURCE_DIR;
constexpr const char* kSchool = "11010810";  // SCHOOLS[0]: the refused jobs' school too

// A loopback TCP port that was free a moment ago.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

std::vector<std::string> LinesOf(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

TEST(DemoManifest, EveryNameOfTheDemoBatchExtractsExactlyAndPopplerIsSilent) {
  const fs::path dir =
      fs::temp_directory_path() / ("cb-demo-manifest-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path data = dir / "data";
  fs::create_directories(data / "keys");
  cardbureau::testing::CopyTestKeys(kDemoRoot, data / "keys");

  // The demo's jobs, as scripts/demo.sh makes them.
  auto made = cardbureau::testing::RunProcess(
      "/usr/bin/python3",
      {(kDemoRoot / "scripts/make_demo_jobs.py").string(), (dir / "all.jsonl").string()});
  ASSERT_EQ(made.code, 0) << made.err;
  std::map<std::string, std::string> names;  // job_id -> name, the batch's jobs
  {
    std::ifstream in(dir / "all.jsonl");
    std::ofstream out(dir / "jobs.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      const json j = json::parse(line);
      if (j["school"]["code"] != kSchool) continue;
      names[j["job_id"].get<std::string>()] = j["student"]["name"].get<std::string>();
      out << line << "\n";
    }
  }
  ASSERT_EQ(names.size(), 22u);
  bool has_ext_a = false, has_ext_b = false;
  for (const auto& [id, name] : names) {
    has_ext_a |= name == "李䶮";
    has_ext_b |= name == "王𠀁";
  }
  ASSERT_TRUE(has_ext_a && has_ext_b) << "the batch must hold 李䶮 and 王𠀁";

  // The demo's line.json, minus the injected faults and the stock lots (the
  // manifest is the subject here; stock is line_stock_test's).
  const fs::path batches = dir / "batches";
  {
    json line = {{"keys", "keys/keystore-test.json"},
                 {"stock", {{"required", false}}},
                 {"template", "bjt-student"},
                 {"profile", "evolis-300"},
                 {"render_threads", 1},
                 {"max_tries", 3},
                 {"batches_dir", batches.string()},
                 {"stations",
                  {{{"name", "station-1"},
                    {"printer", "sim"},
                    {"reader", "loopback"},
                    {"hopper", (dir / "hopper/station-1").string()},
                    {"seed", 1000}},
                   {{"name", "station-2"},
                    {"printer", "sim"},
                    {"reader", "loopback"},
                    {"hopper", (dir / "hopper/station-2").string()},
                    {"seed", 5000}}}}};
    std::ofstream(data / "line.json") << line.dump(2);
  }

  const int port = FreePort();
  ASSERT_GT(port, 0);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  server::CentreOptions co;
  co.bind = endpoint;
  co.jobs_file = dir / "jobs.jsonl";
  co.photos_dir = kDemoRoot / "fixtures/photos";
  co.reports_file = dir / "reports.jsonl";
  co.until_done = true;
  co.show_progress = false;
  auto centre = server::Centre::Create(co);
  ASSERT_TRUE(centre.ok()) << centre.status();

  const Clock& clock = SystemClock::Instance();
  auto store = server::JobStore::Open(data, clock);
  ASSERT_TRUE(store.ok()) << store.status();
  server::ServeConfig cfg;
  cfg.centre = endpoint;
  cfg.data_dir = data;
  auto hooks = MakeServeHooks();
  auto make_line = hooks.productions.at("line");
  auto bureau = server::Bureau::Create(
      cfg, **store, clock, hooks.validator(clock),
      [&](server::ProductionSink& sink) { return make_line(sink, cfg, clock); });
  ASSERT_TRUE(bureau.ok()) << bureau.status();

  std::atomic<bool> centre_stop{false}, bureau_stop{false};
  Status centre_result, bureau_result;
  std::thread centre_thread([&] { centre_result = (*centre)->Run(centre_stop); });
  std::thread bureau_thread([&] { bureau_result = (*bureau)->Run(bureau_stop); });
  centre_thread.join();  // until_done: every job has its terminal report
  bureau_stop = true;
  bureau_thread.join();  // stops the line: it writes the batch files
  ASSERT_TRUE(centre_result.ok()) << centre_result;
  ASSERT_TRUE(bureau_result.ok()) << bureau_result;
  EXPECT_EQ((*centre)->summary().completed, 11);
  EXPECT_EQ((*centre)->summary().rejected, 11);

  // The store holds every name of the batch (refused jobs included).
  auto rows = (*store)->BatchRows(kSchool);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), names.size());
  for (const auto& r : *rows) EXPECT_EQ(r.student_name, names.at(r.job_id)) << r.job_id;

  const fs::path manifest = batches / kSchool / "manifest.pdf";
  ASSERT_TRUE(fs::exists(manifest));
  auto text = cardbureau::testing::RunProcess("/usr/bin/pdftotext",
                                              {"-enc", "UTF-8", manifest.string(), "-"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(text.err, "") << "poppler warned";
  const auto lines = LinesOf(text.out);
  for (const auto& [id, name] : names) {
    EXPECT_NE(std::find(lines.begin(), lines.end(), name), lines.end())
        << id << ": no line of the manifest is exactly " << name;
    EXPECT_NE(text.out.find(id), std::string::npos) << id;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::line
