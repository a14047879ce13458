#include "supervisor/core/supervisor.h"

#include <numeric>

#include "supervisor/core/overloaded.h"

namespace clusterd::core {

unsigned AppState::restarts_of(unsigned index) const {
  if (index >= restarts.size()) return 0;
  return std::accumulate(restarts[index].begin(), restarts[index].end(), 0U);
}

Supervisor::Supervisor(std::vector<AppState> apps) : apps_(std::move(apps)) {
  for (AppState& app : apps_) {
    app.slots.resize(app.instances);
    app.specs.emplace(app.generation, app.spec);
    app.good_generation = app.generation;
    app.latest_generation = std::max(app.latest_generation, app.generation);
  }
}

bool Supervisor::has_lane(LaneId id) const {
  return id.app < apps_.size() && id.index < apps_[id.app].slots.size() && id.lane < 2;
}

const config::AppSpec& Supervisor::spec(LaneId id) const {
  const AppState& app = apps_[id.app];
  const auto it = app.specs.find(lane(id).generation());
  return it == app.specs.end() ? app.spec : it->second;
}

std::optional<std::size_t> Supervisor::find_app(const std::string& name) const {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    if (!apps_[a].removed && apps_[a].spec.name == name) return a;
  }
  return std::nullopt;
}

std::vector<std::string> Supervisor::app_names() const {
  std::vector<std::string> names;
  for (const AppState& app : apps_) {
    if (!app.removed) names.push_back(app.spec.name);
  }
  return names;
}

bool Supervisor::no_workers() const {
  for (const AppState& app : apps_) {
    for (const Slot& slot : app.slots) {
      if (slot.lanes[0].pid() != 0 || slot.lanes[1].pid() != 0) return false;
    }
  }
  return true;
}

bool Supervisor::serving(LaneId id, TimePoint now) const {
  if (!has_lane(id)) return false;
  const AppState& app = apps_[id.app];
  if (app.removed || app.stopped || id.index >= app.instances) return false;
  const Lane& lane = this->lane(id);
  switch (lane.state()) {
    case LaneState::Starting:
    case LaneState::Running:
      return true;
    case LaneState::Stopping:
      return lane.r_.restart_after_stop && lane.wanted();  // it starts again at once
    case LaneState::Backoff:
      return lane.backoff_until() <= later(now, kServeGrace);
    case LaneState::Idle:
    case LaneState::Failed:
      return false;
  }
  return false;
}

bool Supervisor::listening(LaneId id, TimePoint now) const {
  return has_lane(id) && (lane(id).pid() != 0 || serving(id, now));
}

bool Supervisor::rolling() const {
  for (const AppState& app : apps_) {
    if (app.rollout) return true;
  }
  return false;
}

std::vector<SlotAction> Supervisor::start_all(TimePoint now) {
  std::vector<SlotAction> out;
  if (stopping_) return out;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    for (unsigned i = 0; i < apps_[a].slots.size(); ++i) {
      start_lane({a, i, apps_[a].slots[i].active}, apps_[a].generation, false, now, out);
    }
  }
  return out;
}

std::vector<SlotAction> Supervisor::stop_all(TimePoint now) {
  std::vector<SlotAction> out;
  stopping_ = true;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    if (apps_[a].rollout) {
      apps_[a].rollout.reset();
      apps_[a].last_rollout = RolloutResult{false, "abandoned: clusterd is stopping"};
    }
    for (unsigned i = 0; i < apps_[a].slots.size(); ++i) stop_slot(a, i, now, out);
  }
  return out;
}

std::vector<SlotAction> Supervisor::on(LaneId id, const Event& event, TimePoint now) {
  std::vector<SlotAction> out;
  if (!has_lane(id)) return out;
  std::visit(Overloaded{
                 // Once clusterd is stopping nothing starts again.
                 [&](const StartRequested& e) {
                   if (!stopping_) feed(id, e, now, out);
                 },
                 [&](const RestartRequested& e) {
                   if (!stopping_) feed(id, e, now, out);
                 },
                 // STOPPING=1: its successor may start beside it at once.
                 [&](const WorkerStopping& e) {
                   feed(id, e, now, out);
                   replace_stopping(id, now, out);
                 },
                 // The rest is the lane's alone.
                 [&](const auto& e) { feed(id, e, now, out); },
             },
             event);
  if (apps_[id.app].rollout) advance(id.app, now, out);
  note_good(id.app);
  return out;
}

// A generation `start` started (a reload made it while the app was stopped) becomes the last
// good one once every slot runs it, ready, as a rollout's would: a failed rollout afterwards
// rolls back to it, not to the generation the app ran before it was stopped.
void Supervisor::note_good(std::size_t a) {
  AppState& app = apps_[a];
  if (app.rollout || app.stopped || app.removed || app.good_generation == app.generation) return;
  for (unsigned i = 0; i < app.instances; ++i) {
    const Lane& lane = app.slots[i].current();
    if (lane.state() != LaneState::Running || lane.generation() != app.generation) return;
  }
  app.good_generation = app.generation;
  forget_unused_specs(app);
}

// A worker said STOPPING=1: it drains on its own. When the restart policy would start it again
// anyway (always), its successor starts now in the slot's other lane instead of after the exit,
// so the slot's capacity comes back as early as it can. Not for an app probed on each worker's
// own port (stop_first): the successor's probe could be answered by the draining worker.
void Supervisor::replace_stopping(LaneId id, TimePoint now, std::vector<SlotAction>& out) {
  AppState& app = apps_[id.app];
  Slot& slot = app.slots[id.index];
  const Lane& old = slot.lanes[id.lane];
  const bool eligible = !stopping_ && !app.rollout && !app.removed && id.lane == slot.active &&
                        id.index < app.instances && old.stopping_by_itself() && old.wanted() &&
                        !old.one_shot() && spec(id).restart == config::RestartPolicy::Always &&
                        slot.other().state() == LaneState::Idle && !stop_first(spec(id));
  if (!eligible) return;
  const unsigned fresh = 1 - id.lane;
  count_replaced(id.app, id.index);
  out.push_back(
      SlotAction{id, Notice{Notice::Kind::Replacing,
                            "the worker is stopping on its own; starting its successor"}});
  slot.active = fresh;
  feed(id, StopRequested{}, now, out);  // not wanted any more: its exit ends the lane
  start_lane({id.app, id.index, fresh}, old.generation(), false, now, out);
}

std::vector<SlotAction> Supervisor::on(const RolloutTimerFired& e, TimePoint now) {
  std::vector<SlotAction> out;
  const std::size_t a = e.app;
  if (a >= apps_.size() || !apps_[a].rollout) return out;
  Rollout& r = *apps_[a].rollout;
  if (r.phase != Rollout::Phase::CanaryWait || e.token == 0 || e.token != r.canary_token) {
    return out;
  }
  const unsigned canary = r.in_flight.front();
  r.in_flight.clear();
  enter_phase(a, Rollout::Phase::Rolling);
  promote(a, canary, now, out);
  advance(a, now, out);
  return out;
}

std::optional<Refused> Supervisor::check_running(std::size_t a) const {
  if (auto refused = check_change(a)) return refused;
  if (apps_[a].stopped) {
    const std::string& name = apps_[a].spec.name;
    return Refused{name + " is stopped; `clusterctl start " + name + "` starts it"};
  }
  return std::nullopt;
}

std::optional<Refused> Supervisor::check_change(std::size_t a) const {
  if (stopping_) return Refused{"clusterd is stopping; no changes accepted"};
  if (a >= apps_.size() || apps_[a].removed) return Refused{"no such app"};
  if (apps_[a].rollout) {
    return Refused{apps_[a].spec.name + " is being rolled out; try again when the rollout is over"};
  }
  return std::nullopt;
}

Outcome Supervisor::start_app(std::size_t a, TimePoint now) {
  if (auto refused = check_change(a)) return {{}, refused};
  AppState& app = apps_[a];
  app.stopped = false;
  Outcome outcome;
  for (unsigned i = 0; i < app.instances && i < app.slots.size(); ++i) {
    start_lane({a, i, app.slots[i].active}, app.generation, false, now, outcome.actions);
  }
  return outcome;
}

// Every worker of the app stops, the draining ones included, and none starts again until
// `start`: not by a reload, a scale or the restart policy.
Outcome Supervisor::stop_app(std::size_t a, TimePoint now) {
  if (auto refused = check_change(a)) return {{}, refused};
  apps_[a].stopped = true;
  Outcome outcome;
  for (unsigned i = 0; i < apps_[a].slots.size(); ++i) stop_slot(a, i, now, outcome.actions);
  retire_idle_tail(a, outcome.actions);
  return outcome;
}

Outcome Supervisor::restart_app(std::size_t a, TimePoint now) {
  if (auto refused = check_running(a)) return {{}, refused};
  AppState& app = apps_[a];
  Outcome outcome;
  for (unsigned i = 0; i < app.instances && i < app.slots.size(); ++i) {
    feed({a, i, app.slots[i].active}, RestartRequested{}, now, outcome.actions);
  }
  return outcome;
}

Outcome Supervisor::restart_worker(std::size_t a, unsigned index, TimePoint now) {
  if (auto refused = check_running(a)) return {{}, refused};
  AppState& app = apps_[a];
  if (index >= app.instances || index >= app.slots.size()) {
    return Outcome::refuse(app.spec.name + " has no worker " + std::to_string(index) + " (it has " +
                           std::to_string(app.instances) + ")");
  }
  Outcome outcome;
  feed({a, index, app.slots[index].active}, RestartRequested{}, now, outcome.actions);
  return outcome;
}

std::optional<Refused> Supervisor::check_scale(std::size_t a, unsigned instances) const {
  if (auto refused = check_change(a)) return refused;
  if (instances == 0) {
    return Refused{"scale needs at least 1 instance; use `stop " + apps_[a].spec.name + "`"};
  }
  if (instances > config::kMaxInstances) {
    return Refused{"cannot scale " + apps_[a].spec.name + " to " + std::to_string(instances) +
                   " workers: at most " + std::to_string(config::kMaxInstances)};
  }
  return std::nullopt;
}

RelativeScale Supervisor::relative_scale(std::size_t a, long long delta) const {
  const std::string& name = apps_[a].spec.name;
  const long long now = apps_[a].instances;
  const std::string by = (delta < 0 ? "" : "+") + std::to_string(delta);
  if (auto refused = check_change(a)) return {0, refused};
  if (delta <= -now) {
    return {0, Refused{"cannot scale " + name + " by " + by + ": it has " + std::to_string(now) +
                       (now == 1 ? " worker" : " workers") +
                       " and scale leaves at least 1; use `stop " + name + "` to stop them all"}};
  }
  if (delta > static_cast<long long>(config::kMaxInstances) - now) {
    return {0, Refused{"cannot scale " + name + " by " + by + ": it has " + std::to_string(now) +
                       ", and " + std::to_string(now + delta) + " workers is over the limit of " +
                       std::to_string(config::kMaxInstances)}};
  }
  const auto instances = static_cast<unsigned>(now + delta);
  return {instances, check_scale(a, instances)};
}

Outcome Supervisor::scale(std::size_t a, unsigned instances, std::string reason, TimePoint now) {
  if (auto refused = check_scale(a, instances)) return {{}, refused};
  Outcome outcome;
  AppState& app = apps_[a];
  const unsigned before = app.instances;
  resize(a, instances, std::move(reason), now, outcome.actions);
  for (unsigned i = 0; i < instances && !app.stopped; ++i) {
    const LaneId id{a, i, app.slots[i].active};
    if (i >= before || !lane(id).wanted()) {
      start_lane(id, app.generation, false, now, outcome.actions);
    }
  }
  return outcome;
}

// The slots wanted become `instances`: new ones are added idle, those beyond stop and retire.
void Supervisor::resize(std::size_t a, unsigned instances, std::string reason, TimePoint now,
                        std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  const unsigned before = app.instances;
  app.instances_reason = std::move(reason);
  app.instances = instances;
  // A slot that never ran shows the generation its first worker will run (not 0, which is none).
  for (std::size_t i = app.slots.size(); i < instances; ++i) {
    app.slots.emplace_back().lanes[0].assign(app.generation, false);
  }
  for (unsigned i = instances; i < app.slots.size(); ++i) stop_slot(a, i, now, out);
  if (before != instances) {
    out.push_back(SlotAction{
        {a, 0, 0},
        Notice{Notice::Kind::Scaled, "instances " + std::to_string(before) + " -> " +
                                         std::to_string(instances) + " (" + app.instances_reason +
                                         ")" + (app.stopped ? "; stopped: none starts" : "")}});
  }
  retire_idle_tail(a, out);
}

void Supervisor::count_replaced(std::size_t a, unsigned index) {
  AppState& app = apps_[a];
  Lane& lane = app.slots[index].lanes[app.slots[index].active];
  if (lane.r_.worker && lane.take_count()) count(app, index, Unplanned::Replaced);
}

void Supervisor::count(AppState& app, unsigned index, Unplanned cause) {
  if (app.restarts.size() <= index) app.restarts.resize(index + 1);
  ++app.restarts[index][static_cast<std::size_t>(cause)];
}

std::size_t Supervisor::add_app(AppState app, TimePoint now, std::vector<SlotAction>& out) {
  app.slots.assign(app.instances, Slot{});
  app.specs.emplace(app.generation, app.spec);
  app.good_generation = app.generation;
  app.latest_generation = app.generation;
  apps_.push_back(std::move(app));
  const std::size_t index = apps_.size() - 1;
  if (stopping_) return index;
  for (unsigned i = 0; i < apps_[index].slots.size(); ++i) {
    start_lane({index, i, 0}, apps_[index].generation, false, now, out);
  }
  return index;
}

std::vector<SlotAction> Supervisor::remove_app(std::size_t a, TimePoint now) {
  std::vector<SlotAction> out;
  if (a >= apps_.size()) return out;
  AppState& app = apps_[a];
  app.removed = true;
  app.rollout.reset();
  for (unsigned i = 0; i < app.slots.size(); ++i) stop_slot(a, i, now, out);
  return out;
}

void Supervisor::stop_slot(std::size_t a, unsigned index, TimePoint now,
                           std::vector<SlotAction>& out) {
  for (unsigned lane = 0; lane < 2; ++lane) feed({a, index, lane}, StopRequested{}, now, out);
}

void Supervisor::start_lane(LaneId id, unsigned generation, bool one_shot, TimePoint now,
                            std::vector<SlotAction>& out) {
  Lane& lane = mutable_lane(id);
  // A lane that starts now runs `generation`; one still running or stopping keeps its own.
  if (lane.state() == LaneState::Idle || lane.state() == LaneState::Failed) {
    lane.assign(generation, one_shot);
  }
  feed(id, StartRequested{}, now, out);
}

void Supervisor::feed(LaneId id, const Event& event, TimePoint now, std::vector<SlotAction>& out) {
  const config::AppSpec& lane_spec = spec(id);
  AppState& app = apps_[id.app];
  Lane& lane = mutable_lane(id);
  const bool had_worker = lane.pid() != 0 || lane.state() == LaneState::Starting;
  std::vector<Unplanned> counted;
  for (Action& action : lane.on(event, now, lane_spec, &counted)) {
    out.push_back(SlotAction{id, std::move(action)});
  }
  for (Unplanned cause : counted) count(app, id.index, cause);
  if (had_worker && lane.pid() == 0 && lane.last_exit()) {
    app.slots[id.index].last_exit = lane.last_exit();
  }
  if (id.index >= app.instances) retire_idle_tail(id.app, out);
}

void Supervisor::retire_idle_tail(std::size_t a, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  while (app.slots.size() > app.instances && app.slots.back().lanes[0].state() == LaneState::Idle &&
         app.slots.back().lanes[1].state() == LaneState::Idle) {
    out.push_back(SlotAction{{a, static_cast<unsigned>(app.slots.size() - 1), 0}, Retire{}});
    app.slots.pop_back();
  }
}

}  // namespace clusterd::core
