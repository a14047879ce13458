#include "supervisor/core/supervisor.h"

namespace clusterd::core {

Supervisor::Supervisor(std::vector<AppState> apps) : apps_(std::move(apps)) {
  for (AppState& app : apps_) app.slots.resize(app.instances);
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
    if (slot.pid() != 0) by_pid_[slot.pid()] = id;
  }
}

const SlotId* Supervisor::find_pid(int pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : &it->second;
}

bool Supervisor::no_workers() const { return by_pid_.empty(); }

}  // namespace clusterd::core
