#include "cardbureau/server/bureau.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <zmq.hpp>

#include "cardbureau/core/validation.h"
#include "zmq_util.h"

namespace cardbureau::server {
namespace {

using SteadyClock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

std::atomic<int> g_monitor_counter{0};

// A zmq::error_t as a Status (no exception crosses Connect or Run): what
// ZeroMQ refuses as an argument (an endpoint it cannot parse, a transport
// it does not know, a bad key) is the config's fault, `field` names it;
// anything else is a runtime failure.
Status ZmqStatus(const std::string& what, const zmq::error_t& e, const std::string& field = {}) {
  switch (e.num()) {
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
      return Status(Code::kInvalidConfig, what + ": " + e.what(), field);
    default:
      return Status(Code::kIoError, what + ": " + e.what());
  }
}

// Memory bounds of the intake (the hostile-centre test holds the bureau to
// a peak RSS of 512 MB whatever the centre sends):
// - at most kReceiveHwm messages wait in ZeroMQ's receive pipe (16 x 8 MiB
//   frames at the very worst; a legitimate job carries a photo of <= 2 MiB);
// - one intake batch holds at most kMaxBatchBytes of frames (plus the
//   decoded copy of each photo) before it is handled and freed.
constexpr int kReceiveHwm = 16;
constexpr size_t kMaxBatchBytes = 32u << 20;

// Log lines carry job ids and codes, never names or photos.
void Log(const std::string& line) { std::fprintf(stderr, "cardbureau serve: %s\n", line.c_str()); }

// "/student/name" -> "student.name".
std::string DottedPath(const std::string& pointer) {
  std::string out = pointer.substr(pointer.empty() ? 0 : 1);
  std::replace(out.begin(), out.end(), '/', '.');
  return out;
}

// The card a crash left in the station: its attempt is recorded but it was
// neither produced nor rejected. The job's failure at restart records it
// as rejected (quarantined for an operator), so that the batch's cards
// still balance (cards in = produced + rejected). None when the job's last
// card was rejected already (the crash came after the fault was stored).
std::vector<HistoryEvent> QuarantinedCard(JobStore& store, const std::string& job_id) {
  auto history = store.History(job_id);
  if (!history.ok()) return {};
  int attempts = 0, rejected = 0;
  for (const auto& h : *history) {
    attempts += h.kind == "attempt";
    rejected += h.kind == "card" && h.detail.stage == "rejected";
  }
  if (attempts <= rejected) return {};
  HistoryEvent e;
  e.kind = "card";
  e.stage = "rejected";
  e.attempt = attempts;
  e.code = std::string(CodeName(Code::kCardError));
  e.message = "card quarantined for an operator (the bureau stopped mid-card)";
  return {e};
}

}  // namespace

std::vector<std::string> JobContentDiff(const nlohmann::json& incoming,
                                        const std::optional<Bytes>& photo,
                                        const JobRecord& stored) {
  std::vector<std::string> fields;
  if (stored.job_json.empty()) return fields;  // rejected or purged: nothing to compare
  auto old_job = ParseJob(stored.job_json);
  auto new_job = ParseJobJson(incoming);
  if (!old_job.ok()) return fields;  // cannot happen for a stored job; not the centre's fault
  if (!new_job.ok()) {
    fields.push_back(new_job.status().field().empty() ? std::string("job")
                                                      : new_job.status().field());
    return fields;
  }
  // Both through the same normalisation (defaults filled in), then leaf by
  // leaf. A valid_until the bureau derived and the centre left out is not a
  // difference.
  const nlohmann::json a = JobToJson(*new_job).flatten();
  const nlohmann::json b = JobToJson(*old_job).flatten();
  std::set<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
  for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys) {
    const bool in_a = a.contains(k), in_b = b.contains(k);
    if (in_a && in_b && a[k] == b[k]) continue;
    const std::string path = DottedPath(k);
    if (path == "card.valid_until" && (!in_a || a[k].is_null() || a[k] == "")) continue;
    fields.push_back(path);
  }
  if (photo) {
    std::string sha = Sha256Hex(*photo);
    std::string want = stored.photo_sha256;
    for (auto* s : {&sha, &want}) {
      for (auto& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (sha != want && std::find(fields.begin(), fields.end(), "photo.sha256") == fields.end()) {
      fields.push_back("photo");
    }
  }
  return fields;
}

JobValidator CoreJobValidator(const Clock& clock) {
  return [&clock](Job& job, ByteView photo) -> Status {
    ValidationOptions opts;
    opts.clock = &clock;
    CB_RETURN_IF_ERROR(ValidateJob(job, opts));
    return ValidatePhotoBytes(job, photo);
  };
}

struct Bureau::Impl {
  // A report in the in-memory retry schedule (the outbox row is the truth).
  struct Pending {
    std::string frame0;
    SteadyClock::time_point due;
    int attempts = 0;
  };
  // Something a production thread wants the protocol thread to do.
  struct Event {
    std::optional<Message> send;  // report or progress
    std::string finished_job;     // leaves the production queue
    std::string start_job;        // an internal attempt to hand to production
  };

  zmq::context_t ctx{1};
  std::optional<zmq::socket_t> sock;
  std::optional<zmq::socket_t> monitor;
  bool session = false;  // handshake done, hello sent
  int64_t outstanding_credit = 0;
  SteadyClock::time_point last_recv{};
  SteadyClock::time_point last_send{};
  SteadyClock::time_point reconnect_at{};
  Ms backoff{0};
  std::unordered_map<std::string, Pending> outbox;
  std::unordered_set<std::string> active;  // jobs in production
  std::mutex events_mu;
  std::deque<Event> events;
  mutable std::mutex stats_mu;
  BureauStats stats;
  CentreLink link;  // under stats_mu
  bool ever_linked = false;
  bool stopping = false;
  std::mutex internal_mu;
  std::unordered_set<std::string> internal;  // reprint attempts in production
  std::mutex observer_mu;
  JobObserver observer;
  PurgeHook purge_hook;
  std::vector<JobStore::PurgedJob> purge_pending;  // production copies still to remove
};

Bureau::Bureau(ServeConfig config, JobStore& store, const Clock& clock, JobValidator validator)
    : impl_(std::make_unique<Impl>()),
      config_(std::move(config)),
      store_(store),
      clock_(clock),
      validator_(std::move(validator)) {}

Bureau::~Bureau() {
  if (production_) production_->Stop();
  production_.reset();
  if (impl_->monitor) impl_->monitor->close();
  if (impl_->sock) impl_->sock->close();
}

Result<std::unique_ptr<Bureau>> Bureau::Create(const ServeConfig& config, JobStore& store,
                                               const Clock& clock, JobValidator validator,
                                               const ProductionFactory& make_production) {
  CB_RETURN_IF_ERROR(CheckServeConfig(config));
  if (config.centre.empty()) {
    return Status(Code::kInvalidConfig, "the centre endpoint is required", "centre");
  }
  if (!validator) validator = CoreJobValidator(clock);
  std::unique_ptr<Bureau> b(new Bureau(config, store, clock, std::move(validator)));
  if (config.curve.enabled()) {
    CB_ASSIGN_OR_RETURN(std::string secret, ReadSecretKeyFile(config.curve.secret_key_file));
    b->config_.curve.secret_key_file = config.curve.secret_key_file;
    // Kept only in the socket options; the string is wiped below.
    b->curve_secret_ = std::move(secret);
  }
  if (make_production) {
    CB_ASSIGN_OR_RETURN(b->production_, make_production(*b));
  }
  return b;
}

BureauStats Bureau::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

void Bureau::SetObserver(JobObserver observer) {
  std::lock_guard lock(impl_->observer_mu);
  impl_->observer = std::move(observer);
}

void Bureau::Notify(const std::string& job_id, JobState state, std::string_view code) {
  std::lock_guard lock(impl_->observer_mu);
  if (impl_->observer) impl_->observer(JobEvent{job_id, state, std::string(code)});
}

void Bureau::BatchOutcomeChanged(const std::string& job_id) {
  if (!production_) return;
  auto rec = store_.Find(job_id);
  if (!rec.ok() || !*rec || (*rec)->school_code.empty()) return;  // no batch (or a tombstone)
  production_->OutcomeChanged(job_id, (*rec)->school_code, /*manifest=*/false);
}

bool Bureau::IsInternal(const std::string& job_id) {
  std::lock_guard lock(impl_->internal_mu);
  return impl_->internal.count(job_id) > 0;
}

void Bureau::StartAttempt(const std::string& job_id) {
  Impl::Event e;
  e.start_job = job_id;
  std::lock_guard lock(impl_->events_mu);
  impl_->events.push_back(std::move(e));
}

void Bureau::StartStored(const JobRecord& rec) {
  auto& im = *impl_;
  im.active.insert(rec.job_id);
  if (rec.internal()) {
    std::lock_guard lock(im.internal_mu);
    im.internal.insert(rec.job_id);
  }
  if (!production_) return;
  auto job = store_.LoadJob(rec.job_id);
  if (!job.ok()) {
    Failed(rec.job_id, job.status(), false);
    return;
  }
  JobContext ctx;
  ctx.job_id = rec.job_id;
  ctx.photo_path = store_.photos().PathFor(rec.photo_sha256);
  ctx.cards_dir = store_.CardsDir(rec.job_id);
  ctx.state = rec.state;
  ctx.job = std::move(job).value();
  production_->Start(std::move(ctx));
}

// ---- ProductionSink ----

Status Bureau::Advance(const std::string& job_id, JobState to) {
  return AdvanceWith(job_id, to, {});
}

Result<std::vector<BatchCounts>> Bureau::CountBatch(const std::string& school_code) {
  return store_.Batches(school_code);
}

Result<std::vector<BatchRow>> Bureau::BatchRows(const std::string& school_code) {
  return store_.BatchRows(school_code);
}

void Bureau::StationFault(const StationFaultRow& fault) {
  auto id = store_.AddStationFault(fault);
  if (!id.ok()) Log("station " + fault.station + ": fault not stored: " + id.status().ToString());
}

CentreLink Bureau::link() const {
  std::lock_guard lock(impl_->stats_mu);
  CentreLink l = impl_->link;
  l.centre = config_.centre;
  return l;
}

void Bureau::SetLinked(bool connected) {
  auto& im = *impl_;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
          .count();
  std::lock_guard lock(im.stats_mu);
  if (im.link.connected == connected && im.link.since_ms != 0) return;
  if (connected && im.ever_linked) ++im.link.reconnects;
  if (connected) im.ever_linked = true;
  im.link.connected = connected;
  im.link.since_ms = now;
}

void Bureau::Heard() {
  auto& im = *impl_;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
          .count();
  std::lock_guard lock(im.stats_mu);
  im.link.last_heard_ms = now;
}

Result<StockCardInfo> Bureau::CheckStock(const std::string& job_id, const std::string& uid,
                                         CardType type, bool required) {
  return store_.CheckStock(job_id, uid, type, required);
}

Result<std::vector<StockLotReport>> Bureau::StockLots() {
  return store_.StockReport({}, /*with_cards=*/false);
}

Status Bureau::Record(const std::string& job_id, std::vector<HistoryEvent> events) {
  Status s = store_.Record(job_id, events);
  if (!s.ok()) Log("job " + job_id + ": cannot record history: " + s.ToString());
  return s;
}

Status Bureau::AdvanceWith(const std::string& job_id, JobState to,
                           std::vector<HistoryEvent> events) {
  Status s = store_.AdvanceWith(job_id, to, events);
  if (s.ok()) {
    Notify(job_id, to);
    if (IsInternal(job_id)) return s;  // the centre does not know reprint attempts
    Impl::Event e;
    e.send = Message(Progress{job_id, std::string(ToString(to)), clock_.NowIsoBeijing()});
    std::lock_guard lock(impl_->events_mu);
    impl_->events.push_back(std::move(e));
  } else if (s.code() != Code::kCancelled) {
    Log("job " + job_id + ": cannot record " + std::string(ToString(to)) + ": " + s.ToString());
  }
  return s;
}

void Bureau::Completed(const std::string& job_id, const CardOutcome& outcome) {
  server::Completed report;
  report.job_id = job_id;
  report.card = outcome.card;
  report.qa = outcome.qa;
  report.station = outcome.station;
  report.produced_at = outcome.produced_at;
  std::optional<Message> replaced;
  auto r = store_.Complete(job_id, std::move(report), outcome.history, &replaced);
  Impl::Event e;
  e.finished_job = job_id;
  const bool internal = IsInternal(job_id);
  if (r.ok()) {
    Notify(job_id, internal ? JobState::kAcknowledged : JobState::kReported);
    if (!internal) e.send = std::move(r).value();
    // A reprint attempt: the centre learns of the new card (card_replaced,
    // queued in the outbox with the completion).
    if (internal && replaced) e.send = std::move(*replaced);
  } else if (r.status().code() != Code::kCancelled) {
    // The job stays `verified`; the next run hands it to production again.
    Log("job " + job_id + ": cannot store completion: " + r.status().ToString());
  }
  std::lock_guard lock(impl_->events_mu);
  impl_->events.push_back(std::move(e));
}

void Bureau::Failed(const std::string& job_id, const Status& why, bool retryable) {
  FailedWith(job_id, why, retryable, {});
}

void Bureau::FailedWith(const std::string& job_id, const Status& why, bool retryable,
                        std::vector<HistoryEvent> events) {
  auto r = store_.Fail(job_id, why, retryable, events);
  Impl::Event e;
  e.finished_job = job_id;
  if (r.ok()) {
    Notify(job_id, JobState::kFailed, why.code_name());
    if (!IsInternal(job_id)) e.send = std::move(r).value();
  } else {
    Log("job " + job_id + ": cannot store failure: " + r.status().ToString());
  }
  std::lock_guard lock(impl_->events_mu);
  impl_->events.push_back(std::move(e));
}

// ---- the protocol thread ----

void Bureau::SendFrames(const Frames& f) {
  if (!impl_->sock) return;
  if (detail::SendFrames(*impl_->sock, f)) impl_->last_send = SteadyClock::now();
}

void Bureau::Send(const Message& m) { SendFrames(Encode(m)); }

Status Bureau::Connect() {
  try {
    ConnectSocket();
  } catch (const zmq::error_t& e) {
    return ZmqStatus("cannot connect to the centre at " + config_.centre, e, "centre");
  }
  return Status::Ok();
}

void Bureau::ConnectSocket() {
  auto& im = *impl_;
  zmq::socket_t s(im.ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::routing_id, config_.bureau_id);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, 100000);  // our own messages are small
  // What may queue inbound is bounded in bytes by count x size: at most
  // kReceiveHwm whole messages of at most kMaxMessageBytes per frame (a
  // job is two frames). Past that, ZeroMQ stops reading the connection and
  // the centre holds what it sends (its ROUTER refuses with EAGAIN).
  s.set(zmq::sockopt::rcvhwm, kReceiveHwm);
  s.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
  s.set(zmq::sockopt::reconnect_ivl, static_cast<int>(config_.reconnect_min_ms));
  s.set(zmq::sockopt::reconnect_ivl_max, static_cast<int>(config_.reconnect_max_ms));
  if (config_.curve.enabled()) {
    s.set(zmq::sockopt::curve_serverkey, config_.curve.centre_public_key);
    s.set(zmq::sockopt::curve_publickey, config_.curve.public_key);
    s.set(zmq::sockopt::curve_secretkey, curve_secret_);
  }
  const std::string mon = "inproc://cb-bureau-monitor-" + std::to_string(g_monitor_counter++);
  if (zmq_socket_monitor(s.handle(), mon.c_str(),
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0) {
    throw zmq::error_t();
  }
  zmq::socket_t m(im.ctx, zmq::socket_type::pair);
  m.connect(mon);
  s.connect(config_.centre);
  im.sock.emplace(std::move(s));
  im.monitor.emplace(std::move(m));
  im.session = false;
  im.outstanding_credit = 0;
  im.last_recv = SteadyClock::now();
}

void Bureau::Disconnect() {
  auto& im = *impl_;
  if (im.sock) {
    zmq_socket_monitor(im.sock->handle(), nullptr, 0);
    im.sock->set(zmq::sockopt::linger, im.stopping ? 1000 : 0);
  }
  if (im.monitor) im.monitor->close();
  if (im.sock) im.sock->close();
  im.monitor.reset();
  im.sock.reset();
  im.session = false;
  im.outstanding_credit = 0;
  SetLinked(false);
}

void Bureau::OnSession() {
  auto& im = *impl_;
  im.session = true;
  im.outstanding_credit = 0;  // the centre forgets our credit on hello
  im.last_recv = SteadyClock::now();
  SetLinked(true);
  im.backoff = Ms(0);
  Send(Hello{config_.bureau_id, "cardbureau/0.1", config_.stations});
  {
    std::lock_guard lock(im.stats_mu);
    ++im.stats.connects;
  }
  ResendDue(/*all_now=*/true);
  MaybePull();
}

void Bureau::HandleMonitor() {
  auto& im = *impl_;
  while (im.monitor) {
    auto frames = detail::RecvFrames(*im.monitor);
    if (!frames) return;
    if ((*frames)[0].size() < 2) continue;
    uint16_t event = 0;
    std::memcpy(&event, (*frames)[0].data(), sizeof event);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      OnSession();
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
      im.session = false;
      im.outstanding_credit = 0;
      SetLinked(false);
    }
  }
}

void Bureau::QueueReport(const Message& report) {
  auto& im = *impl_;
  const std::string id = ReportIdOf(report);
  auto& p = im.outbox[id];
  p.frame0 = EncodeFrame0(report);
  p.attempts = 1;
  p.due = SteadyClock::now() + Ms(config_.report_retry_min_ms);
  if (im.session) {
    SendFrames(Frames{p.frame0});
    std::lock_guard lock(im.stats_mu);
    ++im.stats.reports_sent;
  }
}

void Bureau::ResendDue(bool all_now) {
  auto& im = *impl_;
  if (!im.session) return;
  const auto now = SteadyClock::now();
  int budget = 1000;
  for (auto& [id, p] : im.outbox) {
    if (budget == 0) break;
    if (!all_now && p.due > now) continue;
    SendFrames(Frames{p.frame0});
    --budget;
    p.attempts = std::min(p.attempts + 1, 30);
    int64_t delay = config_.report_retry_min_ms;
    for (int i = 1; i < p.attempts && delay < config_.report_retry_max_ms; ++i) delay *= 2;
    p.due = now + Ms(std::min(delay, config_.report_retry_max_ms));
    std::lock_guard lock(im.stats_mu);
    ++im.stats.reports_sent;
  }
}

void Bureau::MaybePull() {
  auto& im = *impl_;
  if (!im.session || im.stopping) return;
  const int64_t free_slots =
      config_.queue_capacity - static_cast<int64_t>(im.active.size()) - im.outstanding_credit;
  const int64_t threshold = std::max<int64_t>(1, config_.queue_capacity / 4);
  if (free_slots < threshold) return;
  Send(Pull{free_slots});
  im.outstanding_credit += free_slots;
  std::lock_guard lock(im.stats_mu);
  ++im.stats.pulls;
  im.stats.credit_requested += free_slots;
}

Status Bureau::HandleJobs(std::vector<JobMessage>& jobs) {
  auto& im = *impl_;
  std::vector<IntakeJob> intake;
  std::vector<std::pair<std::string, ByteView>> photos;  // views into `jobs`
  std::vector<std::string> answer_from_store;            // repeated within this batch
  std::unordered_set<std::string> seen;
  int64_t dups = 0, rejected = 0;
  int64_t over_credit = 0;
  std::map<std::string, std::string> refused_in;  // school -> a job it refused
  for (auto& jm : jobs) {
    // Every job the centre sends spends one unit of the credit we granted
    // (protocol.md: never more jobs than the outstanding credit).
    const bool had_credit = im.outstanding_credit > 0;
    if (had_credit) --im.outstanding_credit;
    if (!seen.insert(jm.job_id).second) {
      answer_from_store.push_back(jm.job_id);
      continue;
    }
    CB_ASSIGN_OR_RETURN(auto found, store_.Find(jm.job_id));
    if (found) {
      // The same job_id with different content is not a redelivery: answer
      // with an error naming the fields; the stored job stays as it is.
      const auto differ = JobContentDiff(jm.body, jm.photo, *found);
      if (!differ.empty()) {
        std::string list;
        for (const auto& f : differ) list += (list.empty() ? "" : ", ") + f;
        Send(Error{"JOB_CONFLICT",
                   "job " + jm.job_id + " is already stored with different content (" + list + ")",
                   "job"});
        Log("job " + jm.job_id + ": JOB_CONFLICT, fields differ: " + list);
        std::lock_guard lock(im.stats_mu);
        ++im.stats.errors_sent;
        continue;
      }
      answer_from_store.push_back(jm.job_id);  // cheap: nothing is stored
      continue;
    }
    if (!had_credit) {
      // A centre that ignores credit must not make the bureau store (or
      // hold) more than it asked for: refuse, store nothing. The centre
      // offers the job again under credit it is granted later.
      Error e;
      e.code = std::string(CodeName(Code::kProtocolError));
      e.message = "over credit: job " + jm.job_id + " was sent with no credit outstanding";
      e.in_reply_to = "job";
      Send(e);
      ++over_credit;
      continue;
    }
    Status verdict;
    auto job = ParseJobJson(jm.body);
    if (!job.ok()) {
      verdict = job.status();
    } else if (!jm.photo) {
      verdict = Status(Code::kPhotoUnreadable, "the job has no photo frame", "photo");
    } else {
      verdict = validator_(*job, *jm.photo);
    }
    if (!verdict.ok()) {
      // Only a well-formed school code (8-12 digits) files the refusal
      // under its school's batch.
      const std::string code = job.ok() ? job->school.code : std::string();
      const bool school_ok =
          code.size() >= 8 && code.size() <= 12 &&
          std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
      const std::string school = school_ok ? code : std::string();
      // The refused job's name, card number and kind, for its manifest row.
      std::optional<RefusedJobData> data;
      if (job.ok()) {
        data =
            RefusedJobData{job->student.name, job->card.card_no, std::string(ToString(job->kind))};
      }
      CB_ASSIGN_OR_RETURN(Message report,
                          store_.Reject(jm.job_id, verdict, school, data ? &*data : nullptr));
      QueueReport(report);
      Notify(jm.job_id, JobState::kRejected, verdict.code_name());
      if (!school.empty()) refused_in[school] = jm.job_id;
      ++rejected;
      Log("job " + jm.job_id + ": rejected " + std::string(verdict.code_name()) + " " +
          verdict.field());
      continue;
    }
    std::string text = JobToJsonString(*job);
    photos.emplace_back(job->photo.sha256, ByteView(*jm.photo));
    intake.push_back(IntakeJob{std::move(job).value(), std::move(text)});
  }
  if (!intake.empty()) {
    // Photos first (durable), then the rows; `accepted` only after both.
    Status w = store_.photos().WriteBatch(photos);
    if (!w.ok()) {
      // Not the jobs' fault: do not accept; the centre redelivers them.
      Log("photos not stored (" + std::to_string(intake.size()) + " job(s)): " + w.ToString());
      for (const auto& [school, job_id] : refused_in) BatchOutcomeChanged(job_id);
      return Status::Ok();
    }
    std::vector<std::string> skipped;
    CB_RETURN_IF_ERROR(store_.AddValidated(intake, &skipped));
    for (auto& in : intake) {
      Send(Accepted{in.job.job_id});
      if (std::find(skipped.begin(), skipped.end(), in.job.job_id) != skipped.end()) continue;
      Notify(in.job.job_id, JobState::kValidated);
      im.active.insert(in.job.job_id);
      if (production_) {
        JobContext ctx;
        ctx.job_id = in.job.job_id;
        ctx.photo_path = store_.photos().PathFor(in.job.photo.sha256);
        ctx.cards_dir = store_.CardsDir(in.job.job_id);
        ctx.state = JobState::kValidated;
        ctx.job = std::move(in.job);
        production_->Start(std::move(ctx));
      }
    }
  }
  // Refusals change their batches' counts: one rewrite per school.
  for (const auto& [school, job_id] : refused_in) BatchOutcomeChanged(job_id);
  for (const auto& id : answer_from_store) {
    ++dups;
    CB_ASSIGN_OR_RETURN(auto report, store_.TerminalReport(id));
    if (report) {
      Send(*report);  // same report_id as stored
    } else {
      CB_ASSIGN_OR_RETURN(auto found, store_.Find(id));
      if (found) Send(Accepted{id});
    }
  }
  std::lock_guard lock(im.stats_mu);
  im.stats.jobs_accepted += static_cast<int64_t>(intake.size());
  im.stats.jobs_rejected += rejected;
  im.stats.duplicates += dups;
  im.stats.jobs_over_credit += over_credit;
  im.stats.errors_sent += over_credit;
  if (over_credit > 0) {
    Log(std::to_string(over_credit) + " job(s) sent over credit refused (PROTOCOL_ERROR)");
  }
  return Status::Ok();
}

Status Bureau::HandleMessage(Message& m) {
  auto& im = *impl_;
  if (auto* ack = std::get_if<Ack>(&m)) {
    Status s = store_.Acknowledge(ack->report_id);
    if (s.code() == Code::kNotFound) {
      Log("ack for unknown report " + ack->report_id);
      return Status::Ok();
    }
    CB_RETURN_IF_ERROR(s);
    im.outbox.erase(ack->report_id);
    std::lock_guard lock(im.stats_mu);
    ++im.stats.acks;
  } else if (auto* cancel = std::get_if<Cancel>(&m)) {
    CB_ASSIGN_OR_RETURN(Message report, store_.Cancel(cancel->job_id, cancel->reason));
    im.active.erase(cancel->job_id);
    if (std::holds_alternative<Cancelled>(report)) {
      Notify(cancel->job_id, JobState::kCancelled, "CANCELLED");
    } else if (const auto* f = std::get_if<server::Failed>(&report)) {
      Notify(cancel->job_id, JobState::kFailed, f->code);
    }
    BatchOutcomeChanged(cancel->job_id);
    Log("job " + cancel->job_id + ": cancel answered with " + std::string(TypeName(report)));
    QueueReport(report);
  } else if (auto* err = std::get_if<Error>(&m)) {
    Log("centre reports error " + err->code + " in reply to '" + err->in_reply_to + "'");
    // An answer to a report (e.g. UNKNOWN_TYPE from a centre that does not
    // know card_replaced): the report stays in the outbox and the answer is
    // kept with it for the operator (dashboard, job history).
    if (err->in_reply_to == "card_replaced" || err->in_reply_to == "completed" ||
        err->in_reply_to == "failed" || err->in_reply_to == "cancelled" ||
        err->in_reply_to == "rejected") {
      CB_ASSIGN_OR_RETURN(int64_t marked,
                          store_.RecordCentreAnswer(err->in_reply_to, err->code, err->message));
      if (marked > 0) {
        Log(std::to_string(marked) + " pending " + err->in_reply_to + " report(s) answered " +
            err->code + " by the centre; kept in the outbox");
      }
    }
    std::lock_guard lock(im.stats_mu);
    ++im.stats.errors_received;
  }
  return Status::Ok();  // heartbeat: liveness only
}

Status Bureau::HandleIncoming(std::vector<Frames>& batch) {
  auto& im = *impl_;
  std::vector<JobMessage> jobs;
  for (auto& frames : batch) {
    auto decoded = Decode(frames, Sender::kCentre);
    if (!decoded.ok()) {
      Send(MakeError(decoded.status(), frames));
      std::lock_guard lock(im.stats_mu);
      ++im.stats.errors_sent;
      continue;
    }
    if (auto* job = std::get_if<JobMessage>(&*decoded)) {
      jobs.push_back(std::move(*job));
      continue;
    }
    if (!jobs.empty()) {
      CB_RETURN_IF_ERROR(HandleJobs(jobs));
      jobs.clear();
    }
    CB_RETURN_IF_ERROR(HandleMessage(*decoded));
  }
  if (!jobs.empty()) CB_RETURN_IF_ERROR(HandleJobs(jobs));
  return Status::Ok();
}

Status Bureau::DrainEvents() {
  auto& im = *impl_;
  std::deque<Impl::Event> events;
  {
    std::lock_guard lock(im.events_mu);
    events.swap(im.events);
  }
  for (auto& e : events) {
    if (e.send) {
      if (IsTerminalReport(*e.send)) {
        QueueReport(*e.send);
      } else if (im.session) {
        Send(*e.send);  // progress: best effort
      }
    }
    if (!e.finished_job.empty()) {
      im.active.erase(e.finished_job);
      std::lock_guard lock(im.internal_mu);
      im.internal.erase(e.finished_job);
    }
    if (!e.start_job.empty() && !im.stopping) {
      CB_ASSIGN_OR_RETURN(auto rec, store_.Find(e.start_job));
      if (!rec || rec->state != JobState::kValidated || im.active.count(rec->job_id)) {
        Log("attempt " + e.start_job + " is not ready for production; ignored");
      } else {
        StartStored(*rec);
      }
    }
  }
  return Status::Ok();
}

Status Bureau::Recover() {
  auto& im = *impl_;
  CB_ASSIGN_OR_RETURN(auto pending, store_.PendingReports());
  for (auto& p : pending) {
    im.outbox[p.report_id] = Impl::Pending{std::move(p.frame0), SteadyClock::now(), 0};
  }
  const JobState encoding[] = {JobState::kEncoding};
  CB_ASSIGN_OR_RETURN(auto interrupted, store_.InStates(encoding));
  for (const auto& rec : interrupted) {
    // The chip may or may not have been written: never encode it again.
    const auto quarantined = QuarantinedCard(store_, rec.job_id);
    CB_ASSIGN_OR_RETURN(
        Message report,
        store_.Fail(rec.job_id,
                    Status(Code::kCardError,
                           "the bureau stopped while the chip was being encoded; the card is "
                           "quarantined for an operator"),
                    false, quarantined));
    if (!rec.internal()) {
      im.outbox[ReportIdOf(report)] = Impl::Pending{EncodeFrame0(report), SteadyClock::now(), 0};
    }
    Log("job " + rec.job_id + ": interrupted during encoding, reported failed");
    BatchOutcomeChanged(rec.job_id);
  }
  const JobState resumable[] = {JobState::kValidated, JobState::kRendered, JobState::kEncoded,
                                JobState::kPrinted, JobState::kVerified};
  CB_ASSIGN_OR_RETURN(auto jobs, store_.InStates(resumable));
  for (auto& rec : jobs) StartStored(rec);
  if (!pending.empty() || !interrupted.empty() || !jobs.empty()) {
    Log("recovered " + std::to_string(jobs.size()) + " job(s) in production, " +
        std::to_string(im.outbox.size()) + " unacked report(s)");
  }
  return Status::Ok();
}

void Bureau::PurgeExpired() {
  auto& im = *impl_;
  // A failed purge is not lost: the store's part is retried by the next
  // purge (its rows stay unpurged); the production's part stays pending
  // here until it succeeds.
  auto purged = store_.PurgeExpired(std::chrono::hours(24 * config_.retention_days));
  if (!purged.ok()) {
    Log("retention purge failed, retried in " + std::to_string(config_.purge_interval_s) +
        " s: " + purged.status().ToString());
    return;
  }
  if (!purged->empty()) {
    Log("purged personal data of " + std::to_string(purged->size()) + " acknowledged job(s)");
    im.purge_pending.insert(im.purge_pending.end(), purged->begin(), purged->end());
    std::lock_guard lock(im.observer_mu);
    if (im.purge_hook) im.purge_hook(*purged);
  }
  if (!im.purge_pending.empty() && production_) {
    Status s = production_->Purge(im.purge_pending);
    if (!s.ok()) {
      Log("production copies of " + std::to_string(im.purge_pending.size()) +
          " purged job(s) not removed yet, retried in " + std::to_string(config_.purge_interval_s) +
          " s: " + s.ToString());
      return;
    }
  }
  im.purge_pending.clear();
}

void Bureau::SetPurgeHook(PurgeHook hook) {
  std::lock_guard lock(impl_->observer_mu);
  impl_->purge_hook = std::move(hook);
}

Status Bureau::Run(const std::atomic<bool>& stop) {
  auto& im = *impl_;
  CB_RETURN_IF_ERROR(Recover());
  Status result = Connect();
  try {
    if (result.ok()) result = Loop(stop);
  } catch (const zmq::error_t& e) {
    result = ZmqStatus("protocol loop", e);
  }
  // Clean stop: no more pulls, park production, send what is queued, flush.
  im.stopping = true;
  if (production_) production_->Stop();
  Status drained;
  try {
    drained = DrainEvents();
    Disconnect();
  } catch (const zmq::error_t& e) {
    drained = ZmqStatus("stopping the protocol", e);
  }
  if (result.ok()) result = drained;
  return result;
}

Status Bureau::Loop(const std::atomic<bool>& stop) {
  auto& im = *impl_;
  const Ms heartbeat(config_.heartbeat_interval_ms);
  const Ms peer_timeout(config_.peer_timeout_ms);
  auto next_purge = SteadyClock::now();
  Status result;
  while (!stop.load()) {
    std::vector<zmq::pollitem_t> items;
    if (im.sock) items.push_back({im.sock->handle(), 0, ZMQ_POLLIN, 0});
    if (im.monitor) items.push_back({im.monitor->handle(), 0, ZMQ_POLLIN, 0});
    try {
      if (items.empty()) {
        std::this_thread::sleep_for(Ms(20));
      } else {
        zmq::poll(items.data(), items.size(), Ms(20));
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    if (im.monitor) HandleMonitor();
    if (im.sock) {
      std::vector<Frames> batch;
      size_t batch_bytes = 0;
      while (static_cast<int64_t>(batch.size()) < config_.intake_batch &&
             batch_bytes < kMaxBatchBytes) {
        auto frames = detail::RecvFrames(*im.sock);
        if (!frames) break;
        for (const auto& f : *frames) batch_bytes += f.size();
        batch.push_back(std::move(*frames));
      }
      if (!batch.empty()) {
        im.last_recv = SteadyClock::now();
        Heard();
        im.backoff = Ms(0);
        if (!im.session) OnSession();
        result = HandleIncoming(batch);
        if (!result.ok()) break;
      }
    }
    result = DrainEvents();
    if (!result.ok()) break;
    const auto now = SteadyClock::now();
    if (im.sock) {
      ResendDue(false);
      MaybePull();
      if (im.session && now - im.last_send >= heartbeat) Send(Heartbeat{});
      if (now - im.last_recv > peer_timeout) {
        Log("centre silent for " + std::to_string(config_.peer_timeout_ms) + " ms; reconnecting");
        Disconnect();
        im.backoff =
            std::clamp(im.backoff * 2, Ms(config_.reconnect_min_ms), Ms(config_.reconnect_max_ms));
        im.reconnect_at = now + im.backoff;
      }
    } else if (now >= im.reconnect_at) {
      result = Connect();
      if (!result.ok()) break;
    }
    if (now >= next_purge) {
      PurgeExpired();
      next_purge = now + std::chrono::seconds(config_.purge_interval_s);
    }
  }
  return result;
}

}  // namespace cardbureau::server
