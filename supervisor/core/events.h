// What happens to a lane, as the shell reports it (or as the Supervisor decides it). Every
// alternative must be handled by Lane::on: the dispatch is a std::visit over an overload set, so
// a new event does not compile until it is, and it needs a column in lane_table.h.
#pragma once

#include <cstddef>
#include <string>
#include <variant>

#include "supervisor/core/types.h"

namespace clusterd::core {

// the lane should run (start-up, scale up, `start`, a rollout)
struct StartRequested {};
// the lane should stop gracefully (shutdown, `stop`, a rollout, scale down)
struct StopRequested {};
// stop the current worker, then start a new one
struct RestartRequested {};
// the shell started the worker's process
struct Spawned {
  int pid = 0;
};
// READY=1 arrived from the worker
struct Ready {};
// the worker was reaped, or its spawn failed
struct Exited {
  ExitStatus status;
  // A number in [0, 1) the shell draws at random (like the time, an input): it sets how much
  // of backoff.jitter shortens the delay, so workers that fail together do not restart together.
  double chance = 0;
};
// the lane's timer expired; a token that is not the armed one is stale and ignored
struct TimerFired {
  LaneTimer timer = LaneTimer::State;
  unsigned token = 0;
};
// WATCHDOG=1
struct WatchdogPing {};
// EXTEND_TIMEOUT_USEC=: the current deadline (ready or stop) moves to now + by
struct ExtendTimeout {
  Duration by{};
};
// WATCHDOG_USEC=: the worker sets its own watchdog interval (0 turns it off)
struct SetWatchdog {
  Duration interval{};
};
// STATUS=: the worker's own one-line status
struct StatusText {
  std::string text;
};
// STOPPING=1: the worker says it is shutting down on its own
struct WorkerStopping {};
// a try of the ready probe (ready: http, tcp) ended: it made the worker ready, or why not
// ("GET /healthz: 503", "connect: Connection refused"; core::judge_probe)
struct ProbeResult {
  bool ok = false;
  std::string failure;
};

// An app's rollout timer expired (ArmRolloutTimer); one that is not the armed token is stale.
// Not a lane's event: the Supervisor takes it whole (Supervisor::on).
struct RolloutTimerFired {
  std::size_t app = 0;
  unsigned token = 0;
};

using Event = std::variant<StartRequested, StopRequested, RestartRequested, Spawned, Ready, Exited,
                           TimerFired, WatchdogPing, ExtendTimeout, SetWatchdog, StatusText,
                           WorkerStopping, ProbeResult>;
inline constexpr std::size_t kLaneEvents = std::variant_size_v<Event>;

}  // namespace clusterd::core
