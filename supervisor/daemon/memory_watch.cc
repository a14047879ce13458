#include "supervisor/daemon/memory_watch.h"

#include "supervisor/core/upkeep.h"

namespace clusterd::daemon {

bool MemoryWatch::sampling_needed(const core::Supervisor& supervisor, const Workers& workers) {
  return core::memory_sampling_needed(supervisor,
                                      [&](const core::LaneId& id) {
                                        const std::optional<WorkerHandle> handle =
                                            workers.handle_of(id);
                                        return handle && workers.memory_events_of(*handle);
                                      })
      .has_value();
}

void MemoryWatch::arm(const core::Supervisor& supervisor, const Workers& workers) {
  std::optional<core::Duration> interval = core::MemoryPolicy::interval(supervisor);
  if (interval && !sampling_needed(supervisor, workers)) interval.reset();  // the kernel tells
  if (!interval) {
    if (std::exchange(next_, std::nullopt)) timers_.cancel(kKey);
    return;
  }
  if (next_) return;
  const core::TimePoint deadline = core::later(clock_.now(), *interval);
  timers_.arm(kKey, deadline);  // first: one the host refused is tried again next time
  next_ = deadline;
}

std::vector<MemoryWatch::Replace> MemoryWatch::fired(const core::Supervisor& supervisor,
                                                     const Workers& workers) {
  next_.reset();
  const std::vector<core::LaneId> watched = core::MemoryPolicy::watched(supervisor);
  std::vector<int> pids;
  std::vector<std::string> cgroups;
  std::vector<core::LaneId> sampled;  // those whose memory.high the host does not report
  for (const core::LaneId& id : watched) {
    const std::optional<WorkerHandle> handle = workers.handle_of(id);
    if (handle && workers.memory_events_of(*handle)) continue;
    sampled.push_back(id);
    pids.push_back(supervisor.lane(id).pid());
    cgroups.push_back(handle ? workers.cgroup_path_of(*handle) : std::string());
  }
  if (sampled.empty()) return {};
  const ProcessSample sample = sampling_.sample(pids, cgroups, true, false);
  std::vector<core::MemoryReading> readings;
  for (std::size_t k = 0; k < sampled.size() && k < sample.workers.size(); ++k) {
    if (!sample.workers[k].second.alive) continue;
    readings.push_back({sampled[k], sample.workers[k].first, sample.workers[k].second.tree_rss_kb});
  }
  std::vector<Replace> out;
  for (const core::MemoryVerdict& verdict : policy_.check(supervisor, readings)) {
    int pid = 0;
    for (const core::MemoryReading& reading : readings) {
      if (reading.slot == core::LaneId{verdict.app, verdict.index, verdict.lane}) pid = reading.pid;
    }
    out.push_back({verdict, pid});
  }
  return out;
}

}  // namespace clusterd::daemon
