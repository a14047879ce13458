// Supervisor: every app's slots, the routing of events to them by SlotId or pid, and the graceful
// stop of the whole cluster. Pure: decisions only, carried out by the daemon.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "supervisor/core/types.h"
#include "supervisor/core/worker_slot.h"

namespace clusterd::core {

/// An action for one slot.
struct SlotAction {
  SlotId slot;
  Action action;
};

/// One app of the running cluster.
struct AppState {
  config::AppSpec spec;
  unsigned instances = 1;        // the resolved `instances`: the slots wanted
  unsigned generation = 1;       // bumped whenever the app's config or command changes
  std::string instances_reason;  // how it was derived, e.g. "2: affinity 0-1, no cgroup quota"
  std::vector<WorkerSlot> slots;
};

class Supervisor {
 public:
  /// `apps` are the config's apps with their resolved instance counts; no slot runs yet.
  explicit Supervisor(std::vector<AppState> apps);

  /// Asks every slot to start.
  std::vector<SlotAction> start_all(TimePoint now);
  /// Asks every slot to stop gracefully; afterwards no slot starts again.
  std::vector<SlotAction> stop_all(TimePoint now);
  /// Feeds one event to one slot.
  std::vector<SlotAction> on(SlotId slot, const Event& event, TimePoint now);

  /// Changes an app's worker count to `instances` (>= 1). New slots start; slots beyond the new
  /// count stop gracefully and are retired (a Retire action, highest slot first) once idle.
  std::vector<SlotAction> scale(std::size_t app, unsigned instances, TimePoint now);
  /// Feeds `event` (Start/Stop/RestartRequested) to every current slot of an app.
  std::vector<SlotAction> on_app(std::size_t app, const Event& event, TimePoint now);

  /// The index of the app with this name, if any.
  const std::size_t* find_app(const std::string& name) const;

  /// The slot whose current worker has this pid, if any.
  const SlotId* find_pid(int pid) const;
  /// True when no slot has a worker process (used to finish a graceful stop).
  bool no_workers() const;
  bool stopping() const { return stopping_; }

  const std::vector<AppState>& apps() const { return apps_; }
  const WorkerSlot& slot(SlotId id) const { return apps_[id.app].slots[id.index]; }
  const config::AppSpec& spec(SlotId id) const { return apps_[id.app].spec; }
  WorkerSlot& mutable_slot(SlotId id) { return apps_[id.app].slots[id.index]; }

 private:
  void feed(SlotId id, const Event& event, TimePoint now, std::vector<SlotAction>& out);
  void retire_idle_tail(std::size_t app, std::vector<SlotAction>& out);

  std::vector<AppState> apps_;
  std::unordered_map<int, SlotId> by_pid_;
  std::vector<std::size_t> app_indices_;  // 0..n-1, so find_app can hand out stable pointers
  bool stopping_ = false;
};

}  // namespace clusterd::core
