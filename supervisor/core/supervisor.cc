#include "supervisor/core/supervisor.h"

namespace clusterd::core {

Supervisor::Supervisor(std::vector<AppState> apps) : apps_(std::move(apps)) {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    AppState& app = apps_[a];
    app.slots.resize(app.instances);
    app.specs.emplace(app.generation, app.spec);
    app.good_generation = app.generation;
    app.latest_generation = app.generation;
    app_indices_.push_back(a);
  }
}

const config::AppSpec& Supervisor::spec(SlotId id) const {
  const AppState& app = apps_[id.app];
  const auto it = app.specs.find(slot(id).generation());
  return it == app.specs.end() ? app.spec : it->second;
}

const std::size_t* Supervisor::find_app(const std::string& name) const {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    if (!apps_[a].removed && apps_[a].spec.name == name) return &app_indices_[a];
  }
  return nullptr;
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
    for (unsigned i = 0; i < apps_[a].slots.size(); ++i) {
      for (unsigned lane = 0; lane < 2; ++lane) feed({a, i, lane}, StopRequested{}, now, out);
    }
  }
  return out;
}

std::vector<SlotAction> Supervisor::on(SlotId slot, const Event& event, TimePoint now) {
  std::vector<SlotAction> out;
  if (slot.app >= apps_.size() || slot.index >= apps_[slot.app].slots.size() || slot.lane > 1) {
    return out;
  }
  if (stopping_ && (std::holds_alternative<StartRequested>(event) ||
                    std::holds_alternative<RestartRequested>(event))) {
    return out;
  }
  AppState& app = apps_[slot.app];
  if (const auto* timer = std::get_if<TimerFired>(&event);
      timer && timer->kind == TimerKind::Rollout) {
    if (app.rollout && app.rollout->canary_timer && timer->token == app.rollout->canary_token) {
      app.rollout->canary_timer = false;
      app.rollout->canary_passed = true;
      advance(slot.app, now, out);
    }
    return out;
  }
  feed(slot, event, now, out);
  if (app.rollout) advance(slot.app, now, out);
  return out;
}

void Supervisor::start_lane(SlotId id, unsigned generation, bool one_shot, TimePoint now,
                            std::vector<SlotAction>& out) {
  WorkerSlot& lane = mutable_slot(id);
  lane.set_generation(generation);
  lane.set_one_shot(one_shot);
  feed(id, StartRequested{}, now, out);
}

std::vector<SlotAction> Supervisor::scale(std::size_t app, unsigned instances, TimePoint now) {
  std::vector<SlotAction> out;
  if (app >= apps_.size() || instances == 0 || stopping_ || apps_[app].rollout) return out;
  AppState& state = apps_[app];
  const unsigned before = static_cast<unsigned>(state.slots.size());
  state.instances_reason =
      std::to_string(instances) + ": set by scale (was " + std::to_string(state.instances) + ")";
  state.instances = instances;
  if (instances > before) state.slots.resize(instances);
  for (unsigned i = 0; i < state.slots.size(); ++i) {
    const SlotId id{app, i, state.slots[i].active};
    if (i < instances) {
      if (i >= before || !slot(id).wanted()) start_lane(id, state.generation, false, now, out);
    } else {
      for (unsigned lane = 0; lane < 2; ++lane) feed({app, i, lane}, StopRequested{}, now, out);
    }
  }
  retire_idle_tail(app, out);
  return out;
}

std::vector<SlotAction> Supervisor::on_app(std::size_t app, const Event& event, TimePoint now) {
  std::vector<SlotAction> out;
  if (app >= apps_.size()) return out;
  for (unsigned i = 0; i < apps_[app].instances && i < apps_[app].slots.size(); ++i) {
    for (SlotAction& action : on({app, i, apps_[app].slots[i].active}, event, now)) {
      out.push_back(std::move(action));
    }
  }
  return out;
}

std::size_t Supervisor::add_app(AppState app, TimePoint now, std::vector<SlotAction>& out) {
  app.slots.assign(app.instances, Slot{});
  app.specs.emplace(app.generation, app.spec);
  app.good_generation = app.generation;
  app.latest_generation = app.generation;
  apps_.push_back(std::move(app));
  const std::size_t index = apps_.size() - 1;
  app_indices_.push_back(index);
  for (unsigned i = 0; i < apps_[index].slots.size(); ++i) {
    start_lane({index, i, 0}, apps_[index].generation, false, now, out);
  }
  return index;
}

std::vector<SlotAction> Supervisor::remove_app(std::size_t app, TimePoint now) {
  std::vector<SlotAction> out;
  if (app >= apps_.size()) return out;
  AppState& state = apps_[app];
  state.removed = true;
  state.rollout.reset();
  for (unsigned i = 0; i < state.slots.size(); ++i) {
    for (unsigned lane = 0; lane < 2; ++lane) feed({app, i, lane}, StopRequested{}, now, out);
  }
  return out;
}

void Supervisor::feed(SlotId id, const Event& event, TimePoint now, std::vector<SlotAction>& out) {
  WorkerSlot& lane = mutable_slot(id);
  const int pid_before = lane.pid();
  const config::AppSpec& lane_spec = spec(id);
  for (Action& action : lane.on(event, now, lane_spec)) {
    out.push_back(SlotAction{id, std::move(action)});
  }
  if (lane.pid() != pid_before) {
    if (pid_before != 0) by_pid_.erase(pid_before);
    if (lane.pid() != 0) by_pid_[lane.pid()] = id;
  }
  if (id.index >= apps_[id.app].instances) retire_idle_tail(id.app, out);
}

void Supervisor::retire_idle_tail(std::size_t app, std::vector<SlotAction>& out) {
  AppState& state = apps_[app];
  while (state.slots.size() > state.instances &&
         state.slots.back().lanes[0].state() == SlotState::Idle &&
         state.slots.back().lanes[1].state() == SlotState::Idle) {
    const unsigned index = static_cast<unsigned>(state.slots.size() - 1);
    out.push_back(SlotAction{{app, index, 0}, Retire{}});
    state.slots.pop_back();
  }
}

const SlotId* Supervisor::find_pid(int pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : &it->second;
}

bool Supervisor::no_workers() const { return by_pid_.empty(); }

bool Supervisor::rolling() const {
  for (const AppState& app : apps_) {
    if (app.rollout) return true;
  }
  return false;
}

}  // namespace clusterd::core
