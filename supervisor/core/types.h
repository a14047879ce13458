// Value types shared by the pure supervisor core: slot identity, exit statuses, the events the
// shell feeds in and the actions it gets back. Plain data; the core never performs an action.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <variant>

namespace clusterd::core {

using Clock = std::chrono::steady_clock;  // the type only: the core never calls Clock::now()
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

/// A worker slot: app index in Config::apps and the 0-based slot number (CLUSTER_WORKER_ID).
struct SlotId {
  std::size_t app = 0;
  unsigned index = 0;
  friend bool operator==(const SlotId&, const SlotId&) = default;
};

/// How a worker ended, as waitpid() reported it, or why it never ran.
struct ExitStatus {
  enum class Kind { Exited, Signaled, SpawnFailed, ReadyTimeout };
  Kind kind = Kind::Exited;
  int code = 0;        // exit code (Exited) or signal number (Signaled)
  std::string detail;  // SpawnFailed: the error text; otherwise empty

  /// A clean exit is code 0, or death by the stop signal the master itself sent.
  bool success() const { return kind == Kind::Exited && code == 0; }
  /// "exit 1", "signal SIGKILL", "spawn failed: ...", "no READY=1 within ready_timeout".
  std::string to_string() const;
};

/// Returns "SIGTERM" for 15 and so on; "SIG<n>" for numbers it does not know.
std::string signal_name(int signal);

// ---- events: what happened to a slot ----
struct StartRequested {};    // the slot should run (start-up, scale up, `start`)
struct StopRequested {};     // the slot should stop gracefully (shutdown, `stop`)
struct RestartRequested {};  // stop the current worker, then start a new one
struct Spawned {
  int pid = 0;
};                // the shell forked and exec'd the worker
struct Ready {};  // READY=1 arrived from the worker
struct Exited {
  ExitStatus status;
};  // the worker was reaped, or the spawn failed
struct TimerFired {
  unsigned token = 0;
};  // the slot's timer with this token expired
using Event = std::variant<StartRequested, StopRequested, RestartRequested, Spawned, Ready, Exited,
                           TimerFired>;

// ---- actions: what the shell must do, in order ----
struct Spawn {};  // start a worker for the slot, then feed back Spawned or Exited{SpawnFailed}
struct Signal {
  int pid = 0;
  int signal = 0;
  bool process_group = false;  // true: the worker's whole process group
};
struct ArmTimer {
  TimePoint deadline;
  unsigned token = 0;  // echo it back in TimerFired; a stale token is ignored
};
struct CancelTimer {};
struct Retire {};  // the slot is gone (scaled down): release its timer and sockets
struct Transition {
  const char* from = "";
  const char* to = "";
  std::string reason;
};
using Action = std::variant<Spawn, Signal, ArmTimer, CancelTimer, Transition, Retire>;

}  // namespace clusterd::core
