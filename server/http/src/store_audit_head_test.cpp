// The audit trail's head kept in the job store (issue 15, item 6): the
// trail verified against the store's head (intact, truncated, edited,
// empty, missing), and an earlier head file migrated into the store.
#include "cardbureau/http/store_audit_head.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace cardbureau::http {
namespace {

namespace fs = std::filesystem;

class StoreAuditHeadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cb_store_audit_head_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto store = server::JobStore::Open(dir_, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto heads = StoreAuditHead::Open(*store_, dir_);
    ASSERT_TRUE(heads.ok()) << heads.status();
    heads_ = *heads;
  }
  void TearDown() override {
    heads_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string Trail() {
    std::ifstream in(dir_ / std::string(kAuditFileName));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void SetTrail(const std::string& text) {
    std::ofstream(dir_ / std::string(kAuditFileName), std::ios::trunc) << text;
  }
  void AppendThree(std::shared_ptr<AuditHeadStore> heads) {
    auto t = AuditTrail::Open(dir_, clock_, std::move(heads));
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Append("wang", "operator", "reprint.request", "J1", "OK", "smudge").ok());
    ASSERT_TRUE((*t)->Append("li", "qa", "reprint.approve", "RP1", "OK", "J1 -> J1~R1").ok());
    ASSERT_TRUE((*t)->Append("wang", "operator", "station.pause", "s1", "OK", "").ok());
  }
  AuditVerifyReport Verify() {
    auto rep = VerifyAuditTrail(dir_, *heads_);
    EXPECT_TRUE(rep.ok()) << rep.status();
    return rep.ok() ? *rep : AuditVerifyReport{};
  }

  SystemClock clock_;
  fs::path dir_;
  std::unique_ptr<server::JobStore> store_;
  std::shared_ptr<StoreAuditHead> heads_;
};

TEST_F(StoreAuditHeadTest, HeadLivesInTheStoreAndAgreesWithTheTrail) {
  AppendThree(heads_);
  EXPECT_FALSE(fs::exists(dir_ / std::string(kAuditHeadFileName)));  // no file any more
  auto head = store_->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->entries, 3);
  const auto rep = Verify();
  EXPECT_FALSE(rep.broken_line.has_value()) << rep.problem;
  EXPECT_EQ(rep.entries, 3);
  // Reopened, the chain goes on from the store's head.
  auto t = AuditTrail::Open(dir_, clock_, heads_);
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Append("li", "qa", "reprint.reject", "RP2", "OK", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq, 4);
  EXPECT_EQ((*store_->AuditHead())->entries, 4);
  EXPECT_EQ((*store_->AuditHead())->last_hash, r->hash);
}

TEST_F(StoreAuditHeadTest, TruncatedEditedEmptyOrHeadlessTrailsFail) {
  AppendThree(heads_);
  const std::string full = Trail();
  // Truncated: the last line removed (a valid chain on its own).
  std::string cut = full;
  cut.erase(cut.rfind('\n', cut.size() - 2) + 1);
  SetTrail(cut);
  auto rep = Verify();
  ASSERT_TRUE(rep.broken_line.has_value());
  EXPECT_EQ(*rep.broken_line, 3);
  EXPECT_NE(rep.problem.find("truncated"), std::string::npos) << rep.problem;
  auto t = AuditTrail::Open(dir_, clock_, heads_);
  ASSERT_FALSE(t.ok());  // continuing would hide the truncation
  EXPECT_EQ(t.status().code(), Code::kStorageError);
  // Edited: the first bad entry is named.
  std::string edited = full;
  edited.replace(edited.find("\"li\""), 4, "\"lu\"");
  SetTrail(edited);
  rep = Verify();
  ASSERT_TRUE(rep.broken_line.has_value());
  EXPECT_EQ(*rep.broken_line, 2);
  // Empty.
  SetTrail("");
  rep = Verify();
  ASSERT_TRUE(rep.broken_line.has_value());
  EXPECT_EQ(*rep.broken_line, 1);
  EXPECT_NE(rep.problem.find("empty"), std::string::npos) << rep.problem;
  // Intact again, then a data dir whose store has no head.
  SetTrail(full);
  EXPECT_FALSE(Verify().broken_line.has_value());
  const fs::path other = dir_ / "other";
  auto other_store = server::JobStore::Open(other, clock_);
  ASSERT_TRUE(other_store.ok());
  fs::copy_file(dir_ / std::string(kAuditFileName), other / std::string(kAuditFileName));
  auto other_heads = StoreAuditHead::Open(**other_store, other);
  ASSERT_TRUE(other_heads.ok());
  auto headless = VerifyAuditTrail(other, **other_heads);
  ASSERT_TRUE(headless.ok());
  ASSERT_TRUE(headless->broken_line.has_value());
  EXPECT_NE(headless->problem.find("head"), std::string::npos) << headless->problem;
  // A missing data dir.
  auto missing = VerifyAuditTrail(dir_ / "nope", *heads_);
  ASSERT_TRUE(missing.ok());
  ASSERT_TRUE(missing->broken_line.has_value());
  EXPECT_EQ(*missing->broken_line, 1);
}

TEST_F(StoreAuditHeadTest, AnEarlierHeadFileMovesIntoTheStore) {
  // A data dir of an earlier version: trail + DATA/dashboard-audit.head.
  AppendThree(std::make_shared<FileAuditHead>(dir_));
  ASSERT_TRUE(fs::exists(dir_ / std::string(kAuditHeadFileName)));
  EXPECT_FALSE(store_->AuditHead()->has_value());
  auto heads = StoreAuditHead::Open(*store_, dir_);
  ASSERT_TRUE(heads.ok()) << heads.status();
  EXPECT_FALSE(fs::exists(dir_ / std::string(kAuditHeadFileName)));
  auto head = store_->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->entries, 3);
  auto rep = VerifyAuditTrail(dir_, **heads);
  ASSERT_TRUE(rep.ok());
  EXPECT_FALSE(rep->broken_line.has_value()) << rep->problem;
  // The migrated head still catches a truncation.
  std::string cut = Trail();
  cut.erase(cut.rfind('\n', cut.size() - 2) + 1);
  SetTrail(cut);
  rep = VerifyAuditTrail(dir_, **heads);
  ASSERT_TRUE(rep.ok());
  ASSERT_TRUE(rep->broken_line.has_value());
  EXPECT_EQ(*rep->broken_line, 3);
  // A head file that is not a head: refused, nothing changed.
  const fs::path fresh = dir_ / "fresh";
  auto fresh_store = server::JobStore::Open(fresh, clock_);
  ASSERT_TRUE(fresh_store.ok());
  std::ofstream(fresh / std::string(kAuditHeadFileName)) << "garbage";
  auto bad = StoreAuditHead::Open(**fresh_store, fresh);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kStorageError);
  EXPECT_TRUE(fs::exists(fresh / std::string(kAuditHeadFileName)));
}

}  // namespace
}  // namespace cardbureau::http
