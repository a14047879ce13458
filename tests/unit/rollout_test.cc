#include <catch2/catch.hpp>

#include "fake_shell.h"

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;
using core::SlotAction;

namespace {

// The test decides what the workers do next (Ready, Exited) and when timers fire.
struct Shell : test::FakeShell {
  explicit Shell(unsigned instances, unsigned batch = 1, core::Duration canary = 0ms)
      : FakeShell(make(instances, batch, canary)) {}
  static core::AppState make(unsigned instances, unsigned batch, core::Duration canary) {
    core::AppState app;
    app.spec.name = "web";
    app.spec.command = {"/bin/app", "v1"};
    app.spec.ready = config::ReadyMode::Notify;
    app.spec.rollout.batch = batch;
    app.spec.rollout.canary_time = canary;
    app.instances = instances;
    return app;
  }
  // Lanes now starting a new worker (the rollout's in-flight slots).
  std::vector<unsigned> starting() const {
    std::vector<unsigned> out;
    for (unsigned i = 0; i < app().slots.size(); ++i) {
      if (app().slots[i].other().state() == LaneState::Starting) out.push_back(i);
    }
    return out;
  }
  config::AppSpec v2() const {
    config::AppSpec spec = app().spec;
    spec.command = {"/bin/app", "v2"};
    return spec;
  }
  // The old worker of slot i got its stop signal; let it exit.
  void drain(unsigned i) { exited(fresh(i), 0); }
};

}  // namespace

TEST_CASE("a rollout replaces the canary alone, then the rest in batches, old after new") {
  Shell s(4, 2);
  CHECK(s.sup.next_generation(0) == 2);
  s.roll(s.v2());
  CHECK(s.app().generation == 2);
  REQUIRE(s.app().rollout);
  CHECK(s.starting() == std::vector<unsigned>{0});  // the canary alone
  CHECK(s.sup.lane(s.fresh(0)).generation() == 2);
  CHECK(s.sup.lane(s.active(0)).state() == LaneState::Running);  // the old one still serves
  s.ready(s.fresh(0));
  // Promoted: the new worker is active, the old one got its stop signal; then a batch of two.
  CHECK(s.sup.lane(s.active(0)).generation() == 2);
  CHECK(s.sup.lane(s.fresh(0)).state() == LaneState::Stopping);
  CHECK(s.starting() == std::vector<unsigned>{1, 2});
  s.ready(s.fresh(1));
  CHECK(s.starting() == std::vector<unsigned>{2, 3});
  s.ready(s.fresh(2));
  s.ready(s.fresh(3));
  CHECK(s.starting().empty());
  CHECK(s.app().rollout);  // old workers are still draining
  for (unsigned i = 0; i < 4; ++i) s.drain(i);
  CHECK_FALSE(s.app().rollout);
  REQUIRE(s.app().last_rollout);
  CHECK(s.app().last_rollout->ok);
  CHECK(s.app().last_rollout->message == "web: 4 worker(s) replaced with generation 2");
  CHECK(s.app().good_generation == 2);
  for (unsigned i = 0; i < 4; ++i) CHECK(s.sup.spec(s.active(i)).command[1] == "v2");
}

TEST_CASE("a canary that never gets ready is rolled back and nothing else is touched") {
  Shell s(3);
  s.roll(s.v2());
  s.exited(s.fresh(0), 1);  // dies before READY=1
  CHECK_FALSE(s.app().rollout);
  REQUIRE(s.app().last_rollout);
  CHECK_FALSE(s.app().last_rollout->ok);
  CHECK(s.app().last_rollout->message ==
        "web worker 0 of generation 2 failed: exit 1; rolled back to generation 1");
  CHECK(s.app().generation == 1);
  for (unsigned i = 0; i < 3; ++i) {
    CHECK(s.sup.lane(s.active(i)).state() == LaneState::Running);
    CHECK(s.sup.lane(s.active(i)).generation() == 1);
    CHECK(s.sup.lane(s.fresh(i)).state() == LaneState::Idle);  // one-shot: not restarted
  }
}

TEST_CASE("a failure after some slots moved rolls those slots back to the last good generation") {
  Shell s(3);
  s.roll(s.v2());
  s.ready(s.fresh(0));
  s.drain(0);
  s.ready(s.fresh(1));
  s.drain(1);
  REQUIRE(s.starting() == std::vector<unsigned>{2});
  s.exited(s.fresh(2), 7);
  REQUIRE(s.app().rollout);
  CHECK(s.app().rollout->rollback());
  CHECK(s.app().rollout->to == 1);
  // Slot 1 (the last moved) goes back first, with a generation 1 worker in its other lane.
  CHECK(s.starting() == std::vector<unsigned>{1});
  CHECK(s.sup.lane(s.fresh(1)).generation() == 1);
  s.ready(s.fresh(1));
  s.drain(1);
  s.ready(s.fresh(0));
  s.drain(0);
  CHECK_FALSE(s.app().rollout);
  CHECK_FALSE(s.app().last_rollout->ok);
  CHECK(s.app().last_rollout->message ==
        "web worker 2 of generation 2 failed: exit 7; rolled back to generation 1");
  for (unsigned i = 0; i < 3; ++i) CHECK(s.sup.lane(s.active(i)).generation() == 1);
  // The next reload gets a fresh number: generations are never reused.
  CHECK(s.sup.next_generation(0) == 3);
  s.roll(s.v2());
  CHECK(s.app().generation == 3);
}

TEST_CASE("the canary must stay ready for canary_time before the others follow") {
  Shell s(2, 1, 500ms);
  s.roll(s.v2());
  s.ready(s.fresh(0));
  CHECK(s.starting().empty());
  CHECK(s.sup.lane(s.active(0)).generation() == 1);  // not promoted yet
  CHECK(s.app().rollout->phase == core::Rollout::Phase::CanaryWait);
  const core::ArmRolloutTimer* canary = nullptr;
  for (const SlotAction& a : s.log) {
    if (const auto* t = std::get_if<core::ArmRolloutTimer>(&a.action)) canary = t;
  }
  REQUIRE(canary != nullptr);
  CHECK(canary->deadline - s.now == 500ms);
  const unsigned token = canary->token;
  s.now += 500ms;
  s.run(s.sup.on(core::RolloutTimerFired{0, token + 1}, s.now));  // stale: nothing happens
  CHECK(s.sup.lane(s.active(0)).generation() == 1);
  s.run(s.sup.on(core::RolloutTimerFired{0, token}, s.now));
  CHECK(s.app().rollout->phase == core::Rollout::Phase::Rolling);
  CHECK(s.sup.lane(s.active(0)).generation() == 2);
  CHECK(s.starting() == std::vector<unsigned>{1});
}

TEST_CASE("a canary that dies during canary_time fails the rollout") {
  Shell s(2, 1, 500ms);
  s.roll(s.v2());
  s.ready(s.fresh(0));
  s.now += 200ms;
  s.run(s.sup.on(s.fresh(0), core::Exited{core::ExitStatus::signaled(11)}, s.now));
  CHECK_FALSE(s.app().rollout);
  CHECK(s.app().last_rollout->message ==
        "web worker 0 of generation 2 failed: signal SIGSEGV; rolled back to generation 1");
  CHECK(s.sup.lane(s.active(0)).state() == LaneState::Running);
}

TEST_CASE("scaling and a second roll are refused while a rollout runs, stop abandons it") {
  Shell s(2);
  s.roll(s.v2());
  CHECK(s.sup.rolling());
  const core::Outcome scaled = s.sup.scale(0, 4, "4: test", s.now);
  REQUIRE(scaled.refused);
  CHECK(scaled.refused->reason == "web is being rolled out; try again when the rollout is over");
  CHECK(scaled.actions.empty());
  CHECK(s.sup.roll(0, s.v2(), 2, "", s.now).refused);
  CHECK(s.sup.restart_app(0, s.now).refused);
  s.run(s.sup.stop_all(s.now));
  CHECK_FALSE(s.sup.rolling());
  CHECK(s.app().last_rollout->message == "abandoned: clusterd is stopping");
}

TEST_CASE("replace swaps one worker for a fresh one of the same generation, new one first") {
  Shell s(2);
  const int old_pid = s.sup.lane(s.active(1)).pid();
  s.run(s.sup.replace(0, 1, "RSS 90000 KiB above max_memory 65536 KiB", s.now).actions);
  CHECK(s.starting() == std::vector<unsigned>{1});
  CHECK(s.sup.lane(s.fresh(1)).generation() == 1);
  CHECK(s.sup.lane(s.active(1)).pid() == old_pid);  // still serving
  s.ready(s.fresh(1));
  CHECK(s.sup.lane(s.active(1)).pid() != old_pid);
  s.drain(1);
  CHECK_FALSE(s.app().rollout);
  CHECK(s.app().last_rollout->ok);
  CHECK(s.app().last_rollout->message ==
        "web worker 1 replaced (RSS 90000 KiB above max_memory 65536 KiB)");
  CHECK(s.app().generation == 1);
  CHECK(s.sup.replace(0, 7, "x", s.now).refused->reason == "web has no worker 7");
}

TEST_CASE("a reload that adds slots starts them with the new generation, after the canary") {
  Shell s(2);
  s.run(s.sup.roll(0, s.v2(), 4, "4: set in config", s.now).actions);
  CHECK(s.app().instances == 4);
  CHECK(s.app().slots.size() == 4);
  CHECK(s.starting() == std::vector<unsigned>{0});  // the canary alone, even for new capacity
  s.ready(s.fresh(0));
  for (unsigned i = 1; i < 4; ++i) {
    CHECK(s.starting() == std::vector<unsigned>{i});
    s.ready(s.fresh(i));
  }
  s.drain(0);
  s.drain(1);  // slots 2 and 3 had no old worker to drain
  CHECK_FALSE(s.app().rollout);
  CHECK(s.app().last_rollout->ok);
  for (unsigned i = 0; i < 4; ++i) {
    CHECK(s.sup.lane(s.active(i)).state() == LaneState::Running);
    CHECK(s.sup.lane(s.active(i)).generation() == 2);
  }
}

TEST_CASE("a reload that removes slots stops and retires them and rolls the rest") {
  Shell s(3);
  const core::Outcome outcome = s.sup.roll(0, s.v2(), 1, "1: set in config", s.now);
  s.run(outcome.actions);
  int stops = 0;
  for (const SlotAction& a : outcome.actions) {
    if (const auto* signal = std::get_if<core::Signal>(&a.action); signal && signal->signal == 15) {
      CHECK(a.slot.index >= 1);
      ++stops;
    }
  }
  CHECK(stops == 2);
  CHECK(s.starting() == std::vector<unsigned>{0});
  s.exited(s.active(2), 0);
  s.exited(s.active(1), 0);
  CHECK(s.app().slots.size() == 1);  // retired once idle
  s.ready(s.fresh(0));
  s.drain(0);
  CHECK_FALSE(s.app().rollout);
  CHECK(s.sup.lane(s.active(0)).generation() == 2);
}
