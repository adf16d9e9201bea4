#include "cardbureau/http/audit_trail.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace cardbureau::http {
namespace {

class FixedClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'000'000'000));
  }
};

class AuditTrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cb_audit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string ReadFile() {
    std::ifstream in(dir_ / std::string(kAuditFileName));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void WriteFile(const std::string& text) {
    std::ofstream(dir_ / std::string(kAuditFileName), std::ios::trunc) << text;
  }
  void AppendThree() {
    auto t = AuditTrail::Open(dir_, clock_);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Append("wang", "operator", "reprint.request", "J1", "OK", "smudged").ok());
    ASSERT_TRUE((*t)->Append("li", "qa", "reprint.approve", "RP1", "OK", "J1 -> J1-R1").ok());
    ASSERT_TRUE((*t)->Append("wang", "operator", "reprint.approve", "RP1", "FORBIDDEN", "").ok());
  }

  FixedClock clock_;
  std::filesystem::path dir_;
};

TEST_F(AuditTrailTest, ChainsEntriesAndVerifies) {
  AppendThree();
  auto rep = VerifyAuditFile(dir_ / std::string(kAuditFileName));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->entries, 3);
  EXPECT_FALSE(rep->broken_line.has_value()) << rep->problem;

  auto t = AuditTrail::Open(dir_, clock_);
  ASSERT_TRUE(t.ok());
  auto tail = (*t)->Tail(2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].seq, 3);
  EXPECT_EQ((*tail)[0].outcome, "FORBIDDEN");
  EXPECT_EQ((*tail)[1].actor, "li");
  EXPECT_EQ((*tail)[0].prev, (*tail)[1].hash);
}

TEST_F(AuditTrailTest, ReopenContinuesTheChain) {
  AppendThree();
  AppendThree();
  auto rep = VerifyAuditFile(dir_ / std::string(kAuditFileName));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->entries, 6);
  EXPECT_FALSE(rep->broken_line.has_value()) << rep->problem;
}

TEST_F(AuditTrailTest, EditedEntryIsTheFirstBrokenLink) {
  AppendThree();
  std::string text = ReadFile();
  const size_t pos = text.find("smudged");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 7, "stolen!");
  WriteFile(text);
  auto rep = VerifyAuditFile(dir_ / std::string(kAuditFileName));
  ASSERT_TRUE(rep.ok());
  ASSERT_TRUE(rep->broken_line.has_value());
  EXPECT_EQ(*rep->broken_line, 1);
  EXPECT_EQ(rep->entries, 0);
}

TEST_F(AuditTrailTest, RemovedEntryIsDetected) {
  AppendThree();
  std::string text = ReadFile();
  const size_t first_nl = text.find('\n');
  const size_t second_nl = text.find('\n', first_nl + 1);
  text.erase(first_nl + 1, second_nl - first_nl);  // drop entry 2
  WriteFile(text);
  auto rep = VerifyAuditText(text);
  ASSERT_TRUE(rep.broken_line.has_value());
  EXPECT_EQ(*rep.broken_line, 2);
  EXPECT_EQ(rep.entries, 1);
}

TEST_F(AuditTrailTest, RecomputedHashStillBreaksTheNextLink) {
  AppendThree();
  std::string text = ReadFile();
  std::istringstream in(text);
  std::string l1, l2, l3;
  std::getline(in, l1);
  std::getline(in, l2);
  std::getline(in, l3);
  auto r2 = ParseAuditLine(l2);
  ASSERT_TRUE(r2.ok());
  r2->detail = "J1 -> J9";
  r2->hash = AuditRecordHash(*r2);  // a forger fixes up entry 2's own hash
  auto rep = VerifyAuditText(l1 + "\n" + AuditRecordToLine(*r2) + "\n" + l3 + "\n");
  ASSERT_TRUE(rep.broken_line.has_value());
  EXPECT_EQ(*rep.broken_line, 3);
}

TEST_F(AuditTrailTest, TornLastLineIsCutOnOpen) {
  AppendThree();
  std::string text = ReadFile();
  WriteFile(text + "{\"seq\":4,\"at_");
  EXPECT_TRUE(VerifyAuditFile(dir_ / std::string(kAuditFileName))->broken_line.has_value());
  auto t = AuditTrail::Open(dir_, clock_);
  ASSERT_TRUE(t.ok()) << t.status();
  auto rec = (*t)->Append("li", "qa", "reprint.reject", "RP2", "OK", "");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->seq, 4);
  auto rep = VerifyAuditFile(dir_ / std::string(kAuditFileName));
  EXPECT_FALSE(rep->broken_line.has_value()) << rep->problem;
  EXPECT_EQ(rep->entries, 4);
}

TEST_F(AuditTrailTest, GarbageLastLineRefusesToOpen) {
  std::filesystem::create_directories(dir_);
  WriteFile("not json\n");
  auto t = AuditTrail::Open(dir_, clock_);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kStorageError);
}

TEST(AuditVerify, MissingFileIsAnEmptyIntactTrail) {
  auto rep = VerifyAuditFile("/nonexistent/dir/dashboard-audit.jsonl");
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->entries, 0);
  EXPECT_FALSE(rep->broken_line.has_value());
}

TEST_F(AuditTrailTest, VerifyTrailAgreesWithItsHead) {
  AppendThree();
  auto rep = VerifyAuditTrail(dir_);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_FALSE(rep->broken_line.has_value()) << rep->problem;
  EXPECT_EQ(rep->entries, 3);
  auto head = ReadAuditHead(dir_);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->entries, 3);
}

TEST_F(AuditTrailTest, TruncatedTrailIsDetectedAndNotContinued) {
  AppendThree();
  std::string text = ReadFile();
  // Delete the last line: the chain that is left is valid on its own.
  text.erase(text.rfind('\n', text.size() - 2) + 1);
  WriteFile(text);
  EXPECT_FALSE(VerifyAuditFile(dir_ / std::string(kAuditFileName))->broken_line.has_value());
  auto rep = VerifyAuditTrail(dir_);
  ASSERT_TRUE(rep.ok());
  ASSERT_TRUE(rep->broken_line.has_value());
  EXPECT_EQ(*rep->broken_line, 3);
  EXPECT_NE(rep->problem.find("truncated"), std::string::npos) << rep->problem;
  auto t = AuditTrail::Open(dir_, clock_);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kStorageError);
  // Deleting every line: the empty trail fails too.
  WriteFile("");
  rep = VerifyAuditTrail(dir_);
  ASSERT_TRUE(rep->broken_line.has_value());
  EXPECT_NE(rep->problem.find("empty"), std::string::npos) << rep->problem;
}

TEST_F(AuditTrailTest, EditedEntryFailsVerifyTrailAtThatEntry) {
  AppendThree();
  std::string text = ReadFile();
  text.replace(text.find("\"li\""), 4, "\"lu\"");
  WriteFile(text);
  auto rep = VerifyAuditTrail(dir_);
  ASSERT_TRUE(rep->broken_line.has_value());
  EXPECT_EQ(*rep->broken_line, 2);
}

TEST_F(AuditTrailTest, MissingDirTrailOrHeadFail) {
  auto rep = VerifyAuditTrail(dir_ / "nope");
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->broken_line.has_value());
  std::filesystem::create_directories(dir_);
  rep = VerifyAuditTrail(dir_);
  EXPECT_TRUE(rep->broken_line.has_value());
  AppendThree();
  std::filesystem::remove(dir_ / std::string(kAuditHeadFileName));
  rep = VerifyAuditTrail(dir_);
  ASSERT_TRUE(rep->broken_line.has_value());
  EXPECT_NE(rep->problem.find("head"), std::string::npos) << rep->problem;
}

}  // namespace
}  // namespace cardbureau::http
