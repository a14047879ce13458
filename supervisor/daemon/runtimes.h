// What the daemon holds to start each app's workers besides the core's state: the prepared
// runtime of each live generation (command, credentials, sockets), the CPUs the app's slots are
// pinned to, and what every spawn shares. The one place a spawn request is built.
#pragma once

#include <map>
#include <utility>
#include <vector>

#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/listeners.h"
#include "supervisor/daemon/workers.h"

namespace clusterd::daemon {

/// What every spawn shares: the master's environment and service directories, the RLIMIT_NOFILE
/// clusterd was started with, and this master's id (the same after a live upgrade).
SpawnContext spawn_context(Machine& machine, Occupancy& occupancy,
                           std::optional<core::NofileLimit> inherited_nofile);

class Runtimes {
 public:
  explicit Runtimes(SpawnContext context) : context_(std::move(context)) {}

  const SpawnContext& context() const { return context_; }
  /// A new app, parallel to the supervisor's: with cpu_affinity its slot i is pinned to
  /// cpus[i % size].
  void add_app(std::vector<int> cpus) { apps_.push_back({{}, std::move(cpus)}); }
  std::size_t size() const { return apps_.size(); }
  std::map<unsigned, Generation>& generations(std::size_t app) { return apps_[app].generations; }
  const std::map<unsigned, Generation>& generations(std::size_t app) const {
    return apps_[app].generations;
  }

  /// The prepared generation lane `id` runs; throws SpawnFailure (the master's) when there is
  /// none.
  Generation& generation_of(core::LaneId id, const core::Supervisor& supervisor);
  /// The request that starts lane `id`'s worker with `gen` (its generation_of()), the hard
  /// RLIMIT_NOFILE being `nofile_hard_now`. Throws std::runtime_error when the generation has no
  /// socket for the slot.
  SpawnRequest request(core::LaneId id, const core::Supervisor& supervisor, const Generation& gen,
                       unsigned long nofile_hard_now);

  /// Forgets the generations no lane runs and the app no longer names (their sockets close with
  /// them); true when one went.
  bool forget_unused(const core::Supervisor& supervisor);
  /// The target generation of each app that is not removed.
  std::vector<const Generation*> targets(const core::Supervisor& supervisor) const;

 private:
  struct App {
    std::map<unsigned, Generation> generations;  // the prepared runtime of each live generation
    std::vector<int> cpus;
  };
  SpawnContext context_;
  std::vector<App> apps_;  // parallel to the supervisor's apps
};

}  // namespace clusterd::daemon
