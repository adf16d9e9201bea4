// Table-driven: every job in fixtures/jobs/ against fixtures/jobs/expected.tsv
// (the "core" column: ParseJob + ValidateJob + ValidatePhotoBytes).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardbureau/core/job.h"
#include "cardbureau/core/validation.h"

namespace cardbureau {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(CARDBUREAU_SOURCE_DIR) / "fixtures";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Row {
  std::string file, core, full;
};

std::vector<Row> ReadTable() {
  std::vector<Row> rows;
  std::ifstream in(kFixtures / "jobs" / "expected.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream ss(line);
    Row r;
    std::getline(ss, r.file, '\t');
    std::getline(ss, r.core, '\t');
    std::getline(ss, r.full, '\t');
    rows.push_back(r);
  }
  return rows;
}

std::string Outcome(const Status& s) {
  if (s.ok()) return "OK";
  std::string out(s.code_name());
  if (!s.field().empty()) out += " " + s.field();
  return out;
}

TEST(FixtureJobsTest, EveryFixtureHasItsExpectedCoreOutcome) {
  auto rows = ReadTable();
  ASSERT_GE(rows.size(), 30u) << "fixtures/jobs/expected.tsv must list at least 30 jobs";
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(kFixtures / "jobs")) {
    if (e.path().extension() == ".json") ++files;
  }
  EXPECT_EQ(files, rows.size()) << "every job file needs a row in expected.tsv";

  auto clock = ManualClock::AtBeijingDate({2026, 11, 25});
  int valid = 0, refused = 0;
  for (const auto& row : rows) {
    SCOPED_TRACE(row.file);
    std::string text = Slurp(kFixtures / "jobs" / row.file);
    ASSERT_FALSE(text.empty());
    Status s;
    auto job = ParseJob(text);
    if (!job.ok()) {
      s = job.status();
    } else {
      ValidationOptions opts;
      opts.clock = &clock;
      s = ValidateJob(*job, opts);
      if (s.ok()) {
        auto j = nlohmann::json::parse(text);
        std::string photo = Slurp(kFixtures / "photos" / j.at("photo_file").get<std::string>());
        s = ValidatePhotoBytes(*job, AsBytes(photo));
      }
    }
    EXPECT_EQ(Outcome(s), row.core) << s.ToString();
    (s.ok() ? valid : refused)++;
  }
  EXPECT_GE(valid, 10);
  EXPECT_GE(refused, 20);
}

}  // namespace
}  // namespace cardbureau
