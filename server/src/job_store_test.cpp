#include "cardbureau/server/job_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cardbureau/core/validation.h"
#include "cardbureau/server/bureau.h"
#include "cardbureau/server/commands.h"
#include "job_fixtures.h"

namespace cardbureau::server {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cbstore-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class JobStoreTest : public ::testing::Test {
 protected:
  JobStoreTest() : clock_(ManualClock::AtBeijingDate(CivilDate{2026, 11, 25})) { Reopen(); }

  void Reopen() {
    store_.reset();
    auto s = JobStore::Open(dir_.path(), clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(s).value();
  }

  // Stores a valid job with its photo, as intake does.
  IntakeJob Add(const std::string& id, uint32_t seed = 1, const std::string& name = "张三") {
    auto photo = cbtest::FakeJpeg(2000, seed);
    auto parsed = ParseJobJson(cbtest::ValidJobJson(id, photo, name));
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    Job job = std::move(parsed).value();
    ValidationOptions vo;
    vo.clock = &clock_;
    EXPECT_TRUE(ValidateJob(job, vo).ok());
    EXPECT_TRUE(store_->photos().Write(job.photo.sha256, photo).ok());
    EXPECT_TRUE(store_->photos().SyncDirectory().ok());
    IntakeJob in{job, JobToJsonString(job)};
    std::vector<IntakeJob> v{in};
    std::vector<std::string> skipped;
    EXPECT_TRUE(store_->AddValidated(v, &skipped).ok());
    return in;
  }

  JobState StateOf(const std::string& id) {
    auto r = store_->Find(id);
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? (*r)->state : JobState::kFailed;
  }

  void AdvanceTo(const std::string& id, JobState last) {
    for (JobState s : {JobState::kRendered, JobState::kEncoding, JobState::kEncoded,
                       JobState::kPrinted, JobState::kVerified}) {
      Status st = store_->Advance(id, s);
      ASSERT_TRUE(st.ok()) << ToString(s) << " " << st;
      if (s == last) return;
    }
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<JobStore> store_;
};

TEST(JobStates, NamesRoundTrip) {
  for (JobState s : AllJobStates()) {
    EXPECT_EQ(JobStateFromString(ToString(s)), s);
  }
  EXPECT_EQ(AllJobStates().size(), 12u);
  EXPECT_FALSE(JobStateFromString("bogus").has_value());
}

TEST(JobStates, TransitionTable) {
  EXPECT_TRUE(IsAllowedTransition(JobState::kReceived, JobState::kValidated));
  EXPECT_TRUE(IsAllowedTransition(JobState::kRendered, JobState::kEncoding));
  EXPECT_TRUE(IsAllowedTransition(JobState::kRendered, JobState::kCancelled));
  EXPECT_TRUE(IsAllowedTransition(JobState::kVerified, JobState::kReported));
  EXPECT_TRUE(IsAllowedTransition(JobState::kReported, JobState::kAcknowledged));
  EXPECT_FALSE(IsAllowedTransition(JobState::kEncoding, JobState::kCancelled));
  EXPECT_FALSE(IsAllowedTransition(JobState::kValidated, JobState::kEncoded));
  EXPECT_FALSE(IsAllowedTransition(JobState::kAcknowledged, JobState::kValidated));
  EXPECT_FALSE(IsAllowedTransition(JobState::kRejected, JobState::kValidated));
  EXPECT_FALSE(IsAllowedTransition(JobState::kCancelled, JobState::kRendered));
  EXPECT_TRUE(IsTerminal(JobState::kRejected));
  EXPECT_FALSE(IsTerminal(JobState::kVerified));
  EXPECT_TRUE(IsBeforeEncoding(JobState::kRendered));
  EXPECT_FALSE(IsBeforeEncoding(JobState::kEncoding));
}

TEST_F(JobStoreTest, SchemaIsVersionedAndNewerIsRefused) {
  EXPECT_EQ(store_->SchemaVersion(), kSchemaVersion);
  Reopen();  // migrations are not re-applied
  EXPECT_EQ(store_->SchemaVersion(), kSchemaVersion);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "bureau.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = JobStore::Open(dir_.path(), clock_);
  EXPECT_EQ(s.status().code(), Code::kStorageError);
}

TEST_F(JobStoreTest, IntakeStoresJobHistoryAndPhoto) {
  auto in = Add("J1");
  auto rec = store_->Find("J1");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state, JobState::kValidated);
  EXPECT_EQ((*rec)->school_code, "11010810");
  EXPECT_TRUE(fs::exists(store_->photos().PathFor(in.job.photo.sha256)));
  auto tl = store_->Timeline("J1");
  ASSERT_TRUE(tl.ok());
  ASSERT_EQ(tl->size(), 2u);
  EXPECT_FALSE((*tl)[0].from.has_value());
  EXPECT_EQ((*tl)[0].to, JobState::kReceived);
  EXPECT_EQ((*tl)[1].to, JobState::kValidated);
  auto job = store_->LoadJob("J1");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->student.name, "张三");
  EXPECT_TRUE(job->card.valid_until.has_value());
  // A second intake of the same id is skipped, not duplicated.
  std::vector<IntakeJob> again{in};
  std::vector<std::string> skipped;
  ASSERT_TRUE(store_->AddValidated(again, &skipped).ok());
  EXPECT_EQ(skipped, std::vector<std::string>{"J1"});
  EXPECT_EQ(store_->Timeline("J1")->size(), 2u);
}

TEST_F(JobStoreTest, TransitionsAreCheckedAndRecorded) {
  Add("J1");
  EXPECT_EQ(store_->Advance("J1", JobState::kEncoded).code(), Code::kFailedPrecondition);
  AdvanceTo("J1", JobState::kVerified);
  EXPECT_EQ(StateOf("J1"), JobState::kVerified);
  EXPECT_EQ(store_->Advance("nope", JobState::kRendered).code(), Code::kNotFound);
  EXPECT_EQ(store_->Timeline("J1")->size(), 7u);
  Reopen();  // durable
  EXPECT_EQ(StateOf("J1"), JobState::kVerified);
}

TEST_F(JobStoreTest, CompletionGoesThroughOutboxUntilAck) {
  Add("J1");
  AdvanceTo("J1", JobState::kVerified);
  Completed c;
  c.card = {"04A1B2C3", "1000751234567890", "mifare-classic-1k"};
  auto report = store_->Complete("J1", c);
  ASSERT_TRUE(report.ok()) << report.status();
  const std::string rid = ReportIdOf(*report);
  EXPECT_FALSE(rid.empty());
  EXPECT_EQ(StateOf("J1"), JobState::kReported);
  auto pending = store_->PendingReports();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].report_id, rid);
  EXPECT_EQ((*pending)[0].type, "completed");
  // The stored report is what a duplicate job is answered with.
  auto stored = store_->TerminalReport("J1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(ReportIdOf(**stored), rid);
  // Completing again returns the same report, not a second one.
  auto again = store_->Complete("J1", c);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ReportIdOf(*again), rid);
  Reopen();
  EXPECT_EQ(store_->PendingReports()->size(), 1u);
  ASSERT_TRUE(store_->Acknowledge(rid).ok());
  EXPECT_TRUE(store_->Acknowledge(rid).ok());  // idempotent
  EXPECT_EQ(store_->Acknowledge("r-unknown").code(), Code::kNotFound);
  EXPECT_EQ(StateOf("J1"), JobState::kAcknowledged);
  EXPECT_TRUE(store_->PendingReports()->empty());
}

TEST_F(JobStoreTest, RejectionIsTerminalAndStable) {
  auto r = store_->Reject("BAD1", Status(Code::kInvalidField, "no", "student.gender"));
  ASSERT_TRUE(r.ok()) << r.status();
  auto& rej = std::get<Rejected>(*r);
  EXPECT_EQ(rej.code, "INVALID_FIELD");
  EXPECT_EQ(rej.field, "student.gender");
  EXPECT_EQ(StateOf("BAD1"), JobState::kRejected);
  auto again = store_->Reject("BAD1", Status(Code::kInvalidField, "no", "student.gender"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ReportIdOf(*again), rej.report_id);
  EXPECT_EQ(store_->PendingReports()->size(), 1u);
  // A job in production is not rejected retroactively.
  Add("J1");
  EXPECT_EQ(store_->Reject("J1", Status(Code::kInvalidField, "x")).status().code(),
            Code::kFailedPrecondition);
}

TEST_F(JobStoreTest, CancelBeforeEncodingCancels) {
  Add("J1");
  ASSERT_TRUE(store_->Advance("J1", JobState::kRendered).ok());
  auto r = store_->Cancel("J1", "found");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::holds_alternative<Cancelled>(*r));
  EXPECT_EQ(StateOf("J1"), JobState::kCancelled);
  // Production notices at its next step.
  EXPECT_EQ(store_->Advance("J1", JobState::kEncoding).code(), Code::kCancelled);
  // A repeated cancel answers with the same report.
  auto again = store_->Cancel("J1", "found");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ReportIdOf(*again), ReportIdOf(*r));
}

TEST_F(JobStoreTest, CancelAfterEncodingIsTooLate) {
  Add("J1");
  AdvanceTo("J1", JobState::kEncoded);
  auto r = store_->Cancel("J1", "found");
  ASSERT_TRUE(r.ok()) << r.status();
  auto* f = std::get_if<Failed>(&*r);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code, "TOO_LATE");
  EXPECT_FALSE(f->retryable);
  EXPECT_EQ(StateOf("J1"), JobState::kFailed);
  EXPECT_EQ(store_->Advance("J1", JobState::kPrinted).code(), Code::kCancelled);
  Completed c;
  EXPECT_EQ(store_->Complete("J1", c).status().code(), Code::kCancelled);
}

TEST_F(JobStoreTest, CancelOfUnknownJobLeavesTombstone) {
  auto r = store_->Cancel("LATE1", "found");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::holds_alternative<Cancelled>(*r));
  auto stored = store_->TerminalReport("LATE1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(ReportIdOf(**stored), ReportIdOf(*r));
}

TEST_F(JobStoreTest, FailRecordsReport) {
  Add("J1");
  AdvanceTo("J1", JobState::kEncoding);
  auto r = store_->Fail("J1", Status(Code::kCardError, "interrupted"), false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Failed>(*r).code, "CARD_ERROR");
  EXPECT_EQ(StateOf("J1"), JobState::kFailed);
}

TEST_F(JobStoreTest, RetentionPurgesPersonalDataButKeepsAudit) {
  auto a = Add("J1", 1, "李四");
  auto b = Add("J2", 2);
  auto shared_photo = a.job.photo.sha256;
  fs::create_directories(store_->CardsDir("J1"));
  std::ofstream(store_->CardsDir("J1") / "front.png") << "face";
  AdvanceTo("J1", JobState::kVerified);
  auto report = store_->Complete("J1", Completed{});
  ASSERT_TRUE(report.ok());
  ASSERT_TRUE(store_->Acknowledge(ReportIdOf(*report)).ok());

  clock_.Advance(std::chrono::hours(24 * 6));
  ASSERT_EQ(store_->PurgeExpired(std::chrono::hours(24 * 7))->size(), 0u);
  EXPECT_TRUE(fs::exists(store_->photos().PathFor(shared_photo)));

  clock_.Advance(std::chrono::hours(24 * 2));
  ASSERT_EQ(store_->PurgeExpired(std::chrono::hours(24 * 7))->size(), 1u);
  EXPECT_FALSE(fs::exists(store_->photos().PathFor(shared_photo)));
  EXPECT_FALSE(fs::exists(store_->CardsDir("J1")));
  EXPECT_TRUE(fs::exists(store_->photos().PathFor(b.job.photo.sha256)));  // J2 not acked
  auto rec = store_->Find("J1");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_TRUE((*rec)->purged);
  EXPECT_EQ((*rec)->student_name, "");
  EXPECT_EQ((*rec)->job_json, "");
  EXPECT_EQ((*rec)->photo_sha256, shared_photo);  // the hash stays
  EXPECT_EQ(store_->LoadJob("J1").status().code(), Code::kNotFound);
  auto audit = store_->Audit("J1");
  ASSERT_TRUE(audit.ok());
  ASSERT_FALSE(audit->empty());
  bool purged_event = false;
  for (const auto& e : *audit) {
    EXPECT_EQ(e.detail.find("李四"), std::string::npos);
    purged_event |= e.event == "purged";
  }
  EXPECT_TRUE(purged_event);
  EXPECT_EQ(store_->PurgeExpired(std::chrono::hours(24 * 7))->size(), 0u);  // once
}

TEST_F(JobStoreTest, SharedPhotoSurvivesUntilLastJobIsPurged) {
  auto a = Add("J1", 7);
  auto b = Add("J2", 7);  // same photo bytes
  ASSERT_EQ(a.job.photo.sha256, b.job.photo.sha256);
  AdvanceTo("J1", JobState::kVerified);
  auto r = store_->Complete("J1", Completed{});
  ASSERT_TRUE(store_->Acknowledge(ReportIdOf(*r)).ok());
  clock_.Advance(std::chrono::hours(24 * 8));
  ASSERT_EQ(store_->PurgeExpired(std::chrono::hours(24 * 7))->size(), 1u);
  EXPECT_TRUE(fs::exists(store_->photos().PathFor(a.job.photo.sha256)));
}

TEST_F(JobStoreTest, DashboardQueries) {
  Add("J1", 1, "王小明");
  Add("J2", 2, "赵六");
  Add("J3", 3, "钱七");
  AdvanceTo("J3", JobState::kEncoded);
  ASSERT_TRUE(store_->Reject("BAD", Status(Code::kExpired, "x", "card.valid_until")).ok());

  JobQuery q;
  q.state = JobState::kValidated;
  auto v = store_->List(q);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size(), 2u);
  q = JobQuery{};
  q.text = "小明";
  v = store_->List(q);
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].job_id, "J1");
  q = JobQuery{};
  q.code = "J3";
  EXPECT_EQ(store_->List(q)->size(), 1u);
  q = JobQuery{};
  q.school_code = "11010810";
  EXPECT_EQ(store_->List(q)->size(), 3u);
  q = JobQuery{};
  q.limit = 2;
  EXPECT_EQ(store_->List(q)->size(), 2u);

  auto counts = store_->CountsByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[JobState::kValidated], 2);
  EXPECT_EQ((*counts)[JobState::kEncoded], 1);
  EXPECT_EQ((*counts)[JobState::kRejected], 1);
  EXPECT_EQ(*store_->CountInProduction(), 3);
  const JobState states[] = {JobState::kEncoded};
  auto in = store_->InStates(states);
  ASSERT_EQ(in->size(), 1u);
  EXPECT_EQ((*in)[0].job_id, "J3");
}

TEST_F(JobStoreTest, PhotoBatchWritesEveryPhotoDurably) {
  auto a = cbtest::FakeJpeg(3000, 11);
  auto b = cbtest::FakeJpeg(4000, 12);
  std::vector<std::pair<std::string, ByteView>> batch{{Sha256Hex(a), ByteView(a)},
                                                      {Sha256Hex(b), ByteView(b)}};
  ASSERT_TRUE(store_->photos().WriteBatch(batch).ok());
  EXPECT_EQ(*store_->photos().Read(Sha256Hex(a)), a);
  EXPECT_EQ(*store_->photos().Read(Sha256Hex(b)), b);
  ASSERT_TRUE(store_->photos().WriteBatch(batch).ok());  // already present: kept
  int files = 0;
  for (const auto& e : fs::directory_iterator(store_->photos().dir())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos);
    ++files;
  }
  EXPECT_EQ(files, 2);
  std::vector<std::pair<std::string, ByteView>> bad{{"../x", ByteView(a)}};
  EXPECT_EQ(store_->photos().WriteBatch(bad).code(), Code::kInvalidField);
}

TEST_F(JobStoreTest, PhotoStoreRefusesBadNames) {
  EXPECT_EQ(store_->photos().Write("../etc/passwd", Bytes{1}).code(), Code::kInvalidField);
  EXPECT_EQ(store_->photos().Read(std::string(64, 'a')).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace cardbureau::server

namespace cardbureau::server {
namespace {

class ReprintStoreTest : public JobStoreTest {
 protected:
  // A job produced and reported (not yet acked).
  std::string Produced(const std::string& id) {
    Add(id);
    AdvanceTo(id, JobState::kVerified);
    Completed c;
    c.card = {"04A1B2C3", "1000751234567890", "mifare-classic-1k"};
    EXPECT_TRUE(store_->Complete(id, c).ok());
    return id;
  }
  JobRecord Rec(const std::string& id) {
    auto r = store_->Find(id);
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? **r : JobRecord{};
  }
};

TEST_F(ReprintStoreTest, PendingRequestThenApprovalCreatesLinkedAttemptAndVoidsOldCard) {
  Produced("J1");
  auto req = store_->RequestReprint("J1", "ribbon smear on the photo", "wang", false);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->status, "pending");
  EXPECT_TRUE(req->new_job_id.empty());
  EXPECT_FALSE(Rec("J1").voided_at_ms.has_value());  // nothing happens before approval
  EXPECT_EQ(store_->Reprints("pending")->size(), 1u);
  // A second request while one is pending is refused.
  EXPECT_EQ(store_->RequestReprint("J1", "again", "wang", false).status().code(),
            Code::kFailedPrecondition);

  auto ok = store_->DecideReprint(req->reprint_id, true, "li");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, "approved");
  EXPECT_EQ(ok->decided_by, "li");
  EXPECT_EQ(ok->new_job_id, "J1~R1");
  // Deciding twice is refused.
  EXPECT_EQ(store_->DecideReprint(req->reprint_id, false, "li").status().code(),
            Code::kFailedPrecondition);

  Reopen();  // all of it is durable
  const JobRecord old = Rec("J1");
  EXPECT_TRUE(old.voided_at_ms.has_value());
  EXPECT_EQ(old.reprinted_by, "J1~R1");
  EXPECT_EQ(old.state, JobState::kReported);  // the centre's view is unchanged
  const JobRecord attempt = Rec("J1~R1");
  EXPECT_EQ(attempt.state, JobState::kValidated);
  EXPECT_EQ(attempt.reprint_of, "J1");
  EXPECT_TRUE(attempt.internal());
  EXPECT_EQ(attempt.school_code, old.school_code);
  EXPECT_EQ(attempt.photo_sha256, old.photo_sha256);
  auto job = store_->LoadJob("J1~R1");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->student.name, "张三");
  // The old job's timeline shows the void.
  auto tl = store_->Timeline("J1");
  ASSERT_TRUE(tl.ok());
  EXPECT_NE(tl->back().note.find("voided"), std::string::npos);
  auto stored = store_->FindReprint(req->reprint_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->new_job_id, "J1~R1");
  // A voided card cannot be reprinted again (its attempt can).
  EXPECT_EQ(store_->RequestReprint("J1", "x", "li", true).status().code(),
            Code::kFailedPrecondition);
}

TEST_F(ReprintStoreTest, AttemptReportsAreStoredAckedAndNeverQueuedForTheCentre) {
  Produced("J1");
  const auto before = store_->PendingReports();
  ASSERT_EQ(before->size(), 1u);  // J1's own completed report
  auto r = store_->RequestReprint("J1", "chip fails at the school reader", "li", true);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, "approved");
  const std::string id = r->new_job_id;
  AdvanceTo(id, JobState::kVerified);
  Completed c;
  c.card = {"04FFEE01", "1000751234567890", "mifare-classic-1k"};
  auto done = store_->Complete(id, c);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(StateOf(id), JobState::kAcknowledged);
  EXPECT_TRUE(Rec(id).acked_at_ms.has_value());
  auto pending = store_->PendingReports();
  // J1's own completed report, and the card_replaced for J1 (never one for
  // the attempt itself).
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].job_id, "J1");
  EXPECT_EQ((*pending)[1].job_id, "J1");
  EXPECT_EQ((*pending)[1].type, "card_replaced");
  // A failed attempt is reprintable; the next id counts on.
  auto r2 = store_->RequestReprint(id, "smudge", "li", true);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->new_job_id, "J1~R2");
  ASSERT_TRUE(store_->Fail("J1~R2", Status(Code::kPrinterJam, "jam"), true).ok());
  EXPECT_EQ(store_->PendingReports()->size(), 2u);  // a failed attempt replaces nothing
  auto r3 = store_->RequestReprint("J1~R2", "jammed", "li", true);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_EQ(r3->new_job_id, "J1~R3");
}

TEST_F(ReprintStoreTest, RefusesWhatCannotBeReprinted) {
  Add("J1");  // validated: no card yet
  EXPECT_EQ(store_->RequestReprint("J1", "x", "li", true).status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(store_->RequestReprint("nope", "x", "li", true).status().code(), Code::kNotFound);
  Produced("J2");
  EXPECT_EQ(store_->RequestReprint("J2", "", "li", true).status().code(), Code::kInvalidField);
  EXPECT_EQ(store_->RequestReprint("J2", "x", "", true).status().code(), Code::kInvalidField);
  ASSERT_TRUE(store_->Fail("J1", Status(Code::kPrinterJam, "jam"), true).ok());
  // A failed centre job is the centre's to resend, not a reprint.
  EXPECT_EQ(store_->RequestReprint("J1", "x", "li", true).status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(store_->DecideReprint("rp-none", true, "li").status().code(), Code::kNotFound);
  // Rejected requests leave the job alone.
  auto req = store_->RequestReprint("J2", "x", "wang", false);
  ASSERT_TRUE(req.ok());
  auto no = store_->DecideReprint(req->reprint_id, false, "li");
  ASSERT_TRUE(no.ok());
  EXPECT_EQ(no->status, "rejected");
  EXPECT_TRUE(no->new_job_id.empty());
  EXPECT_FALSE(Rec("J2").voided_at_ms.has_value());
  EXPECT_EQ(store_->Reprints("")->size(), 1u);
  EXPECT_EQ(store_->Reprints("pending")->size(), 0u);
}

TEST_F(ReprintStoreTest, PurgedJobCannotBeReprinted) {
  Produced("J1");
  auto rep = store_->TerminalReport("J1");
  ASSERT_TRUE(store_->Acknowledge(ReportIdOf(**rep)).ok());
  clock_.Advance(std::chrono::hours(24 * 8));
  auto purged = store_->PurgeExpired(std::chrono::hours(24 * 7));
  ASSERT_TRUE(purged.ok()) << purged.status();
  ASSERT_EQ(purged->size(), 1u);
  EXPECT_EQ(store_->RequestReprint("J1", "x", "li", true).status().code(),
            Code::kFailedPrecondition);
}

TEST(JobStoreMigration, SchemaOneStoreIsUpgradedWithItsJobs) {
  TempDir dir;
  {
    // A store as schema 1 left it (the v1 tables, one job).
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "bureau.db").c_str(), &db), SQLITE_OK);
    const char* v1 =
        "CREATE TABLE jobs(job_id TEXT PRIMARY KEY, state TEXT NOT NULL, school_code TEXT NOT "
        "NULL DEFAULT '', card_no TEXT NOT NULL DEFAULT '', student_name TEXT, job_json TEXT, "
        "photo_sha256 TEXT NOT NULL DEFAULT '', report_id TEXT, received_at INTEGER NOT NULL, "
        "updated_at INTEGER NOT NULL, acked_at INTEGER, purged_at INTEGER);"
        "CREATE TABLE job_history(id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, from_state "
        "TEXT, to_state TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE outbox(report_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, type TEXT NOT "
        "NULL, frame0 TEXT NOT NULL, created_at INTEGER NOT NULL, acked_at INTEGER);"
        "CREATE TABLE audit(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, job_id TEXT NOT NULL, "
        "event TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');"
        "INSERT INTO jobs(job_id, state, school_code, received_at, updated_at) "
        "VALUES('OLD1','validated','11010810',1,1);"
        "PRAGMA user_version=1;";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto clock = ManualClock::AtBeijingDate(CivilDate{2026, 11, 25});
  auto store = JobStore::Open(dir.path(), clock);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->SchemaVersion(), kSchemaVersion);
  EXPECT_EQ((*store)->History("OLD1")->size(), 0u);
  auto rec = (*store)->Find("OLD1");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state, JobState::kValidated);
  EXPECT_FALSE((*rec)->internal());
  EXPECT_FALSE((*rec)->voided_at_ms.has_value());
  EXPECT_TRUE((*store)->Reprints("")->empty());
}

// ---- history (schema 3) ----

HistoryEvent Ev(std::string kind, std::string stage, std::string code = {},
                std::string message = {}) {
  HistoryEvent e;
  e.kind = std::move(kind);
  e.station = "st-1";
  e.printer = "sim-a";
  e.attempt = 1;
  e.stage = std::move(stage);
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

TEST_F(JobStoreTest, HistoryKeepsAttemptsFaultsQaInOrderWithTheirStateChanges) {
  Add("J1");
  ASSERT_TRUE(store_->Advance("J1", JobState::kRendered).ok());
  std::vector<HistoryEvent> attempt{Ev("attempt", "at-reader")};
  ASSERT_TRUE(store_->AdvanceWith("J1", JobState::kEncoding, attempt).ok());
  std::vector<HistoryEvent> jam{Ev("fault", "encode", "CARD_REMOVED", "card pulled")};
  ASSERT_TRUE(store_->Record("J1", jam).ok());
  auto card = Ev("card", "encoded");
  card.uid = "0A1B2C3D";
  ASSERT_TRUE(store_->AdvanceWith("J1", JobState::kEncoded, std::vector<HistoryEvent>{card}).ok());
  // A re-advance after a restart writes nothing (no duplicate).
  ASSERT_TRUE(store_->AdvanceWith("J1", JobState::kEncoded, std::vector<HistoryEvent>{card}).ok());
  ASSERT_TRUE(store_->Advance("J1", JobState::kPrinted).ok());
  auto qa = Ev("qa", "qa", "VERIFY_MISMATCH", "face: QR UID differs");
  auto failed = store_->Fail("J1", Status(Code::kVerifyMismatch, "QA after printing"), true,
                             std::vector<HistoryEvent>{qa});
  ASSERT_TRUE(failed.ok()) << failed.status();

  auto h = store_->History("J1");
  ASSERT_TRUE(h.ok()) << h.status();
  std::vector<std::string> kinds, states;
  for (const auto& r : *h) {
    kinds.push_back(r.kind);
    states.push_back(r.state);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"state", "state", "state", "attempt", "state", "fault",
                                             "card", "state", "state", "qa", "state"}));
  EXPECT_EQ(states, (std::vector<std::string>{"received", "validated", "rendered", "rendered",
                                              "encoding", "encoding", "encoding", "encoded",
                                              "printed", "printed", "failed"}));
  for (size_t i = 1; i < h->size(); ++i) EXPECT_GT((*h)[i].seq, (*h)[i - 1].seq);
  EXPECT_EQ((*h)[3].detail.station, "st-1");
  EXPECT_EQ((*h)[3].detail.printer, "sim-a");
  EXPECT_EQ((*h)[3].detail.attempt, 1);
  EXPECT_EQ((*h)[5].detail.code, "CARD_REMOVED");
  EXPECT_EQ((*h)[5].detail.message, "card pulled");
  EXPECT_EQ((*h)[6].detail.uid, "0A1B2C3D");
  EXPECT_EQ((*h)[9].detail.code, "VERIFY_MISMATCH");
  EXPECT_EQ((*h)[10].detail.code, "VERIFY_MISMATCH");
  EXPECT_EQ((*h)[10].detail.message, "QA after printing");
  EXPECT_EQ((*h)[10].from_state, "printed");
  // The state-only view is unchanged by the extra rows.
  EXPECT_EQ(store_->Timeline("J1")->size(), 7u);

  // It survives a reopen (it is the store, not memory).
  Reopen();
  EXPECT_EQ(store_->History("J1")->size(), h->size());
}

TEST_F(JobStoreTest, HistoryRowAndStateChangeAreOneTransaction) {
  Add("J1");
  ASSERT_TRUE(store_->Advance("J1", JobState::kRendered).ok());
  const size_t before = store_->History("J1")->size();
  // The second row is refused (no kind): neither row nor the state change stays.
  std::vector<HistoryEvent> bad{Ev("attempt", "at-reader"), HistoryEvent{}};
  EXPECT_FALSE(store_->AdvanceWith("J1", JobState::kEncoding, bad).ok());
  EXPECT_EQ(StateOf("J1"), JobState::kRendered);
  EXPECT_EQ(store_->History("J1")->size(), before);
  EXPECT_FALSE(store_->Record("J1", bad).ok());
  EXPECT_EQ(store_->History("J1")->size(), before);
  EXPECT_EQ(store_->Record("NOPE", std::vector<HistoryEvent>{Ev("fault", "feed")}).code(),
            Code::kNotFound);
}

TEST_F(JobStoreTest, RefusalKeepsCodeFieldAndMessage) {
  auto r = store_->Reject("BAD1", Status(Code::kInvalidField, "must be 8 digits", "school.code"),
                          "11010810");
  ASSERT_TRUE(r.ok()) << r.status();
  auto h = store_->History("BAD1");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ(h->back().state, "rejected");
  EXPECT_EQ(h->back().detail.code, "INVALID_FIELD");
  EXPECT_EQ(h->back().detail.field, "school.code");
  EXPECT_EQ(h->back().detail.message, "must be 8 digits");
}

TEST_F(JobStoreTest, HistoryCommandPrintsTheRows) {
  Add("J1");
  AdvanceTo("J1", JobState::kEncoding);
  std::vector<HistoryEvent> jam{Ev("fault", "feed", "PRINTER_JAM", "jam at the feeder")};
  ASSERT_TRUE(store_->Record("J1", jam).ok());
  auto text = FormatHistory(*store_, "J1", false);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("job J1 (encoding)"), std::string::npos) << *text;
  EXPECT_NE(text->find("fault [encoding] station=st-1 printer=sim-a card=1 stage=feed "
                       "code=PRINTER_JAM \"jam at the feeder\""),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("state rendered -> encoding"), std::string::npos) << *text;
  auto json = FormatHistory(*store_, "J1", true);
  ASSERT_TRUE(json.ok());
  auto doc = nlohmann::json::parse(*json);
  EXPECT_EQ(doc["job_id"], "J1");
  ASSERT_EQ(doc["history"].size(), store_->History("J1")->size());
  EXPECT_EQ(doc["history"].back()["code"], "PRINTER_JAM");
  EXPECT_EQ(doc["history"].back()["kind"], "fault");
  EXPECT_EQ(FormatHistory(*store_, "NOPE", false).status().code(), Code::kNotFound);
  // No personal data in the history text.
  EXPECT_EQ(text->find("张三"), std::string::npos);
}

TEST_F(JobStoreTest, OneCardUidOneLiveJob) {
  Add("J1", 1);
  Add("J2", 2);
  AdvanceTo("J1", JobState::kEncoding);
  AdvanceTo("J2", JobState::kEncoding);
  auto card = Ev("card", "encoded");
  card.uid = "87B475A8";
  ASSERT_TRUE(store_->AdvanceWith("J1", JobState::kEncoded, std::vector<HistoryEvent>{card}).ok());
  EXPECT_EQ((*store_->Find("J1"))->card_uid, "87B475A8");
  const size_t before = store_->History("J2")->size();
  Status dup = store_->AdvanceWith("J2", JobState::kEncoded, std::vector<HistoryEvent>{card});
  EXPECT_EQ(dup.code(), Code::kDuplicateUid) << dup;
  EXPECT_NE(dup.message().find("J1"), std::string::npos) << dup;
  EXPECT_EQ(StateOf("J2"), JobState::kEncoding);  // nothing written
  EXPECT_EQ(store_->History("J2")->size(), before);
  EXPECT_TRUE((*store_->Find("J2"))->card_uid.empty());
  // A fresh card binds.
  card.uid = "11223344";
  EXPECT_TRUE(store_->AdvanceWith("J2", JobState::kEncoded, std::vector<HistoryEvent>{card}).ok());
  // A re-advance of the same job with its own UID is fine (restart).
  card.uid = "87B475A8";
  EXPECT_TRUE(store_->AdvanceWith("J1", JobState::kEncoded, std::vector<HistoryEvent>{card}).ok());
}

TEST_F(JobStoreTest, JobContentDiffNamesTheFieldsThatDiffer) {
  Add("J1", 1, "张三");
  auto rec = store_->Find("J1");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  const Bytes photo = cbtest::FakeJpeg(2000, 1);
  // The same job again (a redelivery): no difference, valid_until derived
  // by the bureau is not one.
  auto same = cbtest::ValidJobJson("J1", photo, "张三");
  EXPECT_TRUE(JobContentDiff(same, photo, **rec).empty());
  // Another name: named by field, never by value.
  auto other = cbtest::ValidJobJson("J1", photo, "李四");
  auto diff = JobContentDiff(other, photo, **rec);
  EXPECT_EQ(diff, std::vector<std::string>{"student.name"});
  // Another photo.
  const Bytes photo2 = cbtest::FakeJpeg(2000, 2);
  auto other_photo = cbtest::ValidJobJson("J1", photo2, "张三");
  diff = JobContentDiff(other_photo, photo2, **rec);
  EXPECT_NE(std::find(diff.begin(), diff.end(), "photo.sha256"), diff.end());
  // A rejected job has no stored content to compare.
  ASSERT_TRUE(store_->Reject("BAD1", Status(Code::kInvalidField, "x", "f")).ok());
  EXPECT_TRUE(JobContentDiff(other, photo, **store_->Find("BAD1")).empty());
}

TEST_F(ReprintStoreTest, ReprintAfterCompletedQueuesOneCardReplacedForTheCentre) {
  Produced("J1");  // the centre holds 04A1B2C3
  auto r = store_->RequestReprint("J1", "chip fails at the school reader", "li", true);
  ASSERT_TRUE(r.ok()) << r.status();
  AdvanceTo(r->new_job_id, JobState::kVerified);
  Completed c;
  c.card = {"04FFEE01", "1000751234567890", "mifare-classic-1k"};
  c.station = "station-2";
  std::optional<Message> replaced;
  ASSERT_TRUE(store_->Complete(r->new_job_id, c, {}, &replaced).ok());
  ASSERT_TRUE(replaced.has_value());
  const auto* cr = std::get_if<CardReplaced>(&*replaced);
  ASSERT_NE(cr, nullptr);
  EXPECT_EQ(cr->job_id, "J1");  // the centre's job, not the attempt
  EXPECT_EQ(cr->card.uid, "04FFEE01");
  EXPECT_EQ(cr->replaces_uid, "04A1B2C3");
  EXPECT_EQ(cr->reason, "chip fails at the school reader");
  // Pending until acked (survives a restart), exactly one.
  Reopen();
  auto pending = store_->PendingReports();
  int n = 0;
  for (const auto& p : *pending) {
    if (p.type != "card_replaced") continue;
    ++n;
    EXPECT_EQ(p.report_id, cr->report_id);
    auto decoded = Decode(Frames{p.frame0}, Sender::kBureau);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(std::get<CardReplaced>(*decoded).replaces_uid, "04A1B2C3");
  }
  EXPECT_EQ(n, 1);
  // The centre's terminal report for J1 stays its first `completed`.
  auto term = store_->TerminalReport("J1");
  ASSERT_TRUE(term.ok() && term->has_value());
  EXPECT_TRUE(std::holds_alternative<Completed>(**term));
  // The root job's history says so.
  auto h = store_->History("J1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->back().kind, "reprint");
  EXPECT_EQ(h->back().detail.stage, "card_replaced");
  EXPECT_EQ(h->back().detail.uid, "04FFEE01");
  ASSERT_TRUE(store_->Acknowledge(cr->report_id).ok());
  auto after_ack = store_->PendingReports();
  ASSERT_TRUE(after_ack.ok());
  for (const auto& p : *after_ack) EXPECT_NE(p.type, "card_replaced");

  // A second reprint replaces the card the centre now holds.
  auto r2 = store_->RequestReprint(r->new_job_id, "lost again", "li", true);
  ASSERT_TRUE(r2.ok()) << r2.status();
  AdvanceTo(r2->new_job_id, JobState::kVerified);
  c.card.uid = "04FFEE02";
  std::optional<Message> replaced2;
  ASSERT_TRUE(store_->Complete(r2->new_job_id, c, {}, &replaced2).ok());
  ASSERT_TRUE(replaced2.has_value());
  EXPECT_EQ(std::get<CardReplaced>(*replaced2).replaces_uid, "04FFEE01");
}

// ---- schema 5 (job_store_record.cpp) ----

TEST_F(ReprintStoreTest, CentreAnswerToCardReplacedIsKeptWithThePendingReport) {
  Produced("J1");
  auto r = store_->RequestReprint("J1", "cracked", "li", true);
  ASSERT_TRUE(r.ok()) << r.status();
  AdvanceTo(r->new_job_id, JobState::kVerified);
  Completed c;
  c.card = {"04FFEE01", "1000751234567890", "mifare-classic-1k"};
  std::optional<Message> replaced;
  ASSERT_TRUE(store_->Complete(r->new_job_id, c, {}, &replaced).ok());
  const std::string report_id = ReportIdOf(*replaced);
  // No card_replaced pending of another type: nothing marked.
  EXPECT_EQ(*store_->RecordCentreAnswer("cancelled", "UNKNOWN_TYPE", "x"), 0);
  EXPECT_TRUE(store_->CentreAnswers()->empty());
  // The centre does not know the type: the report stays pending, answered.
  ASSERT_EQ(*store_->RecordCentreAnswer("card_replaced", "UNKNOWN_TYPE",
                                        "unknown message type from a bureau"),
            1);
  ASSERT_EQ(*store_->RecordCentreAnswer("card_replaced", "UNKNOWN_TYPE",
                                        "unknown message type from a bureau"),
            1);
  Reopen();  // durable
  auto answers = store_->CentreAnswers();
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 1u);
  const CentreAnswer& a = answers->at(report_id);
  EXPECT_EQ(a.code, "UNKNOWN_TYPE");
  EXPECT_EQ(a.count, 2);
  bool pending = false;
  auto reports = store_->PendingReports();  // (kept: a range-for over *temporary dangles)
  ASSERT_TRUE(reports.ok()) << reports.status();
  for (const auto& p : *reports) pending |= p.report_id == report_id;
  EXPECT_TRUE(pending);
  // One history row on the centre's job for the answer (not one per repeat).
  int rows = 0;
  auto history = store_->History("J1");
  ASSERT_TRUE(history.ok()) << history.status();
  for (const auto& h : *history) {
    if (h.kind != "report") continue;
    ++rows;
    EXPECT_EQ(h.detail.code, "UNKNOWN_TYPE");
    EXPECT_EQ(h.detail.stage, "card_replaced");
    EXPECT_NE(h.detail.message.find(report_id), std::string::npos);
  }
  EXPECT_EQ(rows, 1);
  // Once acked, it is no longer an open answer.
  ASSERT_TRUE(store_->Acknowledge(report_id).ok());
  EXPECT_TRUE(store_->CentreAnswers()->empty());
}

TEST_F(JobStoreTest, AuditHeadIsKeptInTheStore) {
  auto none = store_->AuditHead();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store_->SetAuditHead(3, std::string(64, 'a')).ok());
  ASSERT_TRUE(store_->SetAuditHead(4, std::string(64, 'b')).ok());
  Reopen();
  auto head = store_->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->entries, 4);
  EXPECT_EQ((*head)->last_hash, std::string(64, 'b'));
  EXPECT_EQ(store_->SetAuditHead(-1, "x").code(), Code::kInternal);
}

TEST_F(JobStoreTest, RefusedJobKeepsItsNameForTheManifestUntilPurged) {
  RefusedJobData data{"王𠀁", "1000751234000001", "reissue"};
  auto report =
      store_->Reject("BAD1", Status(Code::kPhotoNoFace, "no face", "photo"), "11010810", &data);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(store_->Reject("BAD2", Status(Code::kInvalidJson, "x"), "11010810").ok());
  auto rows = store_->BatchRows("11010810");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].job_id, "BAD1");
  EXPECT_EQ((*rows)[0].student_name, "王𠀁");
  EXPECT_EQ((*rows)[0].card_no, "1000751234000001");
  EXPECT_TRUE((*rows)[0].reissue);
  EXPECT_EQ((*rows)[0].state, JobState::kRejected);
  EXPECT_EQ((*rows)[0].code, "PHOTO_NO_FACE");
  EXPECT_EQ((*rows)[1].student_name, "");  // nothing parsed: no name
  // Retention: the name goes with the acknowledged refusal.
  ASSERT_TRUE(store_->Acknowledge(ReportIdOf(*report)).ok());
  clock_.Advance(std::chrono::hours(24 * 8));
  ASSERT_TRUE(store_->PurgeExpired(std::chrono::hours(24 * 7)).ok());
  rows = store_->BatchRows("11010810");
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE((*rows)[0].purged);
  EXPECT_EQ((*rows)[0].student_name, "");
}

}  // namespace
}  // namespace cardbureau::server
