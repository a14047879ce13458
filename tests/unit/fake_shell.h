// A fake shell over one app, for the core's rollout tests: every Spawn gets a pid (fed back as
// Spawned); the test decides what the workers and their probes do, and which armed timer fires.
#pragma once

#include <catch2/catch.hpp>
#include <map>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "supervisor/core/supervisor.h"

namespace clusterd::test {

struct FakeShell {
  core::Supervisor sup;
  core::TimePoint now{};
  int next_pid = 100;
  std::vector<core::SlotAction> log;  // every action, in order
  std::size_t step_begin = 0;         // where the last step begins in log
  std::map<std::pair<unsigned, unsigned>, unsigned> state_token;  // (slot, lane) -> token

  // Starts the app and makes every worker ready.
  explicit FakeShell(core::AppState app) : sup(one(std::move(app))) {
    run(sup.start_all(now));
    for (unsigned i = 0; i < this->app().instances; ++i) ready(active(i));
  }
  static std::vector<core::AppState> one(core::AppState app) {
    std::vector<core::AppState> apps;
    apps.push_back(std::move(app));
    return apps;
  }
  void run(std::vector<core::SlotAction> step) {
    step_begin = log.size();
    for (std::size_t i = 0; i < step.size(); ++i) {
      log.push_back(step[i]);
      if (const auto* t = std::get_if<core::ArmTimer>(&step[i].action);
          t && t->timer == core::LaneTimer::State) {
        state_token[{step[i].slot.index, step[i].slot.lane}] = t->token;
      }
      if (std::holds_alternative<core::Spawn>(step[i].action)) {
        for (auto& more : sup.on(step[i].slot, core::Spawned{next_pid++}, now)) {
          step.push_back(std::move(more));
        }
      }
    }
  }
  // Ready as the lane's mode says: a probe that succeeds, or READY=1.
  void ready(core::LaneId id) {
    if (config::probed(sup.spec(id).ready)) {
      run(sup.on(id, core::ProbeResult{true, ""}, now));
    } else {
      run(sup.on(id, core::Ready{}, now));
    }
  }
  void exited(core::LaneId id, int code) {
    run(sup.on(id, core::Exited{core::ExitStatus::exited(code)}, now));
  }
  void roll(const config::AppSpec& spec) {
    const core::Outcome outcome = sup.roll(0, spec, app().instances, app().instances_reason, now);
    REQUIRE_FALSE(outcome.refused);
    run(outcome.actions);
  }
  // The last step's actions, in order.
  std::span<const core::SlotAction> actions() const { return std::span(log).subspan(step_begin); }
  const core::AppState& app() const { return sup.apps()[0]; }
  core::LaneId fresh(unsigned i) const { return {0, i, 1u - app().slots[i].active}; }
  core::LaneId active(unsigned i) const { return {0, i, app().slots[i].active}; }
  const core::Lane& lane(core::LaneId id) const { return sup.lane(id); }
};

}  // namespace clusterd::test
