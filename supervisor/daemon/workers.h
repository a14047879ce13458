// Which worker process runs in which lane, and how a lane's worker is started: its spawn request
// (sockets at fd 3.., the worker environment, credentials, limits, CPU) from the app's spec and
// the generation's prepared runtime.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/limits.h"
#include "supervisor/core/types.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/listeners.h"

namespace clusterd::daemon {

/// The parts of a spawn request that do not depend on the lane.
struct SpawnContext {
  std::vector<std::string> inherited_env;  // the master's environment
  /// systemd's RuntimeDirectory=, StateDirectory=, CacheDirectory=, LogsDirectory= of the master
  /// (RUNTIME_DIRECTORY, ... -> the first directory): a worker with `user:` gets a directory of
  /// its own in each, <dir>/<app>, owned by it (app_dirs()).
  std::vector<std::pair<std::string, std::string>> service_dirs;
  std::optional<core::NofileLimit> inherited_nofile;  // what clusterd was started with
  unsigned long nofile_hard_now = 0;
  std::string instance;  // CLUSTER_INSTANCE: the master's id (os/holders.h)
};

/// Builds the request that starts slot `index` of an app running `spec` with `gen`'s runtime.
/// Throws std::runtime_error when the generation has no socket for the slot.
SpawnRequest spawn_request(const config::AppSpec& spec, const Generation& gen, unsigned index,
                           unsigned workers, const std::vector<int>& cpus,
                           const SpawnContext& context);

/// The service directories of `inherited` (systemd's *_DIRECTORY variables), first path each.
std::vector<std::pair<std::string, std::string>> service_dirs(
    const std::vector<std::string>& inherited);

/// The directories an app with `user:` gets (<dir>/<app> for each service directory), by
/// variable: what the worker's STATE_DIRECTORY and the others say.
std::vector<std::pair<std::string, std::string>> app_dirs(const config::AppSpec& spec,
                                                          const SpawnContext& context);

class Workers {
 public:
  void add(WorkerHandle handle, core::LaneId slot, unsigned uid,
           std::optional<std::uint64_t> cgroup = std::nullopt, std::string cgroup_path = {},
           bool memory_events = false);
  /// Forgets a worker that exited; returns its lane.
  std::optional<core::LaneId> remove(WorkerHandle handle);
  std::optional<core::LaneId> slot_of(WorkerHandle handle) const;
  std::optional<WorkerHandle> handle_of(core::LaneId slot) const;
  /// The uid the worker runs as.
  unsigned uid_of(WorkerHandle handle) const;
  /// The id of the worker's own cgroup, if it has one.
  std::optional<std::uint64_t> cgroup_of(WorkerHandle handle) const;
  /// The path of the worker's own cgroup; empty without one.
  std::string cgroup_path_of(WorkerHandle handle) const;
  /// Whether the host reports the worker's memory.high (StartedWorker::memory_events).
  bool memory_events_of(WorkerHandle handle) const;
  std::size_t size() const { return by_handle_.size(); }
  /// Every worker's handle, in order.
  std::vector<WorkerHandle> handles() const;

 private:
  struct Entry {
    core::LaneId slot;
    unsigned uid = 0;
    std::optional<std::uint64_t> cgroup;
    std::string cgroup_path;
    bool memory_events = false;
  };
  std::map<WorkerHandle, Entry> by_handle_;
  std::map<core::LaneId, WorkerHandle> by_slot_;
};

}  // namespace clusterd::daemon
