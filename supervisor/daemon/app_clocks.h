// The daemon's own per-app timers, each a component that owns its state: max_memory sampling,
// auto_follow, restart_schedule. Together, as the Daemon holds them.
#pragma once

#include "supervisor/daemon/auto_follow.h"
#include "supervisor/daemon/memory_watch.h"
#include "supervisor/daemon/schedules.h"

namespace clusterd::daemon {

struct AppClocks {
  AppClocks(Timers& timers, Clock& clock, Sampling& sampling, Machine& machine)
      : memory(timers, clock, sampling), follow(timers, clock, machine), schedules(timers, clock) {}
  MemoryWatch memory;   // when max_memory is sampled
  AutoFollow follow;    // each app's auto_follow
  Schedules schedules;  // each app's restart_schedule
};

}  // namespace clusterd::daemon
