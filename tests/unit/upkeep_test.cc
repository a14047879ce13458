// core/upkeep.h: what the shell keeps and when it looks, each decision with its reason.
#include "supervisor/core/upkeep.h"

#include <catch2/catch.hpp>

using namespace clusterd;
using core::LaneState;

namespace {

core::Lane lane(LaneState state, unsigned generation, int pid = 0) {
  core::Lane::Record r;
  r.state = state;
  r.generation = generation;
  if (pid != 0)
    r.worker = core::Lane::Worker{pid, {}, {}, false, false, false, false, false, false, {}};
  return core::Lane::from(std::move(r));
}

core::AppState app_at(unsigned target, std::vector<unsigned> specs) {
  core::AppState app;
  app.spec.name = "web";
  app.generation = target;
  for (unsigned g : specs) app.specs[g] = app.spec;
  app.instances = 2;
  app.slots.resize(2);
  return app;
}

}  // namespace

TEST_CASE("upkeep: which generations stay prepared, and why") {
  struct Row {
    const char* what;
    unsigned generation;
    bool removed;
    LaneState other_state;  // slot 1's other lane, at generation 1
    bool kept;
    const char* why;
  };
  const Row rows[] = {
      {"the target", 2, false, LaneState::Idle, true, "the app's target generation"},
      {"a rollback's good generation", 1, false, LaneState::Idle, true,
       "a lane may start at it (rollout or rollback)"},
      {"an old one a draining worker still runs", 0, false, LaneState::Idle, false, ""},
      {"gen 1 of a removed app with a stopping worker", 1, true, LaneState::Stopping, true,
       "slot 1 runs or stops a worker of it"},
      {"gen 1 of a removed app, all idle", 1, true, LaneState::Idle, false, ""},
      {"a generation nobody names", 7, false, LaneState::Running, false, ""},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    core::AppState app = app_at(2, {1, 2});
    app.removed = row.removed;
    app.slots[1].lanes[1] = lane(row.other_state, 1, row.other_state == LaneState::Idle ? 0 : 42);
    const std::optional<std::string> why = core::generation_kept(app, row.generation);
    CHECK(why.has_value() == row.kept);
    if (why) CHECK(*why == row.why);
  }
}

TEST_CASE("upkeep: auto_follow scales only when the CPUs moved and differ from the workers") {
  struct Row {
    unsigned instances, followed, cpus;
    bool stopping;
    std::optional<unsigned> scale_to;
    unsigned followed_after;
  };
  const Row rows[] = {
      {2, 2, 4, false, 4, 2},             // a new CPU limit: scale, followed once it went through
      {2, 2, 2, false, std::nullopt, 2},  // nothing moved
      {3, 2, 2, false, std::nullopt, 2},  // `scale web 3` by hand: left alone
      {3, 2, 3, false, std::nullopt, 3},  // the CPUs came to what runs: follow without a scale
      {2, 2, 4, true, std::nullopt, 2},   // stopping: nothing
  };
  for (const Row& row : rows) {
    core::AppState app = app_at(1, {1});
    app.instances = row.instances;
    const core::FollowDecision d = core::follow_cpus(app, row.stopping, row.followed, row.cpus,
                                                     std::to_string(row.cpus) + ": cgroup quota");
    CHECK(d.scale_to == row.scale_to);
    CHECK(d.followed == row.followed_after);
    CHECK_FALSE(d.reason.empty());
  }
}

TEST_CASE(
    "upkeep: memory is sampled only for a live max_memory worker the kernel does not report") {
  const auto cluster = [](std::optional<std::uint64_t> max_memory) {
    core::AppState a;
    a.spec.name = "web";
    a.spec.command = {"/bin/web"};
    a.spec.max_memory = max_memory;
    a.instances = 1;
    core::Supervisor s({a});
    for (const core::SlotAction& action : s.start_all({})) {
      if (std::holds_alternative<core::Spawn>(action.action))
        s.on(action.slot, core::Spawned{4242}, {});
    }
    return s;
  };
  const auto none = [](const core::LaneId&) { return false; };
  const auto all = [](const core::LaneId&) { return true; };
  CHECK_FALSE(core::memory_sampling_needed(cluster(std::nullopt), none));  // no max_memory
  const core::Supervisor watched = cluster(100 << 20);
  const std::optional<std::string> why = core::memory_sampling_needed(watched, none);
  REQUIRE(why);
  CHECK(*why == "web[0]: max_memory, and the kernel does not report its memory.high");
  CHECK_FALSE(core::memory_sampling_needed(watched, all));  // memory.events tells
  CHECK_FALSE(core::memory_sampling_needed(core::Supervisor({}), none));
}
