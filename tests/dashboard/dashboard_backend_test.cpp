// LineBackend over a real JobStore and a real Line (loopback sim stations):
// stations and pause/resume, the reprint flow (durable request, approval,
// the new attempt produced by the line, the old card voided), live events,
// metrics, and the Api in front of it.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cardbureau/core/validation.h"
#include "cardbureau/dashboard/commands.h"
#include "cardbureau/dashboard/line_backend.h"
#include "cardbureau/encoder/keystore.h"
#include "cardbureau/encoder/pkcs11_keystore.h"
#include "cardbureau/http/api.h"
#include "cardbureau/http/audit_trail.h"
#include "cardbureau/http/auth.h"
#include "cardbureau/http/store_audit_head.h"
#include "cardbureau/printers/sim_printer.h"
#include "cardbureau/testing/files.h"
#include "cardbureau/testing/process.h"
#include "cardbureau/testing/softhsm.h"
#include "cardbureau/testing/wait.h"

namespace cardbureau::dashboard {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using server::JobState;

const fs::path kRoot = CARDBUREAU_SOURCE_DIR;

using cardbureau::testing::Slurp;

// What the Bureau does for production, minus the centre: durable steps in
// the store, every change reported to the backend.
class StoreSink : public server::ProductionSink {
 public:
  explicit StoreSink(server::JobStore& store) : store_(store) {}
  void Attach(LineBackend* backend) { backend_ = backend; }
  // As Bureau::StationFault: a station's fault is kept in the store.
  void StationFault(const server::StationFaultRow& fault) override {
    auto id = store_.AddStationFault(fault);
    EXPECT_TRUE(id.ok()) << id.status();
  }

  Status Advance(const std::string& id, JobState to) override {
    Status s = store_.Advance(id, to);
    if (s.ok()) Notify(id, to, "");
    return s;
  }
  void Completed(const std::string& id, const server::CardOutcome& out) override {
    server::Completed c;
    c.card = out.card;
    c.qa = out.qa;
    c.station = out.station;
    c.produced_at = out.produced_at;
    auto r = store_.Complete(id, c);
    EXPECT_TRUE(r.ok()) << r.status();
    auto rec = store_.Find(id);
    Notify(id, (*rec)->state, "");
    Done();
  }
  void Failed(const std::string& id, const Status& why, bool retryable) override {
    EXPECT_TRUE(store_.Fail(id, why, retryable).ok());
    Notify(id, JobState::kFailed, std::string(why.code_name()));
    Done();
  }
  // The store's batch query and rows: the batch files' one source (as the
  // Bureau does).
  Result<std::vector<server::BatchCounts>> CountBatch(const std::string& school) override {
    return store_.Batches(school);
  }
  Result<std::vector<server::BatchRow>> BatchRows(const std::string& school) override {
    return store_.BatchRows(school);
  }
  bool WaitFinished(int n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_ >= n; });
  }

 private:
  void Notify(const std::string& id, JobState s, const std::string& code) {
    if (backend_) backend_->OnJobEvent(server::JobEvent{id, s, code});
  }
  void Done() {
    std::lock_guard lock(mu_);
    ++finished_;
    cv_.notify_all();
  }
  server::JobStore& store_;
  LineBackend* backend_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  int finished_ = 0;
};

class DashboardBackendTest : public ::testing::Test {
 protected:
  DashboardBackendTest() : clock_(SystemClock::Instance()) {}

  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dashboard-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    cardbureau::testing::CopyTestKeys(kRoot, dir_ / "keys");
    auto store = server::JobStore::Open(dir_ / "data", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    sink_ = std::make_unique<StoreSink>(*store_);

    auto keys = encoder::LoadKeystore(dir_ / "keys/keystore-test.json");
    ASSERT_TRUE(keys.ok()) << keys.status();
    line::LineOptions o;
    o.keys = LineKeys(*keys);
    if (HasFatalFailure()) return;
    o.card_wait = 500ms;
    o.batches_dir = dir_ / "batches";
    std::vector<line::StationSetup> stations;
    for (const char* name : {"station-1", "station-2"}) {
      auto slot = std::make_shared<printers::LoopbackSlot>();
      printers::SimPrinterConfig pc;
      pc.name = name;
      pc.hopper_dir = dir_ / "hopper" / name;
      pc.seed = name[8] == '1' ? 100 : 900;
      line::StationSetup st;
      st.name = name;
      st.printer = std::make_unique<printers::SimPrinter>(pc, *slot);
      st.source = std::make_unique<line::LoopbackCardSource>(*slot);
      st.keepalive = slot;
      stations.push_back(std::move(st));
    }
    auto line = line::Line::Create(*sink_, std::move(o), std::move(stations));
    ASSERT_TRUE(line.ok()) << line.status();
    line_ = std::move(line).value();
    backend_ = std::make_unique<LineBackend>(
        *store_, line_.get(), [this](const std::string& id) { StartStored(id); }, clock_, 20ms);
    sink_->Attach(backend_.get());
    sub_ = backend_->Subscribe([this](const http::DashboardEvent& e) {
      std::lock_guard lock(events_mu_);
      events_.push_back(e);
    });
  }

  // The line's keystore: the TEST-ONLY file keys (DashboardKeystoreTest
  // puts them on a SoftHSM2 token).
  virtual encoder::KeySet LineKeys(const encoder::KeySet& file_keys) { return file_keys; }

  void TearDown() override {
    if (line_) line_->Stop();
    sub_.reset();
    backend_.reset();
    line_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // Stores a valid job (fixture data, the astronaut photo) as intake does.
  void AddJob(const std::string& id) {
    const std::string photo = Slurp(kRoot / "fixtures/photos/astronaut.png");
    auto job = ParseJob(Slurp(kRoot / "fixtures/jobs/valid-junior-reissue.json"));
    ASSERT_TRUE(job.ok()) << job.status();
    job->job_id = id;
    job->photo.format = PhotoFormat::kPng;
    job->photo.sha256 = Sha256Hex(AsBytes(photo));
    ValidationOptions vo;
    vo.clock = &clock_;
    ASSERT_TRUE(ValidateJob(*job, vo).ok());
    ASSERT_TRUE(store_->photos().Write(job->photo.sha256, AsBytes(photo)).ok());
    std::vector<server::IntakeJob> in{{*job, JobToJsonString(*job)}};
    ASSERT_TRUE(store_->AddValidated(in, nullptr).ok());
  }

  // What Bureau::StartAttempt / Recover do: hand a stored job to the line.
  void StartStored(const std::string& id) {
    auto rec = store_->Find(id);
    ASSERT_TRUE(rec.ok() && rec->has_value());
    auto job = store_->LoadJob(id);
    ASSERT_TRUE(job.ok()) << job.status();
    server::JobContext ctx;
    ctx.job_id = id;
    ctx.job = *job;
    ctx.photo_path = store_->photos().PathFor((*rec)->photo_sha256);
    ctx.cards_dir = store_->CardsDir(id);
    ctx.state = (*rec)->state;
    line_->Start(std::move(ctx));
  }

  JobState StateOf(const std::string& id) {
    auto r = store_->Find(id);
    return r.ok() && r->has_value() ? (*r)->state : JobState::kReceived;
  }

  std::vector<http::DashboardEvent> Events() {
    std::lock_guard lock(events_mu_);
    return events_;
  }

  const Clock& clock_;
  fs::path dir_;
  std::unique_ptr<server::JobStore> store_;
  std::unique_ptr<StoreSink> sink_;
  std::unique_ptr<line::Line> line_;
  std::unique_ptr<LineBackend> backend_;
  std::unique_ptr<http::Subscription> sub_;
  std::mutex events_mu_;
  std::vector<http::DashboardEvent> events_;
};

TEST_F(DashboardBackendTest, StationsComeFromTheLineAndPauseHoldsWork) {
  auto stations = backend_->Stations();
  ASSERT_TRUE(stations.ok());
  ASSERT_EQ(stations->size(), 2u);
  EXPECT_EQ((*stations)[0].station_id, "station-1");
  EXPECT_EQ((*stations)[0].state, "idle");
  EXPECT_EQ(backend_->SetStationPaused("nope", true, "wang").code(), Code::kNotFound);
  ASSERT_TRUE(backend_->SetStationPaused("station-1", true, "wang").ok());
  ASSERT_TRUE(backend_->SetStationPaused("station-2", true, "wang").ok());
  EXPECT_EQ((*backend_->Stations())[1].state, "paused");

  AddJob("J1");
  StartStored("J1");
  // Both stations paused: the job stays before encoding for the whole window
  // (checked throughout, failing at the first change).
  EXPECT_TRUE(cardbureau::testing::HoldsFor([&] { return server::IsBeforeEncoding(StateOf("J1")); },
                                            1500ms))
      << ToString(StateOf("J1"));
  auto metrics = backend_->Metrics();
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->station_states.at("station-1"), "paused");
  EXPECT_EQ(metrics->queue_depth, 1);

  ASSERT_TRUE(backend_->SetStationPaused("station-2", false, "wang").ok());
  ASSERT_TRUE(sink_->WaitFinished(1, 60s));
  EXPECT_EQ(StateOf("J1"), JobState::kReported);
  // The line counts the card just after reporting it.
  EXPECT_TRUE(
      cardbureau::testing::WaitFor([&] { return (*backend_->Stations())[1].produced > 0; }));
  stations = backend_->Stations();
  EXPECT_EQ((*stations)[0].produced, 0);  // still paused
  EXPECT_EQ((*stations)[1].produced, 1);
  // The job's station is known from its production record.
  auto detail = backend_->Job("J1");
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ(detail->job.station, "station-2");
  EXPECT_TRUE(detail->has_front_preview);
  // Station changes reached the event stream (the poller saw busy and paused).
  bool saw_paused = false, saw_busy = false;
  cardbureau::testing::WaitFor([&] {
    for (const auto& e : Events()) {
      if (e.kind == "station" && e.state == "paused") saw_paused = true;
      if (e.kind == "station" && e.id == "station-2" && e.state == "busy") saw_busy = true;
    }
    return saw_paused && saw_busy;
  });
  EXPECT_TRUE(saw_paused);
  EXPECT_TRUE(saw_busy);
}

TEST_F(DashboardBackendTest, ApprovedReprintIsProducedByTheLineAndVoidsTheOldCard) {
  AddJob("J1");
  StartStored("J1");
  ASSERT_TRUE(sink_->WaitFinished(1, 60s));
  ASSERT_EQ(StateOf("J1"), JobState::kReported);

  // An operator's request waits; nothing is produced.
  auto pending = backend_->RequestReprint("J1", "ribbon streak over the photo", "wang", false);
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(pending->status, "pending");
  EXPECT_EQ(backend_->Reprints("pending")->size(), 1u);
  EXPECT_EQ(backend_->RequestReprint("J1", "again", "wang", false).status().code(),
            Code::kFailedPrecondition);
  EXPECT_FALSE(backend_->Job("J1")->job.card_voided);

  // QA approves: the attempt is created, started, and produced.
  auto approved = backend_->DecideReprint(pending->reprint_id, true, "li");
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->status, "approved");
  const std::string attempt = approved->new_job_id;
  EXPECT_EQ(attempt, "J1~R1");
  ASSERT_TRUE(sink_->WaitFinished(2, 60s));
  EXPECT_EQ(StateOf(attempt), JobState::kAcknowledged);  // internal: never sent

  auto old = backend_->Job("J1");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->job.card_voided);
  EXPECT_EQ(old->job.reprinted_by, attempt);
  auto fresh = backend_->Job(attempt);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->job.reprint_of, "J1");
  EXPECT_TRUE(fresh->has_front_preview);
  EXPECT_FALSE(fresh->job.station.empty());
  // The two cards carry different chips: the production records differ.
  const auto a = nlohmann::json::parse(Slurp(store_->CardsDir("J1") / "production.json"));
  const auto b = nlohmann::json::parse(Slurp(store_->CardsDir(attempt) / "production.json"));
  EXPECT_NE(a["uid"], b["uid"]);
  EXPECT_EQ(b["job_id"], attempt);

  // The batch counts the attempt as a reprint.
  auto batches = backend_->Batches();
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 1u);
  EXPECT_EQ((*batches)[0].total, 2);
  // Split by outcome: the voided card is not a produced one.
  EXPECT_EQ((*batches)[0].produced, 1);
  EXPECT_EQ((*batches)[0].voided, 1);
  EXPECT_EQ((*batches)[0].reprinted, 1);
  EXPECT_TRUE((*batches)[0].complete);
  EXPECT_FALSE((*batches)[0].school_name.empty());

  // Events: the reprint's request and approval, and the attempt's states.
  std::vector<std::string> reprint_states, attempt_states;
  for (const auto& e : Events()) {
    if (e.kind == "reprint") reprint_states.push_back(e.state);
    if (e.kind == "job" && e.id == attempt) attempt_states.push_back(e.state);
  }
  EXPECT_EQ(reprint_states, (std::vector<std::string>{"pending", "approved"}));
  ASSERT_FALSE(attempt_states.empty());
  EXPECT_EQ(attempt_states.front(), "validated");
  EXPECT_EQ(attempt_states.back(), "acknowledged");

  auto m = backend_->Metrics();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->cards_produced_last_hour, 2);
  EXPECT_EQ(m->jobs_by_state.at("acknowledged"), 1);
  EXPECT_EQ(m->jobs_by_state.at("reported"), 1);
}

TEST_F(DashboardBackendTest, ApiOverTheRealBackendKeepsTheQaApprovalRule) {
  AddJob("J1");
  StartStored("J1");
  ASSERT_TRUE(sink_->WaitFinished(1, 60s));
  const std::string op_token = "operator-token-for-tests-only-0001";
  const std::string qa_token = "qa-token-for-tests-only-000000001";
  nlohmann::json file = {
      {"tokens",
       {{{"name", "wang"}, {"role", "operator"}, {"sha256", http::HashToken(op_token)}},
        {{"name", "li"}, {"role", "qa"}, {"sha256", http::HashToken(qa_token)}}}}};
  auto tokens = http::TokenTable::Parse(file.dump());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  auto audit = http::AuditTrail::Open(dir_ / "data", clock_);
  ASSERT_TRUE(audit.ok()) << audit.status();
  http::Api api(*backend_, *tokens, audit->get());
  auto call = [&](const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body = "") {
    http::HttpRequest r;
    r.method = method;
    r.target = target;
    r.authorization = "Bearer " + token;
    r.body = body;
    return api.Handle(r);
  };
  auto asked = call("POST", "/api/jobs/J1/reprint", op_token, R"({"reason":"smudge"})");
  EXPECT_EQ(asked.status, 202) << asked.body;
  const auto id = nlohmann::json::parse(asked.body)["reprint_id"].get<std::string>();
  // The operator cannot approve; QA can.
  EXPECT_EQ(call("POST", "/api/reprints/" + id + "/approve", op_token).status, 403);
  auto ok = call("POST", "/api/reprints/" + id + "/approve", qa_token);
  EXPECT_EQ(ok.status, 200) << ok.body;
  ASSERT_TRUE(sink_->WaitFinished(2, 60s));
  auto job = call("GET", "/api/jobs/J1~R1", qa_token);
  EXPECT_EQ(job.status, 200) << job.body;
  EXPECT_EQ(nlohmann::json::parse(job.body)["state"], "acknowledged");
  auto total = [&] {
    int n = 0;
    const auto listed_now = backend_->Stations();
    for (const auto& st : *listed_now) n += static_cast<int>(st.produced);
    return n;
  };
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] { return total() >= 2; }));
  auto stations = call("GET", "/api/stations", op_token);
  ASSERT_EQ(stations.status, 200);
  int produced = 0;
  const auto listed = nlohmann::json::parse(stations.body);
  for (const auto& s : listed["stations"]) {
    produced += s["produced"].get<int>();
  }
  EXPECT_EQ(produced, 2);
  auto metrics = call("GET", "/metrics", qa_token);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("cardbureau_cards_per_hour 2"), std::string::npos) << metrics.body;
  auto verified = http::VerifyAuditFile((*audit)->path());
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified->entries, 3);  // request, refused approval, approval
  EXPECT_FALSE(verified->broken_line.has_value());
}

// A void made from the dashboard (a reprint approved after `completed`)
// rewrites the batch's reconciliation.json and manifest.pdf at once, from
// the store: they show the old card voided before the reprint is produced
// (issue 15, item 4).
TEST_F(DashboardBackendTest, VoidFromTheDashboardRewritesTheBatchFilesAtOnce) {
  AddJob("J1");
  StartStored("J1");
  ASSERT_TRUE(sink_->WaitFinished(1, 60s));
  auto rec = store_->Find("J1");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  const fs::path batch = dir_ / "batches" / (*rec)->school_code;
  auto recon = [&] {
    return nlohmann::json::parse(Slurp(batch / "reconciliation.json"), nullptr, false);
  };
  // The line writes the reconciliation after the card (no manifest yet: the
  // line writes it when it stops).
  ASSERT_TRUE(cardbureau::testing::WaitFor([&] {
    const auto r = recon();
    return r.is_object() && r.value("produced", 0) == 1;
  }));
  EXPECT_EQ(recon()["voided"], 0);
  EXPECT_FALSE(fs::exists(batch / "manifest.pdf"));
  // Every station paused: the reprint cannot be produced during the checks.
  ASSERT_TRUE(backend_->SetStationPaused("station-1", true, "wang").ok());
  ASSERT_TRUE(backend_->SetStationPaused("station-2", true, "wang").ok());

  const std::string qa_token = "qa-token-for-tests-only-000000001";
  auto tokens = http::TokenTable::Parse(nlohmann::json{
      {"tokens", {{{"name", "li"}, {"role", "qa"}, {"sha256", http::HashToken(qa_token)}}}}}
                                            .dump());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  http::Api api(*backend_, *tokens, nullptr);
  http::HttpRequest req;
  req.method = "POST";
  req.target = "/api/jobs/J1/reprint";
  req.authorization = "Bearer " + qa_token;
  req.body = R"({"reason":"card cracked at the school"})";
  auto answer = api.Handle(req);
  ASSERT_EQ(answer.status, 201) << answer.body;
  const auto attempt = nlohmann::json::parse(answer.body)["new_job_id"].get<std::string>();

  // Right after the call: the reprint is not produced, the files say voided.
  EXPECT_TRUE(server::IsBeforeEncoding(StateOf(attempt))) << ToString(StateOf(attempt));
  const auto r = recon();
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["source"], "store");
  EXPECT_EQ(r["produced"], 1);
  EXPECT_EQ(r["voided"], 1);
  EXPECT_EQ(r["reprinted"], 1);
  EXPECT_EQ(r["queued"], 1);
  ASSERT_TRUE(fs::exists(batch / "manifest.pdf"));
  // The manifest's rows, one per line (-layout): J1 voided, the attempt in
  // production.
  auto text = cardbureau::testing::RunProcess(
      "/usr/bin/pdftotext", {"-layout", "-enc", "UTF-8", (batch / "manifest.pdf").string(), "-"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(text.err, "");
  std::string j1_row, attempt_row;
  std::istringstream lines(text.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(attempt) != std::string::npos) {
      attempt_row = line;
    } else if (line.find(" J1 ") != std::string::npos) {
      j1_row = line;
    }
  }
  EXPECT_NE(j1_row.find("voided"), std::string::npos) << text.out;
  EXPECT_NE(attempt_row.find("in production"), std::string::npos) << text.out;
  EXPECT_TRUE(cardbureau::testing::HoldsFor(
      [&] { return server::IsBeforeEncoding(StateOf(attempt)); }, 200ms));
}

// `cardbureau audit verify --data DIR` with the head in the store (issue 15,
// item 6): 0 only when trail and head agree; 1 naming the first bad entry
// for a missing dir, an empty, edited or truncated trail; an earlier head
// file is moved into the store.
TEST_F(DashboardBackendTest, AuditVerifyChecksTheTrailAgainstTheStoresHead) {
  auto commands = Commands();
  ASSERT_EQ(commands.size(), 1u);
  ASSERT_EQ(commands[0].name, "audit");
  auto verify = [&](const fs::path& data, std::string* out) {
    std::vector<std::string> args = {"audit", "verify", "--data", data.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    // The verdict: stdout when intact, stderr (the command's voice) when broken.
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int rc = commands[0].run(static_cast<int>(argv.size()), argv.data());
    *out = ::testing::internal::GetCapturedStdout();
    *out += ::testing::internal::GetCapturedStderr();
    return rc;
  };
  const fs::path data = dir_ / "audit-data";
  std::string out;
  EXPECT_EQ(verify(data, &out), 1);  // no data dir
  EXPECT_NE(out.find("entry 1"), std::string::npos) << out;
  std::string full;
  {
    auto store = server::JobStore::Open(data, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    auto heads = http::StoreAuditHead::Open(**store, data);
    ASSERT_TRUE(heads.ok()) << heads.status();
    auto trail = http::AuditTrail::Open(data, clock_, *heads);
    ASSERT_TRUE(trail.ok()) << trail.status();
    for (const char* target : {"J1", "J2", "J3"}) {
      ASSERT_TRUE((*trail)->Append("li", "qa", "reprint.request", target, "OK", "x").ok());
    }
    full = Slurp((*trail)->path());
  }
  const fs::path trail = data / std::string(http::kAuditFileName);
  EXPECT_FALSE(fs::exists(data / std::string(http::kAuditHeadFileName)));
  EXPECT_EQ(verify(data, &out), 0) << out;
  EXPECT_NE(out.find("3 entries, chain intact"), std::string::npos) << out;
  // Truncated (the last line gone): entry 3 is missing.
  std::ofstream(trail, std::ios::trunc) << full.substr(0, full.rfind('\n', full.size() - 2) + 1);
  EXPECT_EQ(verify(data, &out), 1);
  EXPECT_NE(out.find("VERIFY_MISMATCH chain broken at entry 3"), std::string::npos) << out;
  // Edited: entry 2.
  std::string edited = full;
  edited.replace(edited.find("\"J2\""), 4, "\"J9\"");
  std::ofstream(trail, std::ios::trunc) << edited;
  EXPECT_EQ(verify(data, &out), 1);
  EXPECT_NE(out.find("entry 2"), std::string::npos) << out;
  // Empty.
  std::ofstream(trail, std::ios::trunc) << "";
  EXPECT_EQ(verify(data, &out), 1);
  EXPECT_NE(out.find("empty"), std::string::npos) << out;
  // Intact again.
  std::ofstream(trail, std::ios::trunc) << full;
  EXPECT_EQ(verify(data, &out), 0) << out;

  // A data dir of an earlier version: the head in dashboard-audit.head.
  const fs::path old = dir_ / "audit-old";
  {
    auto store = server::JobStore::Open(old, clock_);  // the store, as serve made it
    ASSERT_TRUE(store.ok());
    auto trail_old =
        http::AuditTrail::Open(old, clock_, std::make_shared<http::FileAuditHead>(old));
    ASSERT_TRUE(trail_old.ok());
    ASSERT_TRUE((*trail_old)->Append("li", "qa", "station.pause", "s1", "OK", "").ok());
    ASSERT_TRUE((*trail_old)->Append("li", "qa", "station.resume", "s1", "OK", "").ok());
  }
  ASSERT_TRUE(fs::exists(old / std::string(http::kAuditHeadFileName)));
  EXPECT_EQ(verify(old, &out), 0) << out;
  EXPECT_FALSE(fs::exists(old / std::string(http::kAuditHeadFileName)));  // moved into the store
  auto store = server::JobStore::Open(old, clock_);
  ASSERT_TRUE(store.ok());
  auto head = (*store)->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->entries, 2);
}

// The line on a pkcs11 keystore (SoftHSM2, the TEST-ONLY keys imported):
// while the token is away the station that needs it shows the "keystore"
// state in the API (not "paused"), with KEYSTORE_UNAVAILABLE as its last
// fault, down in /metrics and as a live event; when the token is back it
// finishes the job and returns to "idle" by itself.
class DashboardKeystoreTest : public DashboardBackendTest {
 protected:
  encoder::KeySet LineKeys(const encoder::KeySet& file_keys) override {
    hsm_.emplace(dir_ / "hsm");
    EXPECT_TRUE(hsm_->ok());
    encoder::Pkcs11Config config;
    config.module = cardbureau::testing::kSoftHsmModule;
    config.token = cardbureau::testing::kSoftHsmToken;
    config.pin_file = hsm_->pin_file().string();
    const Status imported =
        encoder::ImportKeysToToken(config, file_keys, Slurp(file_keys.sign_key_path));
    EXPECT_TRUE(imported.ok()) << imported;
    auto backend = encoder::OpenPkcs11Backend(config);
    EXPECT_TRUE(backend.ok()) << backend.status();
    encoder::KeySet keys;
    if (backend.ok()) keys.backend = *backend;
    return keys;
  }
  std::optional<cardbureau::testing::SoftHsm> hsm_;
};

TEST_F(DashboardKeystoreTest, TokenAwayShowsTheKeystoreStateThenNormal) {
  const std::string token = "operator-token-for-tests-only-0001";
  nlohmann::json file = {
      {"tokens", {{{"name", "wang"}, {"role", "operator"}, {"sha256", http::HashToken(token)}}}}};
  auto tokens = http::TokenTable::Parse(file.dump());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  http::Api api(*backend_, *tokens, nullptr);
  auto get = [&](const std::string& target) {
    http::HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.authorization = "Bearer " + token;
    return api.Handle(r);
  };
  // The API's view of the station holding a job, "" while none does.
  auto at_work = [&]() -> nlohmann::json {
    auto r = get("/api/stations");
    EXPECT_EQ(r.status, 200) << r.body;
    const auto listed = nlohmann::json::parse(r.body);
    for (const auto& s : listed["stations"]) {
      if (!s["current_job"].get<std::string>().empty()) return s;
    }
    return nlohmann::json();
  };

  const fs::path away = dir_ / "hsm" / "tokens-away";
  fs::rename(hsm_->token_dir(), away);
  AddJob("J1");
  StartStored("J1");
  nlohmann::json station;
  ASSERT_TRUE(cardbureau::testing::WaitFor(
      [&] {
        station = at_work();
        return station.is_object() && station["state"] == "keystore";
      },
      30s))
      << station.dump();
  ASSERT_FALSE(station["last_faults"].empty());
  EXPECT_EQ(station["last_faults"][0]["code"], "KEYSTORE_UNAVAILABLE");
  EXPECT_EQ(station["current_job"], "J1");
  const std::string id = station["station_id"];
  EXPECT_TRUE(server::IsBeforeEncoding(StateOf("J1")) || StateOf("J1") == JobState::kEncoding)
      << ToString(StateOf("J1"));
  auto metrics = get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("cardbureau_station_up{station=\"" + id + "\"} 0"), std::string::npos)
      << metrics.body;
  EXPECT_NE(
      metrics.body.find("cardbureau_station_state{station=\"" + id + "\",state=\"keystore\"} 1"),
      std::string::npos)
      << metrics.body;
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] {
    for (const auto& e : Events()) {
      if (e.kind == "station" && e.id == id && e.state == "keystore" &&
          e.code == "KEYSTORE_UNAVAILABLE") {
        return true;
      }
    }
    return false;
  }));

  // The token comes back: the job is produced (by either station: it went
  // back to the queue) and the station is idle again, without an
  // operator's resume.
  fs::rename(away, hsm_->token_dir());
  ASSERT_TRUE(sink_->WaitFinished(1, 60s));
  EXPECT_EQ(StateOf("J1"), JobState::kReported);
  nlohmann::json after;
  int produced = 0;
  EXPECT_TRUE(cardbureau::testing::WaitFor(
      [&] {
        auto r = get("/api/stations");
        const auto listed = nlohmann::json::parse(r.body);
        produced = 0;
        for (const auto& s : listed["stations"]) {
          if (s["station_id"] == id) after = s;
          produced += s["produced"].get<int>();
        }
        return after.is_object() && after["state"] == "idle" && produced == 1;
      },
      20s))
      << after.dump() << " produced " << produced;
  EXPECT_GE(after["failed"].get<int>(), 1);  // the card fed while the token was away
  metrics = get("/metrics");
  EXPECT_NE(metrics.body.find("cardbureau_station_up{station=\"" + id + "\"} 1"), std::string::npos)
      << metrics.body;
  bool back_to_idle = false;
  EXPECT_TRUE(cardbureau::testing::WaitFor([&] {
    bool seen_keystore = false;
    for (const auto& e : Events()) {
      if (e.kind != "station" || e.id != id) continue;
      if (e.state == "keystore") seen_keystore = true;
      if (seen_keystore && e.state == "idle") back_to_idle = true;
    }
    return back_to_idle;
  }));
}

}  // namespace
}  // namespace cardbureau::dashboard
