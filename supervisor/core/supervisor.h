// Supervisor: every app's slots (each with two lanes), the routing of events to them by SlotId or
// pid, scaling, the graceful stop of the whole cluster, and rollouts: replacing an app's workers
// slot by slot with a new generation, a canary first, and rolling back when a new worker fails.
// Pure: decisions only, carried out by the daemon.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "supervisor/core/types.h"
#include "supervisor/core/worker_slot.h"

namespace clusterd::core {

/// An action for one lane of one slot.
struct SlotAction {
  SlotId slot;
  Action action;
};

/// A slot: two lanes, one active (serving), the other idle or starting/draining in a rollout.
struct Slot {
  WorkerSlot lanes[2];
  unsigned active = 0;
  const WorkerSlot& current() const { return lanes[active]; }
  const WorkerSlot& other() const { return lanes[1 - active]; }
};

/// A rolling replace of an app's workers with generation `to`.
struct Rollout {
  unsigned from = 0;
  unsigned to = 0;
  bool rollback = false;         // this rollout undoes a failed one
  std::deque<unsigned> pending;  // slots still to replace, in order
  std::vector<unsigned> in_flight;
  std::vector<unsigned> moved;  // slots whose active lane now runs `to`
  bool canary = true;           // the first slot goes alone (and waits canary_time)
  bool canary_timer = false;    // the canary is ready; waiting out canary_time
  bool canary_passed = false;
  unsigned canary_token = 0;
  std::string failure;    // why the forward rollout failed (kept through the rollback)
  std::string purpose;    // empty for a reload; else why one worker is replaced
  std::size_t total = 0;  // slots to replace
};

/// How the last rollout of an app ended.
struct RolloutResult {
  bool ok = false;
  std::string message;
};

/// One app of the running cluster.
struct AppState {
  config::AppSpec spec;            // the target generation's spec: what new workers run
  unsigned instances = 1;          // the resolved `instances`: the slots wanted
  std::string instances_reason;    // how it was derived, e.g. "2: affinity 0-1, no cgroup quota"
  unsigned generation = 1;         // the target generation
  unsigned good_generation = 1;    // the last generation every slot ran successfully
  unsigned latest_generation = 1;  // the highest ever created: numbers are never reused
  std::map<unsigned, config::AppSpec> specs;  // every generation a lane may still run
  std::vector<Slot> slots;
  std::optional<Rollout> rollout;
  std::optional<RolloutResult> last_rollout;
  bool removed = false;  // dropped from the config: stopping, then forgotten
};

class Supervisor {
 public:
  /// `apps` are the config's apps with their resolved instance counts; no slot runs yet.
  explicit Supervisor(std::vector<AppState> apps);

  /// Asks every slot to start.
  std::vector<SlotAction> start_all(TimePoint now);
  /// Asks every lane to stop gracefully and abandons rollouts; afterwards nothing starts again.
  std::vector<SlotAction> stop_all(TimePoint now);
  /// Feeds one event to one lane.
  std::vector<SlotAction> on(SlotId slot, const Event& event, TimePoint now);

  /// Changes an app's worker count to `instances` (>= 1). New slots start; slots beyond the new
  /// count stop gracefully and are retired (a Retire action, highest slot first) once idle.
  std::vector<SlotAction> scale(std::size_t app, unsigned instances, TimePoint now);
  /// Feeds `event` (Start/Stop/RestartRequested) to the active lane of every slot of an app.
  std::vector<SlotAction> on_app(std::size_t app, const Event& event, TimePoint now);

  /// Adds an app (from a reload) and starts it; returns its index.
  std::size_t add_app(AppState app, TimePoint now, std::vector<SlotAction>& out);
  /// Stops every lane of an app removed from the config; it disappears once idle.
  std::vector<SlotAction> remove_app(std::size_t app, TimePoint now);
  /// Starts a rolling replace of every slot of `app` with `spec` as a new generation (the same
  /// spec again for a plain `reload APP`). Returns the new generation in `generation`.
  std::vector<SlotAction> roll(std::size_t app, config::AppSpec spec, TimePoint now,
                               unsigned* generation = nullptr);
  /// Replaces one worker gracefully with a fresh one of the same generation (new one ready first),
  /// e.g. over max_memory. Nothing happens while the app has a rollout or is stopping.
  std::vector<SlotAction> replace(std::size_t app, unsigned index, std::string purpose,
                                  TimePoint now);
  /// True while any app has a rollout in progress (including old workers still draining).
  bool rolling() const;
  /// The generation number the next roll() of `app` will create.
  unsigned next_generation(std::size_t app) const { return apps_[app].latest_generation + 1; }

  /// The index of the (not removed) app with this name, if any.
  const std::size_t* find_app(const std::string& name) const;
  /// The lane whose worker has this pid, if any.
  const SlotId* find_pid(int pid) const;
  /// True when no lane has a worker process (used to finish a graceful stop).
  bool no_workers() const;
  bool stopping() const { return stopping_; }

  const std::vector<AppState>& apps() const { return apps_; }
  const WorkerSlot& slot(SlotId id) const { return apps_[id.app].slots[id.index].lanes[id.lane]; }
  /// The spec of the generation the lane runs.
  const config::AppSpec& spec(SlotId id) const;
  WorkerSlot& mutable_slot(SlotId id) { return apps_[id.app].slots[id.index].lanes[id.lane]; }

 private:
  void feed(SlotId id, const Event& event, TimePoint now, std::vector<SlotAction>& out);
  void start_lane(SlotId id, unsigned generation, bool one_shot, TimePoint now,
                  std::vector<SlotAction>& out);
  void retire_idle_tail(std::size_t app, std::vector<SlotAction>& out);
  // rollout.cc
  void advance(std::size_t app, TimePoint now, std::vector<SlotAction>& out);
  void promote(std::size_t app, unsigned index, TimePoint now, std::vector<SlotAction>& out);
  void fail(std::size_t app, unsigned index, const std::string& why, TimePoint now,
            std::vector<SlotAction>& out);
  void finish(std::size_t app, std::vector<SlotAction>& out);
  void forget_unused_specs(AppState& app);

  std::vector<AppState> apps_;
  std::unordered_map<int, SlotId> by_pid_;
  std::deque<std::size_t> app_indices_;  // 0..n-1, so find_app can hand out stable pointers
  bool stopping_ = false;
  unsigned next_token_ = 1;
};

}  // namespace clusterd::core
