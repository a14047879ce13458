// Supervisor: every app's slots (each with two lanes), the routing of events to them by LaneId,
// the commands (start, stop, restart, scale, roll, replace), the graceful stop of the whole
// cluster, and rollouts. Pure: it decides, the daemon carries out. Commands are refused with a
// reason rather than silently ignored.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "supervisor/core/actions.h"
#include "supervisor/core/boxed.h"
#include "supervisor/core/events.h"
#include "supervisor/core/lane.h"
#include "supervisor/core/rollout.h"
#include "supervisor/core/types.h"

namespace clusterd::core {

/// A slot: two lanes, the active one serving, the other idle, or starting or draining while the
/// slot's worker is replaced.
struct Slot {
  Lane lanes[2];
  unsigned active = 0;
  Boxed<ExitStatus> last_exit;  // how the slot's last worker (of either lane) ended
  const Lane& current() const { return lanes[active]; }
  const Lane& other() const { return lanes[1 - active]; }
};

/// Unplanned ends of one slot's workers, by cause (an Unplanned as the index).
using RestartCounts = std::array<unsigned, kUnplannedCauses>;

/// How long a slot whose worker is about to start counts as serving: a restart after a backoff
/// up to this long keeps its socket listening (connections wait for the replacement); a longer
/// one, like a failed, stopped or idle slot, stops it listening, so no connection waits there.
inline constexpr Duration kServeGrace{1000};

/// One app of the running cluster.
struct AppState {
  config::AppSpec spec;            // the target generation's spec: what new workers run
  unsigned instances = 1;          // the slots wanted
  std::string instances_reason;    // how that was derived, e.g. "2: affinity 0-1, no cgroup quota"
  unsigned generation = 1;         // the target generation
  unsigned good_generation = 1;    // the last generation every slot ran successfully
  unsigned latest_generation = 1;  // the highest ever created: numbers are never reused
  std::map<unsigned, config::AppSpec> specs;  // every generation a lane may still run
  std::vector<Slot> slots;
  std::optional<Rollout> rollout;
  std::optional<RolloutResult> last_rollout;
  bool removed = false;  // dropped from the config: stopping, then forgotten
  /// Stopped on purpose (`stop`) until `start`: reloads and scales change it without starting it.
  bool stopped = false;
  /// Per slot index: its workers' unplanned ends across generations. Never decreases; kept for
  /// slots scaled away, so a slot scaled back counts on.
  std::vector<RestartCounts> restarts;
  /// The sum of restarts[index] (0 for an index never used).
  unsigned restarts_of(unsigned index) const;
};

/// The count a relative scale gives, or why there is none.
struct RelativeScale {
  unsigned instances = 0;
  std::optional<Refused> refused;
};

class Supervisor {
 public:
  /// `apps` are the config's apps with their resolved instance counts; no slot runs yet.
  explicit Supervisor(std::vector<AppState> apps);
  /// The state a master handed over in a live upgrade: `apps` as apps() returned them (lanes
  /// through Lane::restore), with stopping() and the token counter.
  Supervisor(std::vector<AppState> apps, bool stopping, unsigned next_token)
      : apps_(std::move(apps)), stopping_(stopping), next_token_(next_token) {}

  /// Asks every slot to start.
  std::vector<SlotAction> start_all(TimePoint now);
  /// Asks every lane to stop gracefully and abandons rollouts; nothing starts again afterwards.
  std::vector<SlotAction> stop_all(TimePoint now);
  /// Feeds one event about a worker to its lane (an unknown LaneId is ignored).
  std::vector<SlotAction> on(LaneId slot, const Event& event, TimePoint now);
  /// An app's rollout timer fired (ArmRolloutTimer); a stale token is ignored.
  std::vector<SlotAction> on(const RolloutTimerFired& event, TimePoint now);

  // ---- commands ----
  Outcome start_app(std::size_t app, TimePoint now);
  Outcome stop_app(std::size_t app, TimePoint now);
  Outcome restart_app(std::size_t app, TimePoint now);
  Outcome restart_worker(std::size_t app, unsigned index, TimePoint now);
  /// Why the app cannot be scaled to `instances` now, if it cannot: none left (that is `stop`),
  /// more than config::kMaxInstances, a rollout in progress, the cluster stopping.
  std::optional<Refused> check_scale(std::size_t app, unsigned instances) const;
  /// What a relative scale (`scale APP +N` or `-N`) asks for: the app's instances now plus
  /// `delta`, or why that is refused: it leaves no worker, or asks for more than
  /// config::kMaxInstances (and whatever check_scale() refuses).
  RelativeScale relative_scale(std::size_t app, long long delta) const;
  /// Changes the worker count. New slots start; slots beyond the count stop gracefully and are
  /// retired (a Retire action, highest slot first) once both their lanes are idle.
  Outcome scale(std::size_t app, unsigned instances, std::string reason, TimePoint now);
  /// Why the app cannot be rolled to a new generation now, if it cannot.
  std::optional<Refused> check_roll(std::size_t app) const;
  /// Starts a rollout of every slot to `spec` as generation next_generation(app), with
  /// `instances` slots: slots beyond it stop and retire; new ones start with the new generation,
  /// after the canary like the others.
  Outcome roll(std::size_t app, config::AppSpec spec, unsigned instances,
               std::string instances_reason, TimePoint now);
  /// Replaces one worker with a fresh one of its generation, the new one ready first.
  Outcome replace(std::size_t app, unsigned index, std::string purpose, TimePoint now);
  /// Adds an app (from a reload) and starts it; returns its index.
  std::size_t add_app(AppState app, TimePoint now, std::vector<SlotAction>& out);
  /// Stops every lane of an app removed from the config; it is forgotten once idle.
  std::vector<SlotAction> remove_app(std::size_t app, TimePoint now);

  // ---- queries ----
  /// True while any app has a rollout in progress (including replaced workers still draining).
  bool rolling() const;
  /// The generation number the next roll() of `app` will create.
  unsigned next_generation(std::size_t app) const { return apps_[app].latest_generation + 1; }
  /// The index of the (not removed) app with this name.
  std::optional<std::size_t> find_app(const std::string& name) const;
  /// The names of the apps not removed, in order.
  std::vector<std::string> app_names() const;
  /// True when no lane has a worker process (a graceful stop is then over).
  bool no_workers() const;
  bool stopping() const { return stopping_; }
  unsigned next_token() const { return next_token_; }
  const std::vector<AppState>& apps() const { return apps_; }
  const Lane& lane(LaneId id) const { return apps_[id.app].slots[id.index].lanes[id.lane]; }
  bool has_lane(LaneId id) const;
  /// The spec of the generation the lane runs.
  const config::AppSpec& spec(LaneId id) const;
  /// Whether the lane has a worker that serves connections, or will start one within
  /// kServeGrace: the sockets its generation gives it should listen. False in a stopped or
  /// removed app and in a slot being scaled away.
  bool serving(LaneId id, TimePoint now) const;
  /// Whether the sockets the lane's generation gives it should listen: it is serving, or its
  /// worker still runs (a draining worker may still call accept(); a socket stopped under it
  /// fails that accept with EINVAL, which some servers take as fatal, Node and Go among them).
  bool listening(LaneId id, TimePoint now) const;

 private:
  std::optional<Refused> check_change(std::size_t app) const;
  /// check_change, and refused for a stopped app (restart has nothing to restart).
  std::optional<Refused> check_running(std::size_t app) const;
  static void count(AppState& app, unsigned index, Unplanned cause);
  Lane& mutable_lane(LaneId id) { return apps_[id.app].slots[id.index].lanes[id.lane]; }
  void feed(LaneId id, const Event& event, TimePoint now, std::vector<SlotAction>& out);
  void start_lane(LaneId id, unsigned generation, bool one_shot, TimePoint now,
                  std::vector<SlotAction>& out);
  void stop_slot(std::size_t app, unsigned index, TimePoint now, std::vector<SlotAction>& out);
  void replace_stopping(LaneId id, TimePoint now, std::vector<SlotAction>& out);
  void retire_idle_tail(std::size_t app, std::vector<SlotAction>& out);
  void resize(std::size_t app, unsigned instances, std::string reason, TimePoint now,
              std::vector<SlotAction>& out);
  /// Counts the replacement of the active worker of slot `index` (max_memory, STOPPING=1).
  void count_replaced(std::size_t app, unsigned index);
  /// Makes the app's generation the last good one once every slot runs it, ready.
  void note_good(std::size_t app);
  // rollout.cc
  void begin_rollout(std::size_t app, Rollout rollout, TimePoint now, std::vector<SlotAction>& out);
  void enter_phase(std::size_t app, Rollout::Phase phase);
  void advance(std::size_t app, TimePoint now, std::vector<SlotAction>& out);
  void start_more(std::size_t app, TimePoint now, std::vector<SlotAction>& out);
  void start_vacated(std::size_t app, TimePoint now, std::vector<SlotAction>& out);
  void promote(std::size_t app, unsigned index, TimePoint now, std::vector<SlotAction>& out);
  void roll_back(std::size_t app, unsigned index, const std::string& why, TimePoint now,
                 std::vector<SlotAction>& out);
  void finish(std::size_t app, std::vector<SlotAction>& out);
  void forget_unused_specs(AppState& app);

  std::vector<AppState> apps_;
  bool stopping_ = false;
  unsigned next_token_ = 1;
};

}  // namespace clusterd::core
