#include "supervisor/core/supervisor.h"

namespace clusterd::core {

Supervisor::Supervisor(std::vector<AppState> apps) : apps_(std::move(apps)) {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    apps_[a].slots.resize(apps_[a].instances);
    app_indices_.push_back(a);
  }
}

const std::size_t* Supervisor::find_app(const std::string& name) const {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    if (apps_[a].spec.name == name) return &app_indices_[a];
  }
  return nullptr;
}

std::vector<SlotAction> Supervisor::scale(std::size_t app, unsigned instances, TimePoint now) {
  std::vector<SlotAction> out;
  if (app >= apps_.size() || instances == 0 || stopping_) return out;
  AppState& state = apps_[app];
  const unsigned before = static_cast<unsigned>(state.slots.size());
  state.instances = instances;
  state.instances_reason = std::to_string(instances) + ": set by scale (was " +
                           std::to_string(before) + ")";
  if (instances > before) state.slots.resize(instances);
  for (unsigned i = 0; i < state.slots.size(); ++i) {
    if (i < instances) {
      if (i >= before || !state.slots[i].wanted()) feed({app, i}, StartRequested{}, now, out);
    } else {
      feed({app, i}, StopRequested{}, now, out);
    }
  }
  retire_idle_tail(app, out);
  return out;
}

std::vector<SlotAction> Supervisor::on_app(std::size_t app, const Event& event, TimePoint now) {
  std::vector<SlotAction> out;
  if (app >= apps_.size()) return out;
  for (unsigned i = 0; i < apps_[app].instances && i < apps_[app].slots.size(); ++i) {
    for (SlotAction& action : on({app, i}, event, now)) out.push_back(std::move(action));
  }
  return out;
}

void Supervisor::retire_idle_tail(std::size_t app, std::vector<SlotAction>& out) {
  AppState& state = apps_[app];
  while (state.slots.size() > state.instances &&
         state.slots.back().state() == SlotState::Idle) {
    const unsigned index = static_cast<unsigned>(state.slots.size() - 1);
    out.push_back(SlotAction{{app, index}, Retire{}});
    state.slots.pop_back();
  }
}

std::vector<SlotAction> Supervisor::start_all(TimePoint now) {
  std::vector<SlotAction> out;
  if (stopping_) return out;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    for (unsigned i = 0; i < apps_[a].slots.size(); ++i) feed({a, i}, StartRequested{}, now, out);
  }
  return out;
}

std::vector<SlotAction> Supervisor::stop_all(TimePoint now) {
  std::vector<SlotAction> out;
  stopping_ = true;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    for (unsigned i = 0; i < apps_[a].slots.size(); ++i) feed({a, i}, StopRequested{}, now, out);
  }
  return out;
}

std::vector<SlotAction> Supervisor::on(SlotId slot, const Event& event, TimePoint now) {
  std::vector<SlotAction> out;
  if (slot.app >= apps_.size() || slot.index >= apps_[slot.app].slots.size()) return out;
  if (stopping_ && (std::holds_alternative<StartRequested>(event) ||
                    std::holds_alternative<RestartRequested>(event))) {
    return out;
  }
  feed(slot, event, now, out);
  return out;
}

void Supervisor::feed(SlotId id, const Event& event, TimePoint now, std::vector<SlotAction>& out) {
  WorkerSlot& slot = apps_[id.app].slots[id.index];
  const int pid_before = slot.pid();
  for (Action& action : slot.on(event, now, apps_[id.app].spec)) {
    out.push_back(SlotAction{id, std::move(action)});
  }
  if (slot.pid() != pid_before) {
    if (pid_before != 0) by_pid_.erase(pid_before);
    if (slot.pid() != 0) {
      by_pid_[slot.pid()] = id;
      slot.set_generation(apps_[id.app].generation);
    }
  }
  if (id.index >= apps_[id.app].instances) retire_idle_tail(id.app, out);
}

const SlotId* Supervisor::find_pid(int pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : &it->second;
}

bool Supervisor::no_workers() const { return by_pid_.empty(); }

}  // namespace clusterd::core
