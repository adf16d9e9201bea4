// The process's stop request: SIGTERM and SIGINT set one flag that every
// long-running command (serve, centre, vcard, readers --watch, ...) polls.
//
// main() installs the handlers before it does anything else, so a SIGTERM
// that arrives while a command is still starting up (opening the store,
// loading keys) is not lost and does not kill the process: the command sees
// the flag as soon as it reaches its loop and stops cleanly (exit 0).
#pragma once

#include <atomic>

namespace cardbureau {

// Installs the SIGTERM/SIGINT handlers (no SA_RESTART, so a blocking poll
// returns EINTR and its loop sees the flag) and unblocks both signals in
// the calling thread (a pending one becomes a stop request). Idempotent.
void InstallStopHandlers();

// The flag the handlers set. Commands pass it to their run loops.
std::atomic<bool>& StopFlag();

// True once SIGTERM/SIGINT arrived (or RequestStop was called).
inline bool StopRequested() { return StopFlag().load(); }

// Sets the flag as the handler would (tests, in-process commands).
inline void RequestStop() { StopFlag().store(true); }

// Clears the flag: only for tests that run several commands in one process.
inline void ClearStopRequest() { StopFlag().store(false); }

}  // namespace cardbureau
