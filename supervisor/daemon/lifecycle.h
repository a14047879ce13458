// What happens to workers and apps, as events (event_log.h) and log lines: the core's transitions
// and notices, spawns and exits, each one record with the same fields. Owns the event log and
// the reason each lane's worker is starting for (the "spawned" event carries it, once the pid is
// known).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/event_log.h"
#include "supervisor/daemon/metrics.h"

namespace clusterd::daemon {

class LifecycleLog {
 public:
  /// A lane as the upgrade state writes it: (app, slot, lane).
  using LaneKey = std::tuple<std::size_t, unsigned, unsigned>;
  /// `supervisor` is read for names, generations and pids; `counters` count rollouts.
  LifecycleLog(Clock& clock, const core::Supervisor& supervisor, MetricCounters& counters)
      : events_(clock), supervisor_(supervisor), counters_(counters) {}

  EventLog& events() { return events_; }
  /// "web[2] gen 3": the lane, for log lines.
  std::string label(core::LaneId id, std::optional<unsigned> generation = {}) const;
  /// An event about lane `id` (its app's when the slot is gone).
  control::EventRecord event_for(core::LaneId id, std::string kind, std::string reason) const;

  void transition(core::LaneId id, const core::Transition& t);
  void notice(core::LaneId id, const core::Notice& n);
  void spawned(core::LaneId id, int pid, int cpu);
  void exited(core::LaneId id, const core::ExitStatus& status);
  void spawn_failed(core::LaneId id, const std::string& what, core::ExitStatus::Blame blame);

  /// For a live upgrade: the reasons of the lanes starting now.
  std::vector<std::pair<LaneKey, std::string>> start_reasons() const {
    std::vector<std::pair<LaneKey, std::string>> out;
    for (const auto& [id, reason] : start_reasons_)
      out.push_back({{id.app, id.index, id.lane}, reason});
    return out;
  }
  void take_start_reasons(const std::vector<std::pair<LaneKey, std::string>>& reasons) {
    for (const auto& [key, reason] : reasons) {
      start_reasons_.emplace(core::LaneId{std::get<0>(key), std::get<1>(key), std::get<2>(key)},
                             reason);
    }
  }

 private:
  EventLog events_;
  const core::Supervisor& supervisor_;
  MetricCounters& counters_;
  std::map<core::LaneId, std::string> start_reasons_;
};

}  // namespace clusterd::daemon
