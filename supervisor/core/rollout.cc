// Rollouts (the phases are drawn in rollout.h).
//
// For each slot, the new worker starts in the slot's idle lane, on the slot's own sockets, while
// the old one keeps serving in the active lane. Once the new worker is ready (READY=1, or exec'd
// for `ready: exec`) the lanes swap roles: the new one is active, the old one gets its stop_signal
// and stop_timeout to drain. New workers are one-shot until promoted: the restart policy does not
// restart them; the rollout decides.
//
// Stop-first (an app probed on each worker's own port): the old worker of the slot gets its
// stop_signal first, and the new one starts once it has exited; the slot is down meanwhile,
// which counts against `batch` like a starting worker, so the other slots keep serving.
//
// A new worker that exits or misses ready_timeout before it is promoted (or the canary dying
// during canary_time) fails the rollout: every new worker still starting is stopped, and every
// slot already moved is rolled back to the last good generation by the same procedure, so an app
// never stays half old and half new. A slot stop-first emptied gets its old generation back the
// same way, first.
#include <algorithm>

#include "supervisor/core/supervisor.h"

namespace clusterd::core {

namespace {
bool has(const std::vector<unsigned>& slots, unsigned i) {
  return std::find(slots.begin(), slots.end(), i) != slots.end();
}
}  // namespace

bool stop_first(const config::AppSpec& spec) { return config::probed(spec.ready); }

const char* to_string(Rollout::Phase phase) {
  switch (phase) {
    case Rollout::Phase::Canary:
      return "canary";
    case Rollout::Phase::CanaryWait:
      return "canary-wait";
    case Rollout::Phase::Rolling:
      return "rolling";
    case Rollout::Phase::Draining:
      return "draining";
  }
  return "unknown";
}

std::optional<Refused> Supervisor::check_roll(std::size_t a) const { return check_change(a); }

Outcome Supervisor::roll(std::size_t a, config::AppSpec spec, unsigned instances,
                         std::string instances_reason, TimePoint now) {
  if (auto refused = check_roll(a)) return {{}, refused};
  if (instances == 0) return Outcome::refuse("an app needs at least 1 instance");
  AppState& app = apps_[a];
  Outcome outcome;
  Rollout r;
  r.from = app.good_generation;
  r.to = ++app.latest_generation;
  r.phase = Rollout::Phase::Canary;
  r.old_instances = app.instances;
  r.old_instances_reason = app.instances_reason;
  app.specs[r.to] = spec;
  app.spec = std::move(spec);
  app.generation = r.to;
  if (instances > app.instances) r.first_added = app.instances;
  resize(a, instances, std::move(instances_reason), now, outcome.actions);
  if (app.stopped) {
    // Nothing runs to be replaced: the new generation is what `start` starts, and what its idle
    // slots show. Untried, it is not the last good one.
    for (Slot& slot : app.slots) {
      if (slot.lanes[slot.active].state() == LaneState::Idle) {
        slot.lanes[slot.active].assign(r.to, false);
      }
    }
    app.last_rollout =
        RolloutResult{true, app.spec.name + " is stopped: generation " + std::to_string(r.to) +
                                " starts at `start " + app.spec.name + "`"};
    outcome.actions.push_back(
        SlotAction{{a, 0, 0}, Notice{Notice::Kind::RolloutDone, app.last_rollout->message}});
    forget_unused_specs(app);
    return outcome;
  }
  for (unsigned i = 0; i < app.instances && i < app.slots.size(); ++i) r.pending.push_back(i);
  begin_rollout(a, std::move(r), now, outcome.actions);
  return outcome;
}

Outcome Supervisor::replace(std::size_t a, unsigned index, std::string purpose, TimePoint now) {
  if (auto refused = check_change(a)) return {{}, refused};
  AppState& app = apps_[a];
  if (index >= app.instances || index >= app.slots.size()) {
    return Outcome::refuse(app.spec.name + " has no worker " + std::to_string(index));
  }
  const Lane& current = app.slots[index].current();
  if (current.pid() == 0 || app.specs.count(current.generation()) == 0) {
    return Outcome::refuse(app.spec.name + " worker " + std::to_string(index) +
                           " is not running: nothing to replace");
  }
  Rollout r;
  r.from = r.to = current.generation();
  r.pending.push_back(index);
  r.purpose = std::move(purpose);
  r.old_instances = app.instances;
  r.old_instances_reason = app.instances_reason;
  count_replaced(a, index);
  Outcome outcome;
  begin_rollout(a, std::move(r), now, outcome.actions);
  return outcome;
}

void Supervisor::begin_rollout(std::size_t a, Rollout r, TimePoint now,
                               std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  r.total = r.pending.size();
  const auto spec = app.specs.find(r.to);
  r.stop_first = stop_first(spec == app.specs.end() ? app.spec : spec->second);
  std::string what;
  if (!r.purpose.empty()) {
    what = "replacing worker " + std::to_string(r.pending.empty() ? 0 : r.pending.front()) + " (" +
           r.purpose + ")";
  } else if (r.rollback()) {
    what = r.failure + "; rolling " + std::to_string(r.total) + " slot(s) back to generation " +
           std::to_string(r.to);
  } else {
    what = "rolling " + std::to_string(r.total) + " slot(s) from generation " +
           std::to_string(r.from) + " to " + std::to_string(r.to);
  }
  const Notice::Kind kind =
      r.rollback() ? Notice::Kind::RolloutFailed : Notice::Kind::RolloutStarted;
  out.push_back(SlotAction{{a, 0, 0}, Notice{kind, std::move(what)}});
  app.rollout = std::move(r);
  advance(a, now, out);
}

// The only writer of Rollout::phase. Leaving CanaryWait voids its timer.
void Supervisor::enter_phase(std::size_t a, Rollout::Phase phase) {
  Rollout& r = *apps_[a].rollout;
  if (r.phase == Rollout::Phase::CanaryWait) r.canary_token = 0;
  r.phase = phase;
}

void Supervisor::advance(std::size_t a, TimePoint now, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  if (!app.rollout) return;
  Rollout& r = *app.rollout;
  start_vacated(a, now, out);
  if (!app.rollout) return;
  // 1. Slots whose new worker is starting: promote the ready ones, fail on the dead ones.
  for (std::size_t k = 0; k < r.in_flight.size();) {
    const unsigned i = r.in_flight[k];
    const Lane& fresh = app.slots[i].other();
    if (fresh.state() == LaneState::Starting) {
      ++k;
      continue;
    }
    if (fresh.state() != LaneState::Running) {
      const std::string why = fresh.last_exit() ? fresh.last_exit()->describe() : "it stopped";
      roll_back(a, i, why, now, out);
      return;
    }
    if (r.phase == Rollout::Phase::CanaryWait) return;  // the canary timer decides
    if (r.phase == Rollout::Phase::Canary) {
      const Duration canary_time = app.specs.at(r.to).rollout.canary_time;
      if (canary_time > Duration::zero()) {
        enter_phase(a, Rollout::Phase::CanaryWait);
        r.canary_token = next_token_++;
        out.push_back(
            SlotAction{{a, i, 0}, ArmRolloutTimer{later(now, canary_time), r.canary_token}});
        return;
      }
      enter_phase(a, Rollout::Phase::Rolling);
    }
    r.in_flight.erase(r.in_flight.begin() + static_cast<std::ptrdiff_t>(k));
    promote(a, i, now, out);
  }
  start_more(a, now, out);
  if (!app.rollout) return;
  // 3. Draining once nothing is pending or starting; done once every replaced worker has exited.
  if (!r.pending.empty() || !r.in_flight.empty() || !r.vacating.empty()) return;
  if (r.phase != Rollout::Phase::Draining) enter_phase(a, Rollout::Phase::Draining);
  for (unsigned i : r.moved) {
    if (i < app.slots.size() && app.slots[i].other().state() != LaneState::Idle) return;
  }
  finish(a, out);
}

// 2. Start more: the canary alone, then `batch` at a time.
void Supervisor::start_more(std::size_t a, TimePoint now, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  Rollout& r = *app.rollout;
  if (r.phase != Rollout::Phase::Canary && r.phase != Rollout::Phase::Rolling) return;
  const unsigned batch =
      r.phase == Rollout::Phase::Canary ? 1 : std::max(1u, app.specs.at(r.to).rollout.batch);
  while (r.in_flight.size() + r.vacating.size() < batch && !r.pending.empty()) {
    const unsigned i = r.pending.front();
    r.pending.pop_front();
    if (i >= app.slots.size()) continue;
    Slot& slot = app.slots[i];
    // A slot the reload added, or one a failed stop-first rollout emptied: it starts anyway.
    const bool starts = i >= r.first_added || has(r.restore, i);
    if (!starts && !slot.current().wanted() && slot.current().state() == LaneState::Idle) {
      // A stopped slot has nothing to replace: it starts with the new generation next time.
      slot.lanes[slot.active].assign(r.to, false);
      r.moved.push_back(i);
      continue;
    }
    const unsigned lane = 1 - slot.active;
    if (slot.lanes[lane].state() != LaneState::Idle) {  // still draining from the last one
      r.pending.push_front(i);
      break;
    }
    if (r.stop_first) {
      r.vacating.push_back(i);
      feed({a, i, slot.active}, StopRequested{}, now, out);
      continue;
    }
    r.in_flight.push_back(i);
    start_lane({a, i, lane}, r.to, true, now, out);
    if (!app.rollout) return;  // a synchronous failure ended it
  }
  start_vacated(a, now, out);
}

// Stop-first: the new worker of a slot starts once the old one is gone.
void Supervisor::start_vacated(std::size_t a, TimePoint now, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  Rollout& r = *app.rollout;
  for (std::size_t k = 0; k < r.vacating.size();) {
    const unsigned i = r.vacating[k];
    if (i >= app.slots.size()) {
      r.vacating.erase(r.vacating.begin() + static_cast<std::ptrdiff_t>(k));
      continue;
    }
    const Slot& slot = app.slots[i];
    if (slot.current().state() != LaneState::Idle) {
      ++k;
      continue;
    }
    r.vacating.erase(r.vacating.begin() + static_cast<std::ptrdiff_t>(k));
    r.in_flight.push_back(i);
    start_lane({a, i, 1 - slot.active}, r.to, true, now, out);
    if (!app.rollout) return;
  }
}

void Supervisor::promote(std::size_t a, unsigned i, TimePoint now, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  Rollout& r = *app.rollout;
  Slot& slot = app.slots[i];
  const unsigned old_lane = slot.active;
  slot.active = 1 - slot.active;
  slot.lanes[slot.active].assign(r.to, false);
  r.moved.push_back(i);
  out.push_back(
      SlotAction{{a, i, slot.active},
                 Notice{Notice::Kind::RolloutProgress,
                        std::string(r.rollback() ? "rolled back" : "replaced") + " slot " +
                            std::to_string(i) + " with generation " + std::to_string(r.to) + " (" +
                            std::to_string(r.moved.size()) + "/" + std::to_string(r.total) + ")"}});
  feed({a, i, old_lane}, StopRequested{}, now, out);
}

void Supervisor::roll_back(std::size_t a, unsigned i, const std::string& why, TimePoint now,
                           std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  Rollout& r = *app.rollout;
  std::string reason = app.spec.name + " worker " + std::to_string(i) + " of generation " +
                       std::to_string(r.to) + " failed: " + why;
  if (!app.slots[i].other().status_text().empty()) {
    reason += " (last STATUS: " + app.slots[i].other().status_text() + ")";
  }
  for (unsigned k : r.in_flight) feed({a, k, 1 - app.slots[k].active}, StopRequested{}, now, out);
  // Stop-first: the slots whose old worker this rollout stopped, the failed one among them.
  std::vector<unsigned> emptied;
  if (r.stop_first) {
    emptied = r.vacating;
    emptied.insert(emptied.end(), r.in_flight.begin(), r.in_flight.end());
  }
  if (r.rollback()) {
    app.last_rollout = RolloutResult{false, r.failure + "; rolling back failed too: " + reason +
                                                "; slots may run mixed generations"};
    out.push_back(
        SlotAction{{a, 0, 0}, Notice{Notice::Kind::RolloutDone, app.last_rollout->message}});
    app.rollout.reset();
    // Nothing is left empty: a slot it stopped runs its worker again, under the restart policy.
    for (unsigned k : emptied) {
      const LaneId id{a, k, app.slots[k].active};
      if (k < app.instances) start_lane(id, lane(id).generation(), false, now, out);
    }
    forget_unused_specs(app);
    return;
  }
  Rollout back;
  back.direction = Rollout::Direction::Back;
  back.from = r.to;
  back.to = r.from;
  back.failure = reason;
  back.purpose = r.purpose;
  back.old_instances = r.old_instances;
  back.old_instances_reason = r.old_instances_reason;
  // The app keeps the instances it had: the slots the failed reload added go with it (stopped,
  // then retired), and those it removed, stopped at once, start again at the good generation.
  const unsigned keep = std::min(app.instances, r.old_instances);
  for (unsigned k : emptied) {  // down now: first
    if (k < keep && k < r.first_added) {
      back.pending.push_back(k);
      back.restore.push_back(k);
    }
  }
  for (auto it = r.moved.rbegin(); it != r.moved.rend(); ++it) {
    if (*it < keep && app.slots[*it].current().generation() == r.to) back.pending.push_back(*it);
  }
  app.generation = r.from;
  app.spec = app.specs.at(r.from);
  if (app.instances != r.old_instances) {
    resize(a, r.old_instances, r.old_instances_reason, now, out);
    for (unsigned k = keep; k < app.instances; ++k) {
      start_lane({a, k, app.slots[k].active}, r.from, false, now, out);
    }
  }
  begin_rollout(a, std::move(back), now, out);
}

void Supervisor::finish(std::size_t a, std::vector<SlotAction>& out) {
  AppState& app = apps_[a];
  const Rollout& r = *app.rollout;
  if (r.rollback() && !r.purpose.empty()) {
    const std::string kept = r.restore.empty()
                                 ? "; the old worker keeps running"
                                 : "; the slot runs generation " + std::to_string(r.to) + " again";
    app.last_rollout = RolloutResult{false, r.failure + kept};
  } else if (r.rollback()) {
    app.last_rollout =
        RolloutResult{false, r.failure + "; rolled back to generation " + std::to_string(r.to)};
  } else if (!r.purpose.empty()) {
    const unsigned slot = r.moved.empty() ? 0 : r.moved.front();
    app.last_rollout = RolloutResult{
        true, app.spec.name + " worker " + std::to_string(slot) + " replaced (" + r.purpose + ")"};
  } else {
    app.good_generation = r.to;
    app.last_rollout =
        RolloutResult{true, app.spec.name + ": " + std::to_string(r.total) +
                                " worker(s) replaced with generation " + std::to_string(r.to)};
  }
  out.push_back(
      SlotAction{{a, 0, 0}, Notice{Notice::Kind::RolloutDone, app.last_rollout->message}});
  app.rollout.reset();
  forget_unused_specs(app);
}

void Supervisor::forget_unused_specs(AppState& app) {
  for (auto it = app.specs.begin(); it != app.specs.end();) {
    bool used = it->first == app.generation || it->first == app.good_generation;
    for (const Slot& slot : app.slots) {
      for (const Lane& lane : slot.lanes) {
        used = used || (lane.generation() == it->first && lane.state() != LaneState::Idle);
      }
    }
    it = used ? std::next(it) : app.specs.erase(it);
  }
}

}  // namespace clusterd::core
