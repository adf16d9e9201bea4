#include "cardbureau/core/stop.h"

#include <pthread.h>
#include <signal.h>

namespace cardbureau {
namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int) { g_stop.store(true); }

}  // namespace

std::atomic<bool>& StopFlag() { return g_stop; }

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = &OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  // A parent (a shell job, a service manager, a test) may have started us
  // with the stop signals blocked; a pending SIGTERM is delivered now and
  // becomes a stop request instead of staying stuck until exit.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
}

}  // namespace cardbureau
