#include <map>
#include <mutex>

#include "cardbureau/http/backend.h"

namespace cardbureau::http {

// Publish runs the callbacks under the mutex, so an unsubscribing
// Subscription (which takes the same mutex) cannot return while its callback
// is still running.
struct EventHub::State {
  mutable std::mutex mu;
  std::map<uint64_t, EventCallback> callbacks;
  uint64_t next_id = 1;
};

namespace {

class HubSubscription final : public Subscription {
 public:
  HubSubscription(std::weak_ptr<EventHub::State> state, uint64_t id)
      : state_(std::move(state)), id_(id) {}
  ~HubSubscription() override {
    if (auto s = state_.lock()) {
      std::lock_guard lock(s->mu);
      s->callbacks.erase(id_);
    }
  }

 private:
  std::weak_ptr<EventHub::State> state_;
  uint64_t id_;
};

}  // namespace

EventHub::EventHub() : state_(std::make_shared<State>()) {}
EventHub::~EventHub() = default;

std::unique_ptr<Subscription> EventHub::Subscribe(EventCallback callback) {
  std::lock_guard lock(state_->mu);
  uint64_t id = state_->next_id++;
  state_->callbacks.emplace(id, std::move(callback));
  return std::make_unique<HubSubscription>(state_, id);
}

void EventHub::Publish(const DashboardEvent& event) {
  std::lock_guard lock(state_->mu);
  for (auto& [id, cb] : state_->callbacks) cb(event);
}

size_t EventHub::subscriber_count() const {
  std::lock_guard lock(state_->mu);
  return state_->callbacks.size();
}

}  // namespace cardbureau::http
