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

/// One worker position: the app's index, the 0-based slot number (CLUSTER_WORKER_ID), and the
/// lane. Every slot has two lanes so that during a rolling replace the new worker (one lane) can
/// start and become ready while the old one (the other lane) still serves.
struct SlotId {
  std::size_t app = 0;
  unsigned index = 0;
  unsigned lane = 0;  // 0 or 1
  friend bool operator==(const SlotId&, const SlotId&) = default;
};

/// A lane has one timer per purpose, so a watchdog or a canary wait never displaces the state's
/// own deadline (ready_timeout, stop_timeout, backoff).
enum class TimerKind : unsigned { State = 0, Watchdog = 1, Rollout = 2 };
inline constexpr unsigned kTimerKinds = 3;

/// How a worker ended, as waitpid() reported it, or why it never ran.
struct ExitStatus {
  enum class Kind { Exited, Signaled, SpawnFailed, ReadyTimeout, WatchdogTimeout };
  Kind kind = Kind::Exited;
  int code = 0;            // exit code (Exited) or signal number (Signaled)
  std::string detail;      // SpawnFailed: the error text; otherwise empty
  bool transient = false;  // SpawnFailed for want of a resource (EAGAIN, ENOMEM, EMFILE, ...)

  /// A clean exit is code 0, or death by the stop signal the master itself sent.
  bool success() const { return kind == Kind::Exited && code == 0; }
  /// "exit 1", "signal SIGKILL", "spawn failed: ...", "no READY=1 within ready_timeout".
  std::string to_string() const;
};

/// Returns "SIGTERM" for 15 and so on; "SIG<n>" for numbers it does not know.
std::string signal_name(int signal);

// ---- events: what happened to a lane ----
// the lane should run (start-up, scale up, `start`, a rollout)
struct StartRequested {};
// the lane should stop gracefully (shutdown, `stop`, a rollout)
struct StopRequested {};
// stop the current worker, then start a new one
struct RestartRequested {};
// the shell forked and exec'd the worker
struct Spawned {
  int pid = 0;
};
// READY=1 arrived from the worker
struct Ready {};
// the worker was reaped, or the spawn failed
struct Exited {
  ExitStatus status;
};
// the lane's timer of this kind and token expired
struct TimerFired {
  unsigned token = 0;
  TimerKind kind = TimerKind::State;
};
// WATCHDOG=1
struct WatchdogPing {};
// EXTEND_TIMEOUT_USEC=: the current deadline (ready or stop) moves to now + by
struct ExtendTimeout {
  Duration by{};
};
// WATCHDOG_USEC=: the worker sets its own watchdog interval
struct SetWatchdog {
  Duration interval{};
};
using Event = std::variant<StartRequested, StopRequested, RestartRequested, Spawned, Ready, Exited,
                           TimerFired, WatchdogPing, ExtendTimeout, SetWatchdog>;

// ---- actions: what the shell must do, in order ----
// start a worker for the lane, then feed back Spawned or Exited{SpawnFailed}
struct Spawn {};
struct Signal {
  int pid = 0;
  int signal = 0;
  bool process_group = false;  // true: the worker's whole process group
};
struct ArmTimer {
  TimePoint deadline;
  unsigned token = 0;  // echo it back in TimerFired; a stale token is ignored
  TimerKind kind = TimerKind::State;
};
struct CancelTimer {
  TimerKind kind = TimerKind::State;
};
// the slot is gone (scaled down): release its lanes' timers and sockets
struct Retire {};
struct Transition {
  const char* from = "";
  const char* to = "";
  std::string reason;
};
using Action = std::variant<Spawn, Signal, ArmTimer, CancelTimer, Transition, Retire>;

}  // namespace clusterd::core
