// Rollouts: replacing an app's workers with a new generation without dropping a request.
//
// For each slot, the new worker starts in the slot's idle lane, on the slot's own sockets, while
// the old one keeps serving in the active lane. Once the new worker is ready (READY=1, or exec'd
// for `ready: exec`) the lanes swap roles: the new one is active, the old one gets its stop_signal
// and stop_timeout to drain. The first slot is the canary: it goes alone, and must stay ready for
// canary_time before the others follow, `rollout.batch` at a time.
//
// A new worker that exits or misses ready_timeout before it is promoted (or the canary dying
// during canary_time) fails the rollout: every new worker still starting is stopped, and every
// slot already moved is rolled back to the last good generation by the same procedure, so an app
// never stays half old and half new. New workers are one-shot until promoted: the restart policy
// does not restart them, the rollout decides.
//
// A rollout is over when no slot is pending or starting and every replaced worker has exited.
#include <algorithm>

#include "supervisor/core/supervisor.h"

namespace clusterd::core {

std::vector<SlotAction> Supervisor::roll(std::size_t app, config::AppSpec spec, TimePoint now,
                                         unsigned* generation) {
  std::vector<SlotAction> out;
  if (app >= apps_.size() || stopping_ || apps_[app].rollout) return out;
  AppState& state = apps_[app];
  const unsigned from = state.good_generation;
  const unsigned to = ++state.latest_generation;
  state.specs[to] = spec;
  state.spec = std::move(spec);
  state.generation = to;
  if (generation != nullptr) *generation = to;
  Rollout rollout;
  rollout.from = from;
  rollout.to = to;
  for (unsigned i = 0; i < state.instances && i < state.slots.size(); ++i) {
    rollout.pending.push_back(i);
  }
  rollout.total = rollout.pending.size();
  state.rollout = std::move(rollout);
  advance(app, now, out);
  return out;
}

std::vector<SlotAction> Supervisor::replace(std::size_t app, unsigned index, std::string purpose,
                                            TimePoint now) {
  std::vector<SlotAction> out;
  if (app >= apps_.size() || stopping_ || apps_[app].rollout) return out;
  AppState& state = apps_[app];
  if (index >= state.instances || index >= state.slots.size()) return out;
  Rollout rollout;
  rollout.from = rollout.to = state.slots[index].current().generation();
  rollout.pending.push_back(index);
  rollout.total = 1;
  rollout.canary = false;
  rollout.purpose = std::move(purpose);
  state.rollout = std::move(rollout);
  advance(app, now, out);
  return out;
}

void Supervisor::advance(std::size_t a, TimePoint now, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  if (!app.rollout) return;
  Rollout& r = *app.rollout;

  // 1. Slots whose new worker is starting: promote the ready ones, fail on the dead ones.
  for (std::size_t k = 0; k < r.in_flight.size();) {
    const unsigned i = r.in_flight[k];
    Slot& slot = app.slots[i];
    const unsigned lane = 1 - slot.active;
    const WorkerSlot& fresh = slot.lanes[lane];
    if (fresh.state() == SlotState::Running) {
      const bool canary_wait = r.canary && app.specs.at(r.to).rollout.canary_time.count() > 0;
      if (canary_wait && !r.canary_passed) {
        if (!r.canary_timer) {
          r.canary_timer = true;
          r.canary_token = next_token_++;
          out.push_back(SlotAction{{a, i, lane},
                                   ArmTimer{now + app.specs.at(r.to).rollout.canary_time,
                                            r.canary_token, TimerKind::Rollout}});
        }
        ++k;
        continue;
      }
      r.in_flight.erase(r.in_flight.begin() + static_cast<std::ptrdiff_t>(k));
      promote(a, i, now, out);
      continue;
    }
    if (fresh.state() != SlotState::Starting) {
      const std::string why = fresh.last_exit() ? fresh.last_exit()->to_string() : "it stopped";
      fail(a, i, why, now, out);
      return;
    }
    ++k;
  }

  // 2. Start more: the canary alone, then `batch` at a time.
  const unsigned batch = r.canary ? 1 : std::max(1u, app.specs.at(r.to).rollout.batch);
  while (r.in_flight.size() < batch && !r.pending.empty()) {
    const unsigned i = r.pending.front();
    r.pending.pop_front();
    if (i >= app.slots.size()) continue;
    Slot& slot = app.slots[i];
    const WorkerSlot& old = slot.lanes[slot.active];
    if (!old.wanted() && old.state() == SlotState::Idle) {
      // A stopped slot has nothing to replace: it starts with the new generation next time.
      slot.lanes[slot.active].set_generation(r.to);
      r.moved.push_back(i);
      continue;
    }
    const unsigned lane = 1 - slot.active;
    if (slot.lanes[lane].state() != SlotState::Idle) {  // still draining from the last rollout
      r.pending.push_front(i);
      break;
    }
    r.in_flight.push_back(i);
    start_lane({a, i, lane}, r.to, true, now, out);
  }
  if (!app.rollout) return;  // a synchronous spawn failure ended it

  // 3. Done when nothing is pending or starting and every replaced worker has exited.
  if (r.pending.empty() && r.in_flight.empty()) {
    for (unsigned i : r.moved) {
      if (i < app.slots.size() && app.slots[i].other().state() != SlotState::Idle) return;
    }
    finish(a, out);
  }
}

void Supervisor::promote(std::size_t a, unsigned i, TimePoint now, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  Rollout& r = *app.rollout;
  Slot& slot = app.slots[i];
  const unsigned old_lane = slot.active;
  slot.active = 1 - slot.active;
  slot.lanes[slot.active].set_one_shot(false);
  r.moved.push_back(i);
  r.canary = false;
  out.push_back(SlotAction{
      {a, i, slot.active},
      Transition{"starting", "running",
                 std::string(r.rollback ? "rolled back" : "replaced") + " slot " +
                     std::to_string(i) + " with generation " + std::to_string(r.to) + " (" +
                     std::to_string(r.moved.size()) + "/" + std::to_string(r.total) + ")"}});
  feed({a, i, old_lane}, StopRequested{}, now, out);
}

void Supervisor::fail(std::size_t a, unsigned i, const std::string& why, TimePoint now,
                      std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  Rollout& r = *app.rollout;
  const WorkerSlot& fresh = app.slots[i].other();
  std::string reason = app.spec.name + " worker " + std::to_string(i) + " of generation " +
                       std::to_string(r.to) + " failed: " + why;
  if (!fresh.status_text().empty()) reason += " (last STATUS: " + fresh.status_text() + ")";
  for (unsigned k : r.in_flight) {  // the other new workers still starting
    feed({a, k, 1 - app.slots[k].active}, StopRequested{}, now, out);
  }
  feed({a, i, 1 - app.slots[i].active}, StopRequested{}, now, out);
  if (r.rollback) {
    app.last_rollout = RolloutResult{false, r.failure + "; rolling back failed too: " + reason +
                                                "; slots may run mixed generations"};
    app.rollout.reset();
    forget_unused_specs(app);
    return;
  }
  Rollout back;
  back.from = r.to;
  back.to = r.from;
  back.rollback = true;
  back.canary = false;
  back.failure = reason;
  back.purpose = r.purpose;
  for (auto it = r.moved.rbegin(); it != r.moved.rend(); ++it) {
    if (*it < app.slots.size() && app.slots[*it].current().generation() == r.to) {
      back.pending.push_back(*it);
    }
  }
  back.total = back.pending.size();
  app.generation = r.from;
  app.spec = app.specs.at(r.from);
  out.push_back(
      SlotAction{{a, i, 0},
                 Transition{"rolling", "rolling back",
                            reason + "; rolling " + std::to_string(back.total) +
                                " slot(s) back to generation " + std::to_string(r.from)}});
  app.rollout = std::move(back);
  advance(a, now, out);
}

void Supervisor::finish(std::size_t a, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  Rollout& r = *app.rollout;
  if (r.rollback && !r.purpose.empty()) {
    app.last_rollout = RolloutResult{false, r.failure + "; the old worker keeps running"};
  } else if (r.rollback) {
    app.last_rollout =
        RolloutResult{false, r.failure + "; rolled back to generation " + std::to_string(r.to)};
  } else if (!r.purpose.empty()) {
    app.last_rollout = RolloutResult{true, app.spec.name + " worker " +
                                               std::to_string(r.moved.empty() ? 0 : r.moved[0]) +
                                               " replaced (" + r.purpose + ")"};
  } else {
    app.good_generation = r.to;
    app.last_rollout =
        RolloutResult{true, app.spec.name + ": " + std::to_string(r.total) +
                                " worker(s) replaced with generation " + std::to_string(r.to)};
  }
  out.push_back(SlotAction{{a, 0, 0}, Transition{"rolling", "done", app.last_rollout->message}});
  app.rollout.reset();
  forget_unused_specs(app);
}

void Supervisor::forget_unused_specs(AppState& app) {
  for (auto it = app.specs.begin(); it != app.specs.end();) {
    bool used = it->first == app.generation || it->first == app.good_generation;
    for (const Slot& slot : app.slots) {
      for (const WorkerSlot& lane : slot.lanes) {
        used = used || (lane.generation() == it->first && lane.state() != SlotState::Idle);
      }
    }
    it = used ? std::next(it) : app.specs.erase(it);
  }
}

}  // namespace clusterd::core
