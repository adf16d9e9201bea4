// `cardbureau validate --photo` and `serve`'s intake give the same outcome
// on every job of fixtures/jobs/ (issue 15, item 7), and both the "full"
// outcome of fixtures/jobs/expected.tsv.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardbureau/core/clock.h"
#include "cardbureau/core/job.h"
#include "cardbureau/line/commands.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/server/messages.h"

namespace cardbureau::line {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = CARDBUREAU_SOURCE_DIR;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Outcome(const Status& s) {
  if (s.ok()) return "OK";
  std::string out(s.code_name());
  if (!s.field().empty()) out += " " + s.field();
  return out;
}

// What serve answers for the job: the frames decoded as the protocol loop
// does (an `error` for an undecodable one), parsed, then the intake check.
std::string ServeOutcome(const std::string& frame0, const std::string& photo, const Clock& clock) {
  auto decoded = server::Decode(server::Frames{frame0, photo}, server::Sender::kCentre);
  if (!decoded.ok()) return Outcome(decoded.status());
  auto* jm = std::get_if<server::JobMessage>(&*decoded);
  if (!jm) return "NOT_A_JOB";
  auto job = ParseJobJson(jm->body);
  if (!job.ok()) return Outcome(job.status());
  return Outcome(MakeIntakeValidator(clock)(*job, AsBytes(photo)));
}

// What `cardbureau validate JOB --photo FILE --json` prints.
std::string ValidateOutcome(const fs::path& job, const fs::path& photo, int* exit_code) {
  auto commands = Commands();
  auto it = std::find_if(commands.begin(), commands.end(),
                         [](const Command& c) { return c.name == "validate"; });
  if (it == commands.end()) return "NO_VALIDATE_COMMAND";
  std::vector<std::string> args = {"validate", job.string(), "--photo",   photo.string(),
                                   "--json",   "--today",    "2026-11-25"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  *exit_code = it->run(static_cast<int>(argv.size()), argv.data());
  const std::string out = ::testing::internal::GetCapturedStdout();
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (!j.is_object()) return "UNPARSEABLE " + out;
  if (j.value("ok", false)) return "OK";
  std::string s = j.value("code", "");
  const std::string field = j.value("field", "");
  if (!field.empty()) s += " " + field;
  return s;
}

TEST(ValidateAgreesWithServe, EveryFixtureJob) {
  const ManualClock clock = ManualClock::AtBeijingDate(CivilDate{2026, 11, 25});
  std::istringstream tsv(Slurp(kRoot / "fixtures/jobs/expected.tsv"));
  std::string line;
  int checked = 0, refused_by_pipeline_only = 0;
  while (std::getline(tsv, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream cols(line);
    std::string file, core, full;
    std::getline(cols, file, '\t');
    std::getline(cols, core, '\t');
    std::getline(cols, full, '\t');
    if (full == "same") full = core;
    SCOPED_TRACE(file);
    const fs::path job_path = kRoot / "fixtures/jobs" / file;
    const std::string text = Slurp(job_path);
    std::string photo_file = "astronaut.png";
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("photo_file")) photo_file = j["photo_file"];
    const fs::path photo_path = kRoot / "fixtures/photos" / photo_file;
    int rc = -1;
    const std::string validate = ValidateOutcome(job_path, photo_path, &rc);
    const std::string serve = ServeOutcome(text, Slurp(photo_path), clock);
    EXPECT_EQ(validate, serve);
    EXPECT_EQ(validate, full);
    EXPECT_EQ(rc, validate == "OK" ? 0 : 1);
    if (core != full) ++refused_by_pipeline_only;
    ++checked;
  }
  EXPECT_GE(checked, 50);
  // The cat, the coffee cup and the name no font draws: refused by both.
  EXPECT_GE(refused_by_pipeline_only, 3);
}

// `cardbureau verify --data`: QA fails on a card whose UID the store does
// not bind to the job on its chip (one card UID, one live job).
TEST(VerifyUidBinding, QaFailsOnAUidNotBoundToTheJob) {
  const fs::path dir = fs::temp_directory_path() / ("cb-uidbind-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  EXPECT_EQ(CheckUidBinding(dir, "RJ20261123-000001", "AABBCCDD").code(), Code::kNotFound);
  const ManualClock clock = ManualClock::AtBeijingDate(CivilDate{2026, 11, 25});
  {
    auto store = server::JobStore::Open(dir, clock);
    ASSERT_TRUE(store.ok()) << store.status();
    auto job = ParseJob(Slurp(kRoot / "fixtures/jobs/valid-primary-new.json"));
    ASSERT_TRUE(job.ok()) << job.status();
    std::vector<server::IntakeJob> in{server::IntakeJob{*job, JobToJsonString(*job)}};
    ASSERT_TRUE((*store)->AddValidated(in, nullptr).ok());
    for (auto s : {server::JobState::kRendered, server::JobState::kEncoding}) {
      ASSERT_TRUE((*store)->Advance(job->job_id, s).ok());
    }
    server::HistoryEvent card;
    card.kind = "card";
    card.stage = "encoded";
    card.uid = "AABBCCDD";
    ASSERT_TRUE((*store)
                    ->AdvanceWith(job->job_id, server::JobState::kEncoded,
                                  std::vector<server::HistoryEvent>{card})
                    .ok());
  }
  EXPECT_TRUE(CheckUidBinding(dir, "RJ20261123-000001", "AABBCCDD").ok());
  Status dup = CheckUidBinding(dir, "RJ20261123-000001", "87B475A8");
  EXPECT_EQ(dup.code(), Code::kDuplicateUid) << dup;
  EXPECT_EQ(CheckUidBinding(dir, "NOPE", "AABBCCDD").code(), Code::kNotFound);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cardbureau::line
