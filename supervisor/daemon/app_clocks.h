// The daemon's own per-app timers, each a component that owns its state: max_memory sampling,
// auto_follow, restart_schedule, watch. Together, as the Daemon holds them.
#pragma once

#include "supervisor/daemon/auto_follow.h"
#include "supervisor/daemon/memory_watch.h"
#include "supervisor/daemon/schedules.h"
#include "supervisor/daemon/watches.h"

namespace clusterd::daemon {

struct AppClocks {
  AppClocks(Timers& timers, Clock& clock, Sampling& sampling, Machine& machine, FileWatches& files)
      : memory(timers, clock, sampling),
        follow(timers, clock, machine),
        schedules(timers, clock),
        watches(files, timers, clock) {}
  MemoryWatch memory;   // when max_memory is sampled
  AutoFollow follow;    // each app's auto_follow
  Schedules schedules;  // each app's restart_schedule
  Watches watches;      // each app's watch
};

}  // namespace clusterd::daemon
