// What the shell keeps and when it looks: small decisions the daemon used to make inline, each a
// pure function returning the decision with its reason (the model: systemd's
// service_shall_restart(s, &reason)). The daemon carries them out (daemon/runtimes.cc,
// auto_follow.cc, memory_watch.cc).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "supervisor/core/supervisor.h"

namespace clusterd::core {

/// Why the prepared runtime of generation `generation` of `app` (its resolved command and its
/// sockets) must stay: the app may still start a lane at it (a rollout's target, a rollback's
/// good generation: `specs` keeps them), or a lane still runs or stops a worker of it. nullopt:
/// nothing will use it again, so its sockets may close.
std::optional<std::string> generation_kept(const AppState& app, unsigned generation);

/// auto_follow at its interval: the CPUs the master may use now against what the app follows.
struct FollowDecision {
  std::optional<unsigned> scale_to;  // scale the app to this many workers; nullopt: stay
  unsigned followed = 0;             // the CPU count followed from now on
  std::string reason;                // why (for a scale: the instances' new derivation)
};
FollowDecision follow_cpus(const AppState& app, bool stopping, unsigned followed, unsigned cpus,
                           const std::string& cpus_reason);

/// Whether memory must be sampled for max_memory: a live worker of an app with max_memory whose
/// cgroup's memory.high the kernel does not report (`reported(id)` false). Why, when it must.
std::optional<std::string> memory_sampling_needed(
    const Supervisor& supervisor, const std::function<bool(const LaneId&)>& reported);

}  // namespace clusterd::core
