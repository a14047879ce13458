#include "supervisor/core/memory_policy.h"

#include <set>

namespace clusterd::core {

std::optional<Duration> MemoryPolicy::interval(const Supervisor& supervisor) {
  if (supervisor.stopping()) return std::nullopt;
  std::optional<Duration> shortest;
  for (const AppState& app : supervisor.apps()) {
    if (app.removed || !app.spec.max_memory) continue;
    if (!shortest || app.spec.memory_check_interval < *shortest) {
      shortest = app.spec.memory_check_interval;
    }
  }
  return shortest;
}

namespace {

// An app whose serving workers max_memory watches: it sets max_memory and is not rolling.
bool app_watched(const AppState& app) {
  return !app.removed && app.spec.max_memory && !app.rollout;
}

// The serving lane of slot `i` of a watched app, when it has a ready worker.
bool serving_ready(const AppState& app, unsigned i) {
  const Lane& lane = app.slots[i].current();
  return i < app.instances && lane.state() == LaneState::Running && lane.pid() != 0;
}

}  // namespace

std::vector<LaneId> MemoryPolicy::watched(const Supervisor& supervisor) {
  std::vector<LaneId> out;
  for (std::size_t a = 0; a < supervisor.apps().size(); ++a) {
    const AppState& app = supervisor.apps()[a];
    if (!app_watched(app)) continue;
    for (unsigned i = 0; i < app.instances && i < app.slots.size(); ++i) {
      if (serving_ready(app, i)) out.push_back({a, i, app.slots[i].active});
    }
  }
  return out;
}

std::optional<MemoryVerdict> MemoryPolicy::over_high(const Supervisor& supervisor,
                                                     const MemoryReading& reading) {
  if (!supervisor.has_lane(reading.slot)) return std::nullopt;
  const AppState& app = supervisor.apps()[reading.slot.app];
  const bool serving = app_watched(app) &&
                       app.slots[reading.slot.index].active == reading.slot.lane &&
                       serving_ready(app, reading.slot.index);
  if (!serving || supervisor.lane(reading.slot).pid() != reading.pid) return std::nullopt;
  const std::uint64_t limit_kb = *supervisor.apps()[reading.slot.app].spec.max_memory / 1024;
  return MemoryVerdict{reading.slot.app, reading.slot.index,
                       "memory over max_memory " + std::to_string(limit_kb) +
                           " KiB (its cgroup's memory.high; memory.current " +
                           std::to_string(reading.rss_kb) + " KiB)",
                       reading.slot.lane};
}

std::vector<MemoryVerdict> MemoryPolicy::check(const Supervisor& supervisor,
                                               const std::vector<MemoryReading>& readings) {
  std::map<int, unsigned> still_over;
  std::vector<MemoryVerdict> verdicts;
  std::set<std::size_t> apps_replacing;
  for (const MemoryReading& reading : readings) {
    if (!supervisor.has_lane(reading.slot)) continue;
    const AppState& app = supervisor.apps()[reading.slot.app];
    if (!app.spec.max_memory || app.rollout) continue;
    if (supervisor.lane(reading.slot).pid() != reading.pid) continue;  // replaced meanwhile
    const std::uint64_t limit_kb = *app.spec.max_memory / 1024;
    if (reading.rss_kb <= limit_kb) continue;
    const auto it = over_.find(reading.pid);
    const unsigned samples = (it == over_.end() ? 0 : it->second) + 1;
    if (samples < 2 || apps_replacing.count(reading.slot.app) != 0) {
      still_over[reading.pid] = samples;
      continue;
    }
    apps_replacing.insert(reading.slot.app);
    verdicts.push_back({reading.slot.app, reading.slot.index,
                        "RSS " + std::to_string(reading.rss_kb) + " KiB above max_memory " +
                            std::to_string(limit_kb) + " KiB",
                        reading.slot.lane});
  }
  over_ = std::move(still_over);
  return verdicts;
}

}  // namespace clusterd::core
