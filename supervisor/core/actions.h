// What the core asks the shell to do, in order. Data only: the shell carries each one out (a
// std::visit over an overload set, so a new action does not compile until the shell handles it).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/core/types.h"

namespace clusterd::core {

// start a worker for the lane, then feed back Spawned or Exited{SpawnFailed}
struct Spawn {};
// send `signal` to the worker, or to its whole process group
struct Signal {
  int pid = 0;
  int signal = 0;
  bool group = false;
};
// arm the lane's timer; TimerFired{timer, token} comes back at `deadline`
struct ArmTimer {
  LaneTimer timer = LaneTimer::State;
  TimePoint deadline;
  unsigned token = 0;
};
struct CancelTimer {
  LaneTimer timer = LaneTimer::State;
};
// arm the app's rollout timer (the canary's wait); RolloutTimerFired{app, token} comes back then
struct ArmRolloutTimer {
  TimePoint deadline;
  unsigned token = 0;
};
// try the ready probe of the lane's worker once (ready: http, tcp); ProbeResult comes back
struct Probe {};
// the slot is gone (scaled down): release what the shell holds for it (its sockets, timers)
struct Retire {};
// Why a worker ended (or was replaced) without anyone asking, for the restart counters.
enum class Unplanned { Exit, Signal, SpawnFailed, ReadyTimeout, Watchdog, Replaced };
inline constexpr std::size_t kUnplannedCauses = 6;
/// "exit", "signal", "spawn_failed", "ready_timeout", "watchdog", "replaced".
const char* to_string(Unplanned cause);

// a lane changed state; `generation` is the lane's, for the record even when the move retires
// the slot (its last lane going idle after a scale-down)
struct Transition {
  LaneState from = LaneState::Idle;
  LaneState to = LaneState::Idle;
  std::string reason;
  unsigned generation = 0;
};
// something worth a log line and an event record that is not a lane's change of state
struct Notice {
  enum class Kind {
    StopTimeout,      // still running after stop_timeout: SIGKILL
    WatchdogExpired,  // no WATCHDOG=1 in time: SIGABRT
    ReadyTimeout,     // no READY=1 within ready_timeout: SIGKILL
    Replacing,        // a fresh worker is starting beside this one (STOPPING=1, max_memory)
    RolloutStarted,
    RolloutProgress,  // a slot moved to the new generation
    RolloutFailed,    // a new worker failed: rolling back
    RolloutDone,      // ended, well or not (see the message)
    Scaled,
  };
  Kind kind = Kind::StopTimeout;
  std::string message;
};
using Action = std::variant<Spawn, Signal, ArmTimer, CancelTimer, ArmRolloutTimer, Retire,
                            Transition, Notice, Probe>;

/// An action for one lane of one slot (app-wide actions name lane 0 of slot 0).
struct SlotAction {
  LaneId slot;
  Action action;
};

/// A command the core will not carry out, and why, in words that go back to the user verbatim.
struct Refused {
  std::string reason;
};

/// What a command of the core gives back: its actions, or why it was refused (then no actions).
struct Outcome {
  std::vector<SlotAction> actions;
  std::optional<Refused> refused;
  static Outcome refuse(std::string reason) { return {{}, Refused{std::move(reason)}}; }
};

}  // namespace clusterd::core
