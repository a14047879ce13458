#include "supervisor/core/supervisor.h"

#include <catch2/catch.hpp>

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;

namespace {

core::Supervisor make(unsigned instances) {
  core::AppState app;
  app.spec.name = "web";
  app.spec.command = {"/bin/true"};
  app.instances = instances;
  std::vector<core::AppState> apps;
  apps.push_back(std::move(app));
  return core::Supervisor(std::move(apps));
}

// Plays the shell: every Spawn gets a pid, and the Spawned event is fed back.
int next_pid = 1000;
void run(core::Supervisor& s, std::vector<core::SlotAction> actions, core::TimePoint now,
         std::vector<core::SlotAction>* seen = nullptr) {
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (seen) seen->push_back(actions[i]);
    if (std::holds_alternative<core::Spawn>(actions[i].action)) {
      for (auto& more : s.on(actions[i].slot, core::Spawned{next_pid++}, now)) {
        actions.push_back(std::move(more));
      }
    }
  }
}

template <typename T>
int count(const std::vector<core::SlotAction>& actions) {
  int n = 0;
  for (const auto& a : actions) n += std::holds_alternative<T>(a.action) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("scale up starts new slots, scale down stops and retires the highest ones") {
  core::Supervisor s = make(2);
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  REQUIRE(s.apps()[0].slots.size() == 2);
  std::vector<core::SlotAction> seen;
  run(s, s.scale(0, 5, "5: test", now).actions, now, &seen);
  CHECK(count<core::Spawn>(seen) == 3);
  CHECK(s.apps()[0].slots.size() == 5);
  for (const auto& slot : s.apps()[0].slots) CHECK(slot.current().state() == LaneState::Running);

  seen.clear();
  run(s, s.scale(0, 1, "1: test", now).actions, now, &seen);
  CHECK(count<core::Signal>(seen) == 4);  // slots 1-4 get their stop signal
  CHECK(count<core::Retire>(seen) == 0);  // not retired before they exited
  CHECK(s.apps()[0].instances == 1);
  // The workers exit in any order; a slot is retired once it and every slot above it is idle.
  std::vector<core::SlotAction> exits;
  for (auto& a : s.on({0, 2}, core::Exited{core::ExitStatus::exited(0)}, now)) {
    exits.push_back(std::move(a));
  }
  CHECK(count<core::Retire>(exits) == 0);
  CHECK(s.lane({0, 2}).pid() == 0);
  exits.clear();
  for (unsigned i : {4u, 3u, 1u}) {
    for (auto& a : s.on({0, i}, core::Exited{core::ExitStatus::exited(0)}, now)) {
      exits.push_back(std::move(a));
    }
  }
  CHECK(count<core::Retire>(exits) == 4);
  CHECK(s.apps()[0].slots.size() == 1);
  CHECK(s.lane({0, 0}).state() == LaneState::Running);
}

TEST_CASE("scaling back up before retirement keeps the stopping slot and restarts it") {
  core::Supervisor s = make(2);
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  run(s, s.scale(0, 1, "1: test", now).actions, now);
  CHECK(s.lane({0, 1}).state() == LaneState::Stopping);
  run(s, s.scale(0, 2, "2: test", now).actions, now);
  std::vector<core::SlotAction> seen;
  run(s, s.on({0, 1}, core::Exited{core::ExitStatus::signaled(15)}, now), now, &seen);
  CHECK(count<core::Spawn>(seen) == 1);
  CHECK(count<core::Retire>(seen) == 0);
  CHECK(s.lane({0, 1}).state() == LaneState::Running);
}

TEST_CASE("stop_all ends with no workers, nothing starts afterwards") {
  core::Supervisor s = make(3);
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  CHECK_FALSE(s.no_workers());
  run(s, s.stop_all(now), now);
  for (unsigned i = 0; i < 3; ++i) {
    run(s, s.on({0, i}, core::Exited{core::ExitStatus::exited(0)}, now), now);
  }
  CHECK(s.no_workers());
  CHECK(s.scale(0, 5, "5: test", now).actions.empty());
  CHECK(s.on({0, 0}, core::StartRequested{}, now).empty());
}

TEST_CASE("apps are found by name, commands on them are refused with a reason") {
  core::Supervisor s = make(2);
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  REQUIRE(s.find_app("web"));
  CHECK(*s.find_app("web") == 0);
  CHECK_FALSE(s.find_app("api"));
  CHECK(s.app_names() == std::vector<std::string>{"web"});
  CHECK(s.lane({0, 0}).generation() == 1);
  CHECK(s.restart_worker(0, 7, now).refused->reason == "web has no worker 7 (it has 2)");
  CHECK(s.check_scale(0, 0)->reason == "scale needs at least 1 instance; use `stop web`");
  run(s, s.stop_all(now), now);
  CHECK(s.start_app(0, now).refused->reason == "clusterd is stopping; no changes accepted");
}

TEST_CASE("a worker that says STOPPING=1 gets its successor at once under restart: always") {
  core::Supervisor s = make(1);
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  const int old_pid = s.lane({0, 0, 0}).pid();
  std::vector<core::SlotAction> seen;
  run(s, s.on({0, 0, 0}, core::WorkerStopping{}, now), now, &seen);
  CHECK(s.apps()[0].slots[0].active == 1);
  CHECK(s.lane({0, 0, 0}).state() == LaneState::Stopping);
  CHECK(s.lane({0, 0, 1}).state() == LaneState::Running);
  CHECK(count<core::Spawn>(seen) == 1);
  CHECK(count<core::Signal>(seen) == 0);  // it is leaving by itself: nothing to send
  // The old one exits: nothing restarts it, the successor serves.
  seen.clear();
  now += std::chrono::seconds(2);
  run(s, s.on({0, 0, 0}, core::Exited{core::ExitStatus::exited(0)}, now), now, &seen);
  CHECK(count<core::Spawn>(seen) == 0);
  CHECK(s.lane({0, 0, 0}).state() == LaneState::Idle);
  CHECK(s.lane({0, 0, 1}).pid() != old_pid);
}

TEST_CASE("under restart: on-failure a STOPPING=1 worker is judged by its exit") {
  core::AppState app;
  app.spec.name = "web";
  app.spec.command = {"/bin/true"};
  app.spec.restart = config::RestartPolicy::OnFailure;
  app.instances = 1;
  core::Supervisor s({app});
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  std::vector<core::SlotAction> seen;
  run(s, s.on({0, 0, 0}, core::WorkerStopping{}, now), now, &seen);
  CHECK(count<core::Spawn>(seen) == 0);
  CHECK(s.lane({0, 0, 0}).state() == LaneState::Stopping);
  now += std::chrono::seconds(5);
  seen.clear();
  run(s, s.on({0, 0, 0}, core::Exited{core::ExitStatus::exited(3)}, now), now, &seen);
  CHECK(count<core::Spawn>(seen) == 1);  // a failure: restarted
  CHECK(s.lane({0, 0, 0}).last_exit()->to_string() == "exit 3");
}

TEST_CASE("a relative scale counts from the instances the app has, at least 1, at most 65536") {
  core::Supervisor s = make(2);
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  CHECK(s.relative_scale(0, 1).instances == 3);
  CHECK_FALSE(s.relative_scale(0, 1).refused);
  CHECK(s.relative_scale(0, -1).instances == 1);
  CHECK(s.relative_scale(0, 65534).instances == 65536);
  CHECK(s.relative_scale(0, -2).refused->reason ==
        "cannot scale web by -2: it has 2 workers and scale leaves at least 1; use `stop web` "
        "to stop them all");
  CHECK(s.relative_scale(0, -9).refused->reason ==
        "cannot scale web by -9: it has 2 workers and scale leaves at least 1; use `stop web` "
        "to stop them all");
  CHECK(s.relative_scale(0, 65535).refused->reason ==
        "cannot scale web by +65535: it has 2, and 65537 workers is over the limit of 65536");
  CHECK(s.check_scale(0, 65537)->reason == "cannot scale web to 65537 workers: at most 65536");
  run(s, s.scale(0, 1, "1: test", now).actions, now);
  CHECK(s.relative_scale(0, -1).refused->reason ==
        "cannot scale web by -1: it has 1 worker and scale leaves at least 1; use `stop web` "
        "to stop them all");
  CHECK(s.relative_scale(0, 4).instances == 5);
  run(s, s.stop_all(now), now);
  CHECK(s.relative_scale(0, 1).refused->reason == "clusterd is stopping; no changes accepted");
}

TEST_CASE("replacing a worker that does not run is refused, whatever generation its lane had") {
  core::Supervisor s = make(2);
  core::TimePoint now{};
  run(s, s.start_all(now), now);
  run(s, s.stop_app(0, now).actions, now);
  for (unsigned i = 0; i < 2; ++i) s.on({0, i, 0}, core::Exited{core::ExitStatus::exited(0)}, now);
  const core::Outcome o = s.replace(0, 1, "max_memory", now);
  REQUIRE(o.refused);
  CHECK(o.refused->reason == "web worker 1 is not running: nothing to replace");
  CHECK_FALSE(s.apps()[0].rollout);
}
