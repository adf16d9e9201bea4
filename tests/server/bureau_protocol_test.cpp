// The bureau side of protocol.md, driven by a raw ROUTER playing the centre.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "cardbureau/testing/wait.h"
#include "harness.h"

namespace cardbureau::server {
namespace {

using namespace cbtest;

class BureauProtocol : public ::testing::Test {
 protected:
  void SetUp() override { centre_ = RawPeer::Router(); }
  void TearDown() override { StopBureau(); }

  ServeConfig Config() {
    ServeConfig c;
    c.bureau_id = "bj-bureau-test";
    c.centre = centre_->endpoint();
    c.data_dir = dir_.path() / "data";
    c.queue_capacity = 4;
    c.heartbeat_interval_ms = 200;
    c.peer_timeout_ms = 1500;
    c.reconnect_min_ms = 50;
    c.reconnect_max_ms = 200;
    c.report_retry_min_ms = 300;
    c.report_retry_max_ms = 600;
    return c;
  }

  // fake = nullopt: no production (jobs wait in the store).
  void StartBureau(std::optional<FakeProductionOptions> fake = FakeProductionOptions{},
                   ServeConfig cfg = {}) {
    if (cfg.centre.empty()) cfg = Config();
    auto store = JobStore::Open(cfg.data_dir, SystemClock::Instance());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    fake_ = nullptr;
    Bureau::ProductionFactory factory;
    if (fake) {
      fake->produced_log = dir_.path() / "produced.log";
      factory = [this, o = *fake](ProductionSink& sink) -> Result<std::unique_ptr<Production>> {
        auto p = std::make_unique<FakeProduction>(sink, o);
        fake_ = p.get();
        return std::unique_ptr<Production>(std::move(p));
      };
    }
    auto b = Bureau::Create(cfg, *store_, SystemClock::Instance(), nullptr, factory);
    ASSERT_TRUE(b.ok()) << b.status();
    bureau_ = std::move(b).value();
    if (observer_) bureau_->SetObserver(observer_);
    stop_ = false;
    thread_ = std::thread([this] { run_status_ = bureau_->Run(stop_); });
  }

  void StopBureau() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
    bureau_.reset();
    store_.reset();
  }

  // Waits for hello and the first pull; returns the pull's credit.
  int64_t Handshake() {
    auto hello = centre_->Expect<Hello>();
    EXPECT_TRUE(hello.has_value());
    if (hello) {
      EXPECT_EQ(hello->bureau, "bj-bureau-test");
    }
    EXPECT_EQ(centre_->last_peer(), "bj-bureau-test");  // routing id = bureau id
    auto pull = centre_->Expect<Pull>();
    EXPECT_TRUE(pull.has_value());
    return pull ? pull->credit : 0;
  }

  void SendJob(const std::string& id, uint32_t seed = 1) {
    centre_->Send(MakeJobMessage(id, FakeJpeg(3000, seed)));
  }

  JobState StateOf(const std::string& id) {
    auto r = store_->Find(id);
    return r.ok() && r->has_value() ? (*r)->state : JobState::kReceived;
  }

  TempDir dir_;
  std::unique_ptr<RawPeer> centre_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Bureau> bureau_;
  FakeProduction* fake_ = nullptr;
  JobObserver observer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Status run_status_;
};

TEST_F(BureauProtocol, HelloThenPullWithinQueueCapacity) {
  StartBureau();
  EXPECT_EQ(Handshake(), 4);
}

TEST_F(BureauProtocol, CreditIsNeverExceeded) {
  StartBureau(std::nullopt);  // no production: accepted jobs fill the queue
  int64_t credit = Handshake();
  ASSERT_EQ(credit, 4);
  for (int i = 0; i < 4; ++i) SendJob("J" + std::to_string(i), static_cast<uint32_t>(i + 1));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(centre_->Expect<Accepted>().has_value());
  // The queue is full: no further pull may come, however long we wait.
  std::vector<Message> other;
  EXPECT_FALSE(centre_->Expect<Pull>(1500ms, &other).has_value());
  EXPECT_EQ(bureau_->stats().credit_requested, 4);
}

TEST_F(BureauProtocol, JobsBeyondTheCreditAreRefusedAndNotStored) {
  StartBureau(std::nullopt);  // no production: accepted jobs keep their slots
  ASSERT_EQ(Handshake(), 4);
  // A centre that ignores credit: six jobs for four units.
  for (int i = 0; i < 6; ++i) SendJob("OC" + std::to_string(i), static_cast<uint32_t>(i + 1));
  int accepted = 0, refused = 0;
  std::vector<std::string> errors;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (accepted + refused < 6 && std::chrono::steady_clock::now() < deadline) {
    auto m = centre_->Recv(1s);
    if (!m) continue;
    if (std::holds_alternative<Accepted>(*m)) ++accepted;
    if (auto* e = std::get_if<Error>(&*m)) {
      ++refused;
      EXPECT_EQ(e->code, "PROTOCOL_ERROR");
      EXPECT_EQ(e->in_reply_to, "job");
      errors.push_back(e->message);
    }
  }
  EXPECT_EQ(accepted, 4);
  ASSERT_EQ(refused, 2);
  for (const auto& m : errors) EXPECT_NE(m.find("over credit"), std::string::npos) << m;
  // Refused jobs are not stored (nor their photos); the accepted ones are.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(StateOf("OC" + std::to_string(i)), JobState::kValidated);
  for (int i = 4; i < 6; ++i) {
    auto r = store_->Find("OC" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value()) << "OC" << i << " was stored over credit";
    EXPECT_FALSE(
        store_->photos().Read(Sha256Hex(FakeJpeg(3000, static_cast<uint32_t>(i + 1)))).ok());
  }
  // The counters follow the replies (the protocol thread sends, then counts).
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] { return bureau_->stats().jobs_over_credit >= 2; }));
  EXPECT_EQ(bureau_->stats().jobs_over_credit, 2);
  // A job the bureau already holds is answered from the store even with no
  // credit left: nothing new is stored.
  SendJob("OC0", 1);
  auto again = centre_->Expect<Accepted>();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->job_id, "OC0");
}

TEST_F(BureauProtocol, AcceptedOnlyAfterJobAndPhotoAreStored) {
  StartBureau(std::nullopt);
  Handshake();
  auto photo = FakeJpeg(5000, 9);
  centre_->Send(MakeJobMessage("J-DURABLE", photo));
  auto acc = centre_->Expect<Accepted>();
  ASSERT_TRUE(acc.has_value());
  EXPECT_EQ(acc->job_id, "J-DURABLE");
  // At the moment `accepted` is seen, a second connection sees the row and
  // the photo file with the right bytes.
  auto other = JobStore::Open(dir_.path() / "data", SystemClock::Instance());
  ASSERT_TRUE(other.ok());
  auto rec = (*other)->Find("J-DURABLE");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state, JobState::kValidated);
  auto stored = (*other)->photos().Read(Sha256Hex(photo));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, photo);
}

TEST_F(BureauProtocol, CompletedReportIsResentUntilAcked) {
  StartBureau();
  Handshake();
  SendJob("J1");
  ASSERT_TRUE(centre_->Expect<Accepted>().has_value());
  auto done = centre_->Expect<Completed>();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->job_id, "J1");
  EXPECT_EQ(done->card.card_no, "1000751234567890");
  EXPECT_FALSE(done->report_id.empty());
  // Not acked: the same report comes again (backoff 300 ms).
  auto again = centre_->Expect<Completed>(3s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->report_id, done->report_id);
  centre_->Send(Ack{done->report_id});
  // Once the ack is stored, drain anything in flight, then nothing more.
  EXPECT_TRUE(
      cardbureau::testing::WaitFor([&] { return StateOf("J1") == JobState::kAcknowledged; }));
  while (centre_->Recv(100ms)) {
  }
  EXPECT_FALSE(centre_->Expect<Completed>(1500ms).has_value());
  EXPECT_EQ(StateOf("J1"), JobState::kAcknowledged);
}

TEST_F(BureauProtocol, ProgressIsSent) {
  StartBureau();
  Handshake();
  SendJob("J1");
  bool saw_progress = false;
  for (int i = 0; i < 50 && !saw_progress; ++i) {
    auto m = centre_->Recv(2s, /*skip_noise=*/false);
    if (!m) break;
    if (auto* p = std::get_if<Progress>(&*m)) {
      saw_progress = true;
      EXPECT_EQ(p->job_id, "J1");
      EXPECT_TRUE(JobStateFromString(p->state).has_value());
    }
  }
  EXPECT_TRUE(saw_progress);
}

TEST_F(BureauProtocol, InvalidJobIsRejectedWithReportIdUntilAcked) {
  StartBureau();
  Handshake();
  auto photo = FakeJpeg(1000, 2);
  auto job = MakeJobMessage("BAD-1", photo);
  job.body["student"]["gender"] = "X";
  centre_->Send(job);
  auto rej = centre_->Expect<Rejected>();
  ASSERT_TRUE(rej.has_value());
  EXPECT_EQ(rej->job_id, "BAD-1");
  EXPECT_EQ(rej->code, "INVALID_FIELD");
  EXPECT_EQ(rej->field, "student.gender");
  EXPECT_FALSE(rej->report_id.empty());
  auto again = centre_->Expect<Rejected>(3s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->report_id, rej->report_id);
  centre_->Send(Ack{rej->report_id});

  // Photo problems are rejections too: hash mismatch and missing frame.
  auto bad_hash = MakeJobMessage("BAD-2", photo);
  bad_hash.photo = FakeJpeg(1000, 3);
  centre_->Send(bad_hash);
  rej = centre_->Expect<Rejected>();
  ASSERT_TRUE(rej.has_value());
  EXPECT_EQ(rej->code, "PHOTO_HASH_MISMATCH");
  auto no_photo = MakeJobMessage("BAD-3", photo);
  no_photo.photo.reset();
  centre_->Send(no_photo);
  for (;;) {
    rej = centre_->Expect<Rejected>();
    ASSERT_TRUE(rej.has_value());
    if (rej->job_id == "BAD-3") break;
  }
  EXPECT_EQ(rej->code, "PHOTO_UNREADABLE");
  EXPECT_EQ(rej->field, "photo");
}

TEST_F(BureauProtocol, DuplicateJobIsAnsweredFromTheStore) {
  FakeProductionOptions hold;
  hold.hold = FakeHold::kBeforeEncoding;
  StartBureau(hold);
  Handshake();
  SendJob("J1");
  ASSERT_TRUE(centre_->Expect<Accepted>().has_value());
  // Still in production: `accepted` again, not produced twice.
  SendJob("J1");
  auto acc = centre_->Expect<Accepted>();
  ASSERT_TRUE(acc.has_value());
  EXPECT_EQ(acc->job_id, "J1");
  fake_->ReleaseAll();
  auto done = centre_->Expect<Completed>();
  ASSERT_TRUE(done.has_value());
  centre_->Send(Ack{done->report_id});
  // Finished: the stored report with the SAME report_id.
  SendJob("J1");
  auto again = centre_->Expect<Completed>();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->report_id, done->report_id);
  EXPECT_EQ(ReadLines(dir_.path() / "produced.log"), std::vector<std::string>{"J1"});
  // Counters are updated just after the reply is sent.
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] { return bureau_->stats().duplicates >= 2; }))
      << bureau_->stats().duplicates;
}

TEST_F(BureauProtocol, KnownJobIdWithDifferentContentIsAJobConflict) {
  StartBureau();
  Handshake();
  SendJob("J1");
  ASSERT_TRUE(centre_->Expect<Accepted>().has_value());
  auto done = centre_->Expect<Completed>();
  ASSERT_TRUE(done.has_value());
  const auto before = store_->Find("J1");
  ASSERT_TRUE(before.ok() && before->has_value());
  // The same id, another child's name and another photo.
  auto other = MakeJobMessage("J1", FakeJpeg(3000, 7));
  other.body["student"]["name"] = "李四";
  centre_->Send(other);
  auto err = centre_->Expect<Error>();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "JOB_CONFLICT");
  EXPECT_EQ(err->in_reply_to, "job");
  EXPECT_NE(err->message.find("J1"), std::string::npos) << err->message;
  EXPECT_NE(err->message.find("student.name"), std::string::npos) << err->message;
  EXPECT_NE(err->message.find("photo"), std::string::npos) << err->message;
  EXPECT_EQ(err->message.find("李四"), std::string::npos) << "no personal data in the error";
  // The stored job is unchanged.
  const auto after = store_->Find("J1");
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->job_json, (*before)->job_json);
  EXPECT_EQ((*after)->photo_sha256, (*before)->photo_sha256);
  // The same content again is still a redelivery: the stored report.
  SendJob("J1");
  auto again = centre_->Expect<Completed>();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->report_id, done->report_id);
}

TEST_F(BureauProtocol, MalformedInputIsAnsweredWithErrorAndNothingStops) {
  StartBureau();
  Handshake();
  struct Case {
    Frames frames;
    std::string code;
  };
  std::vector<Case> cases = {
      {{R"({"type":"teleport","v":1})"}, "UNKNOWN_TYPE"},
      {{R"({"type":"ack","v":2,"report_id":"r"})"}, "UNSUPPORTED_VERSION"},
      {{"{this is not json"}, "INVALID_JSON"},
      {{"\xff\xfe\x00garbage"}, "INVALID_JSON"},
      {{R"({"type":"ack","v":1})"}, "INVALID_JSON"},
      {{R"({"type":"ack","v":1,"report_id":"r"})", "extra frame"}, "PROTOCOL_ERROR"},
      {{R"({"type":"job","v":1,"job_id":"../../etc"})", "x"}, "INVALID_FIELD"},
      {{R"({"type":"pull","v":1,"credit":3})"}, "UNKNOWN_TYPE"},  // wrong direction
  };
  for (const auto& c : cases) {
    centre_->SendFrames(c.frames);
    auto err = centre_->Expect<Error>();
    ASSERT_TRUE(err.has_value()) << c.code;
    EXPECT_EQ(err->code, c.code);
  }
  // An empty frame list cannot be sent; an empty frame can.
  centre_->SendFrames({""});
  auto err = centre_->Expect<Error>();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "INVALID_JSON");
  // Still alive and working.
  SendJob("J-AFTER");
  auto acc = centre_->Expect<Accepted>();
  ASSERT_TRUE(acc.has_value());
  EXPECT_EQ(acc->job_id, "J-AFTER");
}

TEST_F(BureauProtocol, CancelBeforeEncodingIsCancelled) {
  FakeProductionOptions hold;
  hold.hold = FakeHold::kBeforeEncoding;
  StartBureau(hold);
  Handshake();
  SendJob("J1");
  ASSERT_TRUE(centre_->Expect<Accepted>().has_value());
  ASSERT_TRUE(cardbureau::testing::WaitFor([&] { return !fake_->Held().empty(); }));
  ASSERT_EQ(fake_->Held().size(), 1u);
  centre_->Send(Cancel{"J1", "card found"});
  auto c = centre_->Expect<Cancelled>();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->job_id, "J1");
  fake_->ReleaseAll();  // production notices the cancel and stops
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] { return StateOf("J1") == JobState::kCancelled; }));
  EXPECT_EQ(StateOf("J1"), JobState::kCancelled);
  std::vector<Message> seen;
  EXPECT_FALSE(centre_->Expect<Completed>(800ms, &seen).has_value());
  EXPECT_TRUE(ReadLines(dir_.path() / "produced.log").empty());  // not encoded after the release
}

TEST_F(BureauProtocol, CancelAfterEncodingIsTooLate) {
  FakeProductionOptions hold;
  hold.hold = FakeHold::kAfterEncoding;
  StartBureau(hold);
  Handshake();
  SendJob("J1");
  ASSERT_TRUE(centre_->Expect<Accepted>().has_value());
  ASSERT_TRUE(cardbureau::testing::WaitFor([&] { return !fake_->Held().empty(); }));
  ASSERT_EQ(fake_->Held().size(), 1u);
  centre_->Send(Cancel{"J1", "card found"});
  auto f = centre_->Expect<Failed>();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->job_id, "J1");
  EXPECT_EQ(f->code, "TOO_LATE");
  fake_->ReleaseAll();
  EXPECT_FALSE(centre_->Expect<Completed>(800ms).has_value());  // one terminal report only
  EXPECT_EQ(StateOf("J1"), JobState::kFailed);
}

TEST_F(BureauProtocol, CancelForUnknownJobAnswersCancelledAndLateJobGetsSameReport) {
  StartBureau();
  Handshake();
  centre_->Send(Cancel{"J-LATE", "card found"});
  auto c = centre_->Expect<Cancelled>();
  ASSERT_TRUE(c.has_value());
  SendJob("J-LATE");
  auto again = centre_->Expect<Cancelled>();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->report_id, c->report_id);
  EXPECT_TRUE(ReadLines(dir_.path() / "produced.log").empty());
}

TEST_F(BureauProtocol, HeartbeatsWhileIdle) {
  StartBureau();
  Handshake();
  int heartbeats = 0;
  auto until = std::chrono::steady_clock::now() + 1200ms;
  while (std::chrono::steady_clock::now() < until) {
    auto m = centre_->Recv(300ms, /*skip_noise=*/false);
    if (m && std::holds_alternative<Heartbeat>(*m)) ++heartbeats;
  }
  EXPECT_GE(heartbeats, 3);  // interval 200 ms (protocol: at most 2 s)
}

TEST_F(BureauProtocol, SilentCentreCausesReconnectAndHello) {
  StartBureau();
  Handshake();
  // Say nothing for longer than peer_timeout (1.5 s): a new hello must come.
  auto hello = centre_->Expect<Hello>(4s);
  ASSERT_TRUE(hello.has_value());
  auto pull = centre_->Expect<Pull>(2s);
  ASSERT_TRUE(pull.has_value());
  EXPECT_EQ(pull->credit, 4);  // credit starts afresh after hello
  EXPECT_GE(bureau_->stats().connects, 2);
}

TEST_F(BureauProtocol, HeartbeatsFromCentreKeepTheSession) {
  StartBureau();
  Handshake();
  auto until = std::chrono::steady_clock::now() + 2500ms;
  bool rehello = false;
  while (std::chrono::steady_clock::now() < until) {
    centre_->Send(Heartbeat{});
    auto m = centre_->Recv(200ms);
    if (m && std::holds_alternative<Hello>(*m)) rehello = true;
  }
  EXPECT_FALSE(rehello);
}

TEST_F(BureauProtocol, OutboxSurvivesRestart) {
  StartBureau();
  Handshake();
  SendJob("J1");
  auto done = centre_->Expect<Completed>();
  ASSERT_TRUE(done.has_value());
  StopBureau();  // not acked
  StartBureau();
  ASSERT_TRUE(centre_->Expect<Hello>().has_value());
  auto again = centre_->Expect<Completed>();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->report_id, done->report_id);
  centre_->Send(Ack{again->report_id});
  EXPECT_TRUE(
      cardbureau::testing::WaitFor([&] { return StateOf("J1") == JobState::kAcknowledged; }));
  EXPECT_EQ(StateOf("J1"), JobState::kAcknowledged);
  EXPECT_EQ(ReadLines(dir_.path() / "produced.log"), std::vector<std::string>{"J1"});
}

TEST_F(BureauProtocol, CleanStopParksInFlightJobsAndResumes) {
  FakeProductionOptions hold;
  hold.hold = FakeHold::kAfterEncoding;
  StartBureau(hold);
  Handshake();
  SendJob("J1");
  ASSERT_TRUE(centre_->Expect<Accepted>().has_value());
  ASSERT_TRUE(cardbureau::testing::WaitFor([&] { return !fake_->Held().empty(); }));
  auto t0 = std::chrono::steady_clock::now();
  StopBureau();  // parks J1 at `encoded`
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  StartBureau();  // resumes from `encoded` without encoding again
  auto done = centre_->Expect<Completed>();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->job_id, "J1");
  EXPECT_EQ(ReadLines(dir_.path() / "produced.log"), std::vector<std::string>{"J1"});
}

TEST_F(BureauProtocol, ReprintAttemptIsProducedButNeverReportedToTheCentre) {
  std::mutex mu;
  std::vector<JobEvent> seen;
  observer_ = [&](const JobEvent& e) {
    std::lock_guard lock(mu);
    seen.push_back(e);
  };
  StartBureau();
  Handshake();
  SendJob("J1");
  auto done = centre_->Expect<Completed>();
  ASSERT_TRUE(done.has_value());
  centre_->Send(Ack{done->report_id});
  ASSERT_TRUE(
      cardbureau::testing::WaitFor([&] { return StateOf("J1") == JobState::kAcknowledged; }));

  auto reprint = store_->RequestReprint("J1", "photo smeared", "li", /*approve=*/true);
  ASSERT_TRUE(reprint.ok()) << reprint.status();
  const std::string attempt = reprint->new_job_id;
  bureau_->StartAttempt(attempt);
  // Everything the centre receives meanwhile: nothing may name the attempt.
  std::vector<Message> received;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (StateOf(attempt) != JobState::kAcknowledged &&
         std::chrono::steady_clock::now() < deadline) {
    if (auto m = centre_->Recv(50ms, /*skip_noise=*/false)) received.push_back(std::move(*m));
  }
  ASSERT_EQ(StateOf(attempt), JobState::kAcknowledged);
  for (auto until = std::chrono::steady_clock::now() + 700ms;
       std::chrono::steady_clock::now() < until;) {
    if (auto m = centre_->Recv(50ms, /*skip_noise=*/false)) received.push_back(std::move(*m));
  }
  for (const auto& m : received) {
    std::visit(
        [&](const auto& x) {
          if constexpr (requires { x.job_id; }) {
            EXPECT_NE(x.job_id, attempt) << "the centre was told about " << TypeName(m);
          }
        },
        m);
  }
  // The attempt was produced (a second card for J1's data), the old card voided.
  EXPECT_EQ(ReadLines(dir_.path() / "produced.log"), (std::vector<std::string>{"J1", attempt}));
  auto old = store_->Find("J1");
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_TRUE((*old)->voided_at_ms.has_value());
  // The centre learns of the new card: one card_replaced for J1 (issue 15),
  // naming the card it held; pending until acked.
  std::vector<CardReplaced> replaced;
  std::set<std::string> replaced_ids;  // a report is resent until acked
  for (const auto& m : received) {
    if (const auto* cr = std::get_if<CardReplaced>(&m)) {
      if (replaced_ids.insert(cr->report_id).second) replaced.push_back(*cr);
    }
  }
  ASSERT_EQ(replaced.size(), 1u);
  EXPECT_EQ(replaced[0].job_id, "J1");
  EXPECT_EQ(replaced[0].replaces_uid, done->card.uid);
  EXPECT_NE(replaced[0].card.uid, done->card.uid);
  EXPECT_EQ(replaced[0].reason, "photo smeared");
  EXPECT_EQ(store_->PendingReports()->size(), 1u);
  // A centre that does not know the type answers UNKNOWN_TYPE: the report
  // stays in the outbox, with the answer for the dashboard (issue 15, 9).
  centre_->Send(Error{"UNKNOWN_TYPE", "unknown message type from a bureau", "card_replaced"});
  ASSERT_TRUE(cardbureau::testing::WaitFor([&] {
    auto a = store_->CentreAnswers();
    return a.ok() && a->count(replaced[0].report_id) > 0;
  }));
  EXPECT_EQ(store_->CentreAnswers()->at(replaced[0].report_id).code, "UNKNOWN_TYPE");
  EXPECT_EQ(store_->PendingReports()->size(), 1u);
  centre_->Send(Ack{replaced[0].report_id});
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] { return store_->PendingReports()->empty(); }));
  // The observer saw the attempt's durable states, ending acknowledged.
  std::lock_guard lock(mu);
  std::vector<JobState> attempt_states;
  for (const auto& e : seen) {
    if (e.job_id == attempt) attempt_states.push_back(e.state);
  }
  ASSERT_FALSE(attempt_states.empty());
  EXPECT_EQ(attempt_states.back(), JobState::kAcknowledged);
  EXPECT_TRUE(std::find(attempt_states.begin(), attempt_states.end(), JobState::kEncoding) !=
              attempt_states.end());
}

TEST_F(BureauProtocol, CancelWithAnInvalidJobIdIsAnsweredWithError) {
  StartBureau();
  Handshake();
  centre_->Send(Cancel{"J1~R1", "not a protocol id"});
  auto err = centre_->Expect<Error>();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "INVALID_FIELD");
}

TEST_F(BureauProtocol, AnEndpointZeroMqRefusesIsAStatusNotAThrow) {
  ServeConfig cfg = Config();
  cfg.centre = "carrier-pigeon://centre";  // a transport ZeroMQ does not know
  auto store = JobStore::Open(cfg.data_dir, SystemClock::Instance());
  ASSERT_TRUE(store.ok()) << store.status();
  auto b = Bureau::Create(cfg, **store, SystemClock::Instance(), nullptr, nullptr);
  ASSERT_TRUE(b.ok()) << b.status();
  std::atomic<bool> stop{false};
  Status s;
  EXPECT_NO_THROW(s = (*b)->Run(stop));
  EXPECT_EQ(s.code(), Code::kInvalidConfig) << s;
  EXPECT_EQ(s.field(), "centre");
  EXPECT_NE(s.message().find("carrier-pigeon://centre"), std::string::npos) << s;

  cfg.centre = "tcp://no-port-given";
  auto b2 = Bureau::Create(cfg, **store, SystemClock::Instance(), nullptr, nullptr);
  ASSERT_TRUE(b2.ok()) << b2.status();
  EXPECT_NO_THROW(s = (*b2)->Run(stop));
  EXPECT_EQ(s.code(), Code::kInvalidConfig) << s;
}

}  // namespace
}  // namespace cardbureau::server
