#include "supervisor/core/upkeep.h"

namespace clusterd::core {

std::optional<std::string> generation_kept(const AppState& app, unsigned generation) {
  if (!app.removed && app.specs.count(generation) != 0) {
    return generation == app.generation
               ? std::string("the app's target generation")
               : std::string("a lane may start at it (rollout or rollback)");
  }
  for (unsigned i = 0; i < app.slots.size(); ++i) {
    for (const Lane& lane : app.slots[i].lanes) {
      if (lane.generation() == generation && lane.state() != LaneState::Idle) {
        return "slot " + std::to_string(i) + " runs or stops a worker of it";
      }
    }
  }
  return std::nullopt;
}

FollowDecision follow_cpus(const AppState& app, bool stopping, unsigned followed, unsigned cpus,
                           const std::string& cpus_reason) {
  if (app.removed || stopping) return {std::nullopt, followed, "the app is going away"};
  // A count that moved since the last look and is not what the app runs: scale to it. One the
  // operator set by hand since (`scale APP N`) is left alone until the CPUs change again.
  if (cpus != followed && cpus != app.instances) {
    return {cpus, followed,
            cpus_reason + " (auto_follow, was " + std::to_string(app.instances) + ")"};
  }
  return {std::nullopt, cpus,
          cpus == app.instances ? "runs as many workers as CPUs"
                                : "the CPUs did not change since the last look"};
}

std::optional<std::string> memory_sampling_needed(
    const Supervisor& supervisor, const std::function<bool(const LaneId&)>& reported) {
  for (std::size_t a = 0; a < supervisor.apps().size(); ++a) {
    const AppState& app = supervisor.apps()[a];
    if (app.removed || !app.spec.max_memory) continue;
    for (unsigned i = 0; i < app.slots.size(); ++i) {
      for (unsigned l = 0; l < 2; ++l) {
        if (app.slots[i].lanes[l].pid() == 0) continue;
        if (!reported({a, i, l})) {
          return app.spec.name + "[" + std::to_string(i) +
                 "]: max_memory, and the kernel does not report its memory.high";
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace clusterd::core
