#include "cardbureau/server/centre.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>

#include "cardbureau/server/config.h"
#include "cardbureau/server/messages.h"
#include "zmq_util.h"

namespace cardbureau::server {
namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

void Log(const std::string& line) { std::fprintf(stderr, "centre: %s\n", line.c_str()); }

enum class JobPhase { kPending, kSent, kAccepted, kDone };

struct CentreJob {
  std::string job_id;
  std::string frame0;
  std::filesystem::path photo;
  JobPhase phase = JobPhase::kPending;
  SteadyClock::time_point sent_at{};
  std::string sent_to;
};

struct Peer {
  int64_t credit = 0;
  SteadyClock::time_point last_recv{};
  SteadyClock::time_point last_send{};
};

}  // namespace

Result<CancelPlan> ParseCancelPlan(std::string_view text) {
  auto at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= text.size()) {
    return Status(Code::kInvalidField, "expected JOB_ID@N", "cancel");
  }
  CancelPlan p;
  p.job_id = std::string(text.substr(0, at));
  int64_t n = 0;
  for (char c : text.substr(at + 1)) {
    if (c < '0' || c > '9' || n > 1000000000) {
      return Status(Code::kInvalidField, "N must be a non-negative integer", "cancel");
    }
    n = n * 10 + (c - '0');
  }
  p.after_dispatched = n;
  return p;
}

struct Centre::Impl {
  CentreOptions opt;
  std::vector<CentreJob> jobs;
  std::unordered_map<std::string, size_t> index;
  std::deque<size_t> pending;
  std::unordered_set<std::string> report_ids;
  std::map<std::string, Peer> peers;
  std::vector<bool> cancel_sent;
  CentreSummary sum;
  mutable std::mutex sum_mu;
  int reports_fd = -1;
  std::string curve_secret;
  zmq::context_t ctx{1};
  std::optional<zmq::socket_t> router;
  std::thread zap;
  std::atomic<bool> zap_stop{false};

  ~Impl() {
    zap_stop = true;
    if (zap.joinable()) zap.join();
    if (reports_fd >= 0) ::close(reports_fd);
  }

  Status LoadJobs();
  Status LoadReports();
  void ZapLoop(zmq::socket_t& rep, std::set<std::string> allowed);
  bool SendTo(const std::string& peer, const Frames& frames);
  Status HandleBatch(std::vector<Frames>& batch);
  void Dispatch();
  void Housekeeping();
  void ShowProgress();
  bool AllDone() const {
    return sum.done >= static_cast<int64_t>(jobs.size()) && sum.replaced >= opt.expect_replacements;
  }
  // Per-job card UIDs from a stored report line (under sum_mu).
  void TrackCard(const json& j) {
    const std::string type = j.value("type", "");
    const std::string job_id = j.value("job_id", "");
    if (type != "completed" && type != "card_replaced") return;
    if (!j.contains("card") || !j["card"].is_object()) return;
    const std::string uid = j["card"].value("uid", "");
    if (type == "card_replaced") {
      ++sum.replaced;
      std::string old;
      if (j.contains("replaces") && j["replaces"].is_object()) old = j["replaces"].value("uid", "");
      if (!old.empty()) sum.blocked_uids[job_id].push_back(old);
    }
    sum.current_uid[job_id] = uid;
  }
};

Centre::Centre() : impl_(std::make_unique<Impl>()) {}
Centre::~Centre() = default;

Status Centre::Impl::LoadJobs() {
  std::ifstream in(opt.jobs_file);
  if (!in) return Status(Code::kIoError, "cannot open jobs file " + opt.jobs_file.string());
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    const std::string where = opt.jobs_file.string() + ":" + std::to_string(lineno);
    if (!j.is_object()) return Status(Code::kInvalidJson, where + ": not a JSON object");
    auto id = j.find("job_id");
    if (id == j.end() || !id->is_string()) {
      return Status(Code::kInvalidJson, where + ": no string job_id", "job_id");
    }
    CentreJob job;
    job.job_id = id->get<std::string>();
    if (index.count(job.job_id)) {
      return Status(Code::kInvalidJson, where + ": job_id repeated", "job_id");
    }
    if (auto pf = j.find("photo_file"); pf != j.end() && pf->is_string()) {
      job.photo = opt.photos_dir / pf->get<std::string>();
      j.erase("photo_file");
    } else if (auto ph = j.find("photo"); ph != j.end() && ph->is_object() &&
                                          ph->contains("sha256") && (*ph)["sha256"].is_string()) {
      job.photo = opt.photos_dir / (*ph)["sha256"].get<std::string>();
    }
    job.frame0 = j.dump(-1, ' ', false, json::error_handler_t::replace);
    index[job.job_id] = jobs.size();
    jobs.push_back(std::move(job));
  }
  sum.jobs = static_cast<int64_t>(jobs.size());
  return Status::Ok();
}

Status Centre::Impl::LoadReports() {
  {
    std::ifstream in(opt.reports_file, std::ios::binary);
    std::string line;
    bool ends_with_newline = true;
    while (std::getline(in, line)) {
      ends_with_newline = !in.eof();
      json j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("report_id") || !j["report_id"].is_string()) continue;
      report_ids.insert(j["report_id"].get<std::string>());
      const std::string type = j.value("type", "");
      const std::string job_id = j.contains("job_id") && j["job_id"].is_string()
                                     ? j["job_id"].get<std::string>()
                                     : std::string();
      auto it = index.find(job_id);
      if (it != index.end() && jobs[it->second].phase != JobPhase::kDone) {
        jobs[it->second].phase = JobPhase::kDone;
        ++sum.done;
      }
      if (type == "completed") ++sum.completed;
      if (type == "failed") ++sum.failed;
      if (type == "rejected") ++sum.rejected;
      if (type == "cancelled") ++sum.cancelled;
      TrackCard(j);
    }
    reports_fd = ::open(opt.reports_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (reports_fd < 0) {
      return Status(Code::kIoError, "cannot open reports file " + opt.reports_file.string() + ": " +
                                        std::strerror(errno));
    }
    if (!ends_with_newline && ::write(reports_fd, "\n", 1) != 1) {
      return Status(Code::kIoError, "cannot repair reports file");
    }
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].phase == JobPhase::kPending) pending.push_back(i);
  }
  if (!report_ids.empty()) {
    Log("resumed: " + std::to_string(sum.done) + " of " + std::to_string(jobs.size()) +
        " job(s) already reported");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Centre>> Centre::Create(CentreOptions options) {
  std::unique_ptr<Centre> c(new Centre());
  auto& im = *c->impl_;
  im.opt = std::move(options);
  im.cancel_sent.assign(im.opt.cancels.size(), false);
  CB_RETURN_IF_ERROR(im.LoadJobs());
  CB_RETURN_IF_ERROR(im.LoadReports());
  if (!im.opt.curve_secret_file.empty()) {
    CB_ASSIGN_OR_RETURN(im.curve_secret, ReadSecretKeyFile(im.opt.curve_secret_file));
    for (const auto& k : im.opt.curve_allowed) {
      CB_RETURN_IF_ERROR(CheckZ85Key(k, "an allowed bureau key"));
    }
  }
  return c;
}

CentreSummary Centre::summary() const {
  std::lock_guard lock(impl_->sum_mu);
  return impl_->sum;
}

// ZAP (RFC 27) handler: admits CURVE clients whose public key is allowed.
void Centre::Impl::ZapLoop(zmq::socket_t& rep, std::set<std::string> allowed) {
  while (!zap_stop.load()) {
    zmq::pollitem_t item{rep.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, Ms(100));
    } catch (const zmq::error_t&) {
      continue;
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    auto frames = detail::RecvFrames(rep);
    if (!frames || frames->size() < 6) continue;
    const auto& f = *frames;
    bool ok = f[0] == "1.0" && f[5] == "CURVE" && f.size() >= 7 && f[6].size() == 32;
    if (ok) {
      char z85[41] = {};
      zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(f[6].data()), 32);
      ok = allowed.count(z85) > 0;
    }
    detail::SendFrames(
        rep, Frames{"1.0", f[1], ok ? "200" : "400", ok ? "OK" : "unknown bureau key", "", ""});
  }
}

bool Centre::Impl::SendTo(const std::string& peer, const Frames& frames) {
  Frames all;
  all.reserve(frames.size() + 1);
  all.push_back(peer);
  all.insert(all.end(), frames.begin(), frames.end());
  if (!detail::SendFrames(*router, all)) return false;
  if (auto it = peers.find(peer); it != peers.end()) it->second.last_send = SteadyClock::now();
  return true;
}

Status Centre::Impl::HandleBatch(std::vector<Frames>& batch) {
  struct NewReport {
    std::string peer;
    std::string report_id;
    std::string job_id;
    std::string type;
    std::string line;
  };
  std::vector<NewReport> fresh;
  std::vector<std::pair<std::string, std::string>> acks;  // peer, report_id
  const auto now = SteadyClock::now();
  for (auto& all : batch) {
    if (all.empty()) continue;
    const std::string peer = all.front();
    Frames frames(all.begin() + 1, all.end());
    auto [it, inserted] = peers.try_emplace(peer);
    it->second.last_recv = now;
    if (inserted) Log("bureau " + peer + " connected");
    auto decoded = Decode(frames, Sender::kBureau);
    if (!decoded.ok()) {
      Log("bad message from " + peer + ": " + decoded.status().ToString());
      SendTo(peer, Encode(MakeError(decoded.status(), frames)));
      continue;
    }
    Message& m = *decoded;
    if (auto* h = std::get_if<Hello>(&m)) {
      it->second.credit = 0;
      Log("hello from " + peer + " (" + h->software + ", " + std::to_string(h->stations) +
          " station(s))");
    } else if (auto* p = std::get_if<Pull>(&m)) {
      it->second.credit += p->credit;
    } else if (auto* a = std::get_if<Accepted>(&m)) {
      if (auto j = index.find(a->job_id); j != index.end()) {
        auto& job = jobs[j->second];
        if (job.phase == JobPhase::kSent || job.phase == JobPhase::kPending) {
          job.phase = JobPhase::kAccepted;
          std::lock_guard lock(sum_mu);
          ++sum.accepted;
        }
      }
    } else if (IsTerminalReport(m)) {
      const std::string rid = ReportIdOf(m);
      if (report_ids.count(rid)) {
        acks.emplace_back(peer, rid);
        std::lock_guard lock(sum_mu);
        ++sum.repeated_reports;
        continue;
      }
      bool in_batch = false;
      for (const auto& r : fresh) in_batch |= r.report_id == rid;
      if (in_batch) {
        acks.emplace_back(peer, rid);
        continue;
      }
      json line = json::parse(EncodeFrame0(m));
      line["bureau"] = peer;
      fresh.push_back(NewReport{peer, rid, JobIdOf(m), std::string(TypeName(m)),
                                line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"});
    } else if (auto* e = std::get_if<Error>(&m)) {
      Log("error from " + peer + ": " + e->code + " (" + e->message + ") in reply to '" +
          e->in_reply_to + "'");
      std::lock_guard lock(sum_mu);
      ++sum.errors_received;
    }
  }
  if (!fresh.empty()) {
    std::string buf;
    for (const auto& r : fresh) buf += r.line;
    size_t off = 0;
    while (off < buf.size()) {
      ssize_t n = ::write(reports_fd, buf.data() + off, buf.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return Status(Code::kIoError, std::string("write reports: ") + std::strerror(errno));
      off += static_cast<size_t>(n);
    }
    if (::fsync(reports_fd) != 0) return Status(Code::kIoError, "fsync reports failed");
    std::lock_guard lock(sum_mu);
    for (const auto& r : fresh) {
      report_ids.insert(r.report_id);
      acks.emplace_back(r.peer, r.report_id);
      if (auto j = index.find(r.job_id); j != index.end()) {
        auto& job = jobs[j->second];
        if (job.phase != JobPhase::kDone) {
          job.phase = JobPhase::kDone;
          ++sum.done;
        }
      }
      if (r.type == "completed") ++sum.completed;
      if (r.type == "failed") ++sum.failed;
      if (r.type == "rejected") ++sum.rejected;
      if (r.type == "cancelled") ++sum.cancelled;
      TrackCard(json::parse(r.line, nullptr, false));
      if (r.type == "card_replaced") {
        Log("job " + r.job_id + ": card replaced; current UID " + sum.current_uid[r.job_id] +
            ", old UID blocked");
      }
    }
  }
  for (const auto& [peer, rid] : acks) SendTo(peer, Encode(Ack{rid}));
  return Status::Ok();
}

void Centre::Impl::Dispatch() {
  if (pending.empty()) return;
  for (auto& [name, peer] : peers) {
    while (peer.credit > 0 && !pending.empty()) {
      const size_t i = pending.front();
      auto& job = jobs[i];
      if (job.phase != JobPhase::kPending) {
        pending.pop_front();
        continue;
      }
      Frames frames{job.frame0};
      std::ifstream in(job.photo, std::ios::binary);
      if (in) {
        frames.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      } else {
        Log("job " + job.job_id + ": photo file missing; sending without frame 1");
      }
      if (!SendTo(name, frames)) {
        peer.credit = 0;  // unreachable now; its next hello/pull restores credit
        break;
      }
      pending.pop_front();
      --peer.credit;
      job.phase = JobPhase::kSent;
      job.sent_at = SteadyClock::now();
      job.sent_to = name;
      std::lock_guard lock(sum_mu);
      ++sum.sends;
    }
  }
}

void Centre::Impl::Housekeeping() {
  const auto now = SteadyClock::now();
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto& job = jobs[i];
    if (job.phase == JobPhase::kSent && now - job.sent_at > opt.redeliver_after) {
      job.phase = JobPhase::kPending;
      pending.push_front(i);
      std::lock_guard lock(sum_mu);
      ++sum.redeliveries;
    }
  }
  for (auto it = peers.begin(); it != peers.end();) {
    if (now - it->second.last_recv > opt.peer_timeout) {
      Log("bureau " + it->first + " silent; forgetting its credit");
      it = peers.erase(it);
      continue;
    }
    if (now - it->second.last_send >= opt.heartbeat_interval) {
      SendTo(it->first, Encode(Heartbeat{}));
    }
    ++it;
  }
  int64_t dispatched = 0;
  {
    std::lock_guard lock(sum_mu);
    dispatched = sum.sends;
  }
  for (size_t c = 0; c < opt.cancels.size(); ++c) {
    if (cancel_sent[c] || dispatched < opt.cancels[c].after_dispatched || peers.empty()) continue;
    const auto& plan = opt.cancels[c];
    std::string target = peers.begin()->first;
    if (auto j = index.find(plan.job_id); j != index.end() && !jobs[j->second].sent_to.empty() &&
                                          peers.count(jobs[j->second].sent_to)) {
      target = jobs[j->second].sent_to;
    }
    if (SendTo(target, Encode(Cancel{plan.job_id, "card found before production"}))) {
      cancel_sent[c] = true;
      Log("sent cancel for " + plan.job_id + " to " + target);
    }
  }
  std::lock_guard lock(sum_mu);
  sum.bureaus = static_cast<int64_t>(peers.size());
}

void Centre::Impl::ShowProgress() {
  std::lock_guard lock(sum_mu);
  std::fprintf(stderr,
               "centre: %lld/%lld reported (completed %lld, failed %lld, rejected %lld, "
               "cancelled %lld), sent %lld, redelivered %lld, bureaus %lld\n",
               static_cast<long long>(sum.done), static_cast<long long>(sum.jobs),
               static_cast<long long>(sum.completed), static_cast<long long>(sum.failed),
               static_cast<long long>(sum.rejected), static_cast<long long>(sum.cancelled),
               static_cast<long long>(sum.sends), static_cast<long long>(sum.redeliveries),
               static_cast<long long>(sum.bureaus));
}

Status Centre::Run(const std::atomic<bool>& stop) {
  auto& im = *impl_;
  std::optional<zmq::socket_t> zap_sock;
  if (!im.curve_secret.empty()) {
    zap_sock.emplace(im.ctx, zmq::socket_type::rep);
    zap_sock->bind("inproc://zeromq.zap.01");
    std::set<std::string> allowed(im.opt.curve_allowed.begin(), im.opt.curve_allowed.end());
    im.zap = std::thread([&im, &zap_sock, allowed] { im.ZapLoop(*zap_sock, allowed); });
  }
  zmq::socket_t router(im.ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::router_mandatory, 1);
  router.set(zmq::sockopt::router_handover, 1);
  router.set(zmq::sockopt::linger, 1000);
  router.set(zmq::sockopt::sndhwm, 100000);
  router.set(zmq::sockopt::rcvhwm, 100000);
  router.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
  if (!im.curve_secret.empty()) {
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, im.curve_secret);
    router.set(zmq::sockopt::zap_domain, "cardbureau");
  }
  Status result;
  try {
    router.bind(im.opt.bind);
  } catch (const zmq::error_t& e) {
    result = Status(Code::kProtocolError, "cannot bind " + im.opt.bind + ": " + e.what());
  }
  if (result.ok()) {
    im.router.emplace(std::move(router));
    auto next_progress = SteadyClock::now();
    while (!stop.load() && !(im.opt.until_done && im.AllDone())) {
      zmq::pollitem_t item{im.router->handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, Ms(20));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
        continue;
      }
      std::vector<Frames> batch;
      while (batch.size() < 256) {
        auto frames = detail::RecvFrames(*im.router);
        if (!frames) break;
        batch.push_back(std::move(*frames));
      }
      if (!batch.empty()) {
        result = im.HandleBatch(batch);
        if (!result.ok()) break;
      }
      im.Housekeeping();
      im.Dispatch();
      if (im.opt.show_progress && SteadyClock::now() >= next_progress) {
        im.ShowProgress();
        next_progress = SteadyClock::now() + std::chrono::seconds(1);
      }
    }
    if (im.opt.show_progress) im.ShowProgress();
    im.router->close();  // linger flushes the last acks
    im.router.reset();
  }
  if (zap_sock) {
    im.zap_stop = true;
    if (im.zap.joinable()) im.zap.join();
    zap_sock->close();
  }
  return result;
}

}  // namespace cardbureau::server
