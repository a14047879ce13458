// max_memory, where the kernel does not watch it: the sampling timer and what it samples. A
// worker whose cgroup reports going over memory.high (HostEvents::on_memory_high) is never
// sampled; the timer runs only while some serving worker of an app with max_memory is not.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "supervisor/core/memory_policy.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/workers.h"

namespace clusterd::daemon {

class MemoryWatch {
 public:
  MemoryWatch(Timers& timers, Clock& clock, Sampling& sampling)
      : timers_(timers), clock_(clock), sampling_(sampling) {}

  /// Arms the sampling timer when some worker must be sampled and it is not armed; cancels it
  /// when none must.
  void arm(const core::Supervisor& supervisor, const Workers& workers);
  /// A verdict of the policy, with the pid of the worker it is about.
  struct Replace {
    core::MemoryVerdict verdict;
    int pid = 0;
  };
  /// The sampling timer fired: samples the watched workers the kernel does not report and
  /// returns the ones to replace. arm() again afterwards.
  std::vector<Replace> fired(const core::Supervisor& supervisor, const Workers& workers);

 private:
  /// Whether a serving worker of an app with max_memory must be sampled (its host does not
  /// report its cgroup's memory.high).
  static bool sampling_needed(const core::Supervisor& supervisor, const Workers& workers);
  static constexpr TimerKey kKey{TimerKey::Kind::Memory, 0, 0, 0, core::LaneTimer::State};

  Timers& timers_;
  Clock& clock_;
  Sampling& sampling_;
  core::MemoryPolicy policy_;
  std::optional<core::TimePoint> next_;  // the armed sampling timer's deadline
};

}  // namespace clusterd::daemon
