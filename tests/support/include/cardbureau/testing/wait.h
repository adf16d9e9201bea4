// Waiting in tests: poll a condition until it holds or a deadline passes,
// instead of sleeping a fixed time and then asserting. Header-only.
#pragma once

#include <chrono>
#include <thread>

namespace cardbureau::testing {

// Polls `done()` every `poll` until it returns true (-> true) or `timeout`
// has passed (-> false, after one last check). The poll interval is not a
// wait: the call returns as soon as the condition holds.
template <typename Pred>
bool WaitFor(Pred&& done, std::chrono::milliseconds timeout = std::chrono::seconds(10),
             std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// Checks that `held()` stays true for the whole `window` (polling every
// `poll`): for "nothing happens" assertions, which cannot wait on an event.
// Returns false as soon as it stops holding.
template <typename Pred>
bool HoldsFor(Pred&& held, std::chrono::milliseconds window,
              std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + window;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!held()) return false;
    std::this_thread::sleep_for(poll);
  }
  return held();
}

}  // namespace cardbureau::testing
