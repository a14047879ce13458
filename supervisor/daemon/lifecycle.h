// What happens to workers and apps, as events (events.h) and log lines: the core's transitions
// and notices, spawns and exits, each one record with the same fields. Owns the event log and
// the reason each lane's worker is starting for (the "spawned" event carries it, once the pid is
// known).
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/events.h"
#include "supervisor/daemon/metrics.h"

namespace clusterd::daemon {

class LifecycleLog {
 public:
  using LaneKey = std::tuple<std::size_t, unsigned, unsigned>;
  /// `supervisor` is read for names, generations and pids; `counters` count rollouts.
  LifecycleLog(Clock& clock, const core::Supervisor& supervisor, MetricCounters& counters)
      : events_(clock), supervisor_(supervisor), counters_(counters) {}

  EventLog& events() { return events_; }
  /// "web[2] gen 3": the lane, for log lines.
  std::string label(core::SlotId id) const;
  /// An event about lane `id` (its app's when the slot is gone).
  control::EventRecord event_for(core::SlotId id, std::string kind, std::string reason) const;

  void transition(core::SlotId id, const core::Transition& t);
  void notice(core::SlotId id, const core::Notice& n);
  void spawned(core::SlotId id, int pid, int cpu);
  void exited(core::SlotId id, const core::ExitStatus& status);
  void spawn_failed(core::SlotId id, const std::string& what, core::ExitStatus::Blame blame);

  /// For a live upgrade: the reasons of the lanes starting now.
  std::vector<std::pair<LaneKey, std::string>> start_reasons() const {
    return {start_reasons_.begin(), start_reasons_.end()};
  }
  void take_start_reasons(const std::vector<std::pair<LaneKey, std::string>>& reasons) {
    start_reasons_.insert(reasons.begin(), reasons.end());
  }

 private:
  EventLog events_;
  const core::Supervisor& supervisor_;
  MetricCounters& counters_;
  std::map<LaneKey, std::string> start_reasons_;
};

}  // namespace clusterd::daemon
