#include "cardbureau/server/production.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cardbureau::server {

FakeProduction::FakeProduction(ProductionSink& sink, FakeProductionOptions options)
    : sink_(sink), options_(std::move(options)) {
  const int n = options_.stations < 1 ? 1 : options_.stations;
  for (int i = 0; i < n; ++i) threads_.emplace_back([this, i] { Worker(i + 1); });
}

FakeProduction::~FakeProduction() { Stop(); }

void FakeProduction::Start(JobContext job) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void FakeProduction::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void FakeProduction::Release(const std::string& job_id) {
  {
    std::lock_guard lock(mu_);
    released_.insert(job_id);
  }
  cv_.notify_all();
}

void FakeProduction::ReleaseAll() {
  {
    std::lock_guard lock(mu_);
    release_all_ = true;
  }
  cv_.notify_all();
}

std::vector<std::string> FakeProduction::Held() const {
  std::lock_guard lock(mu_);
  return {held_.begin(), held_.end()};
}

bool FakeProduction::WaitHold(const std::string& job_id) {
  std::unique_lock lock(mu_);
  held_.insert(job_id);
  cv_.wait(lock, [&] { return stopping_ || release_all_ || released_.count(job_id) > 0; });
  held_.erase(job_id);
  return !stopping_ || release_all_ || released_.count(job_id) > 0;
}

void FakeProduction::Worker(int station) {
  for (;;) {
    JobContext job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // queued jobs stay parked in their durable state
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    Run(job, station);
  }
}

Status FakeProduction::Produce(const std::string& job_id) {
  if (options_.produced_log.empty()) return Status::Ok();
  std::lock_guard lock(log_mu_);
  int fd = ::open(options_.produced_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status(Code::kIoError, std::string("produced log: ") + std::strerror(errno));
  std::string line = job_id + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());
  int rc = ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size()) || rc != 0) {
    return Status(Code::kIoError, "produced log write failed");
  }
  return Status::Ok();
}

void FakeProduction::Run(JobContext& job, int station) {
  const std::string& id = job.job_id;
  bool fail = false;
  {
    std::lock_guard lock(mu_);
    ++started_;
    fail = options_.fail_every > 0 && started_ % options_.fail_every == 0;
  }
  std::string uid = Sha256Hex(AsBytes(id)).substr(0, 8);
  for (auto& c : uid) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // The history rows the real line writes with each step (job_store.h).
  auto event = [&](std::string kind, std::string stage) {
    HistoryEvent e;
    e.kind = std::move(kind);
    e.station = "fake-" + std::to_string(station);
    e.printer = "fake";
    e.attempt = 1;
    e.stage = std::move(stage);
    if (e.stage != "at-reader" && e.stage != "feed") e.uid = uid;
    return e;
  };
  auto step = [&](JobState to, std::vector<HistoryEvent> events = {}) -> bool {
    std::this_thread::sleep_for(options_.step_delay);
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;  // park: state stays durable
    }
    Status s = sink_.AdvanceWith(id, to, std::move(events));
    return s.ok();  // CANCELLED or an error: stop this job
  };
  if (IsBeforeEncoding(job.state)) {
    if (job.state == JobState::kValidated && !step(JobState::kRendered)) return;
    if (options_.hold == FakeHold::kBeforeEncoding && !WaitHold(id)) return;
    if (fail) {
      const Status jam(Code::kPrinterJam, "simulated printer jam");
      auto fault = event("fault", "feed");
      fault.code = std::string(jam.code_name());
      fault.message = jam.message();
      sink_.FailedWith(id, jam, true, {fault});
      return;
    }
    if (!step(JobState::kEncoding, {event("attempt", "at-reader")})) return;
    if (Status s = Produce(id); !s.ok()) {
      sink_.Failed(id, s, false);
      return;
    }
    if (!step(JobState::kEncoded, {event("card", "encoded")})) return;
    job.state = JobState::kEncoded;
  }
  if (job.state == JobState::kEncoded) {
    if (options_.hold == FakeHold::kAfterEncoding && !WaitHold(id)) return;
    if (!step(JobState::kPrinted)) return;
    job.state = JobState::kPrinted;
  }
  if (job.state == JobState::kPrinted) {
    auto qa = event("qa", "qa");
    qa.code = "OK";
    if (!step(JobState::kVerified, {qa})) return;
    job.state = JobState::kVerified;
  }
  if (job.state != JobState::kVerified) return;
  CardOutcome out;
  out.card.uid = uid;
  out.card.card_no = job.job.card.card_no;
  out.card.card_type = std::string(ToString(job.job.card.card_type));
  out.qa.chip = "ok";
  out.qa.face = "ok";
  out.station = "fake-" + std::to_string(station);
  out.produced_at = options_.clock->NowIsoBeijing();
  sink_.Completed(id, out);
}

}  // namespace cardbureau::server
