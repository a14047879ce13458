// Stop-first rollouts: an app whose readiness is a probe of each worker's own port (ready: http,
// tcp on a port_per_worker listener) has the old worker of a slot stopped before the new one
// starts, so that the old one, still bound to port + N, cannot answer the new one's probe. A
// failed new worker gets the old generation back in the slot it emptied. Other apps start first.
#include <catch2/catch.hpp>

#include "fake_shell.h"
#include "probed_spec.h"

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;
using core::SlotAction;

namespace {

config::AppSpec spec_of(config::ReadyMode mode, unsigned batch) {
  config::AppSpec spec = test::probed_spec(mode);
  spec.command = {"/bin/web", "v1"};
  spec.stop_timeout = 5s;
  spec.probe.interval = 100ms;
  spec.rollout.batch = batch;
  return spec;
}

// The test decides what the workers and their probes do, and which armed timer fires.
struct Shell : test::FakeShell {
  Shell(config::ReadyMode mode, unsigned instances, unsigned batch = 1)
      : FakeShell(make(mode, instances, batch)) {}
  static core::AppState make(config::ReadyMode mode, unsigned instances, unsigned batch) {
    core::AppState app;
    app.spec = spec_of(mode, batch);
    app.instances = instances;
    return app;
  }
  void probe_fails(core::LaneId id, const std::string& why) {
    run(sup.on(id, core::ProbeResult{false, why}, now));
  }
  // ready_timeout passes: the lane kills its worker, which then exits.
  void ready_timeout(core::LaneId id) {
    now += 2s;
    run(sup.on(id, core::TimerFired{core::LaneTimer::State, state_token[{id.index, id.lane}]},
               now));
    exited(id, -1);
  }
  config::AppSpec v2() const {
    config::AppSpec spec = app().spec;
    spec.command = {"/bin/web", "v2"};
    return spec;
  }
  bool spawned(core::LaneId id) const {
    for (const SlotAction& a : actions()) {
      if (a.slot == id && std::holds_alternative<core::Spawn>(a.action)) return true;
    }
    return false;
  }
  bool signalled(int pid, int signal) const {
    for (const SlotAction& a : actions()) {
      const auto* s = std::get_if<core::Signal>(&a.action);
      if (s && s->pid == pid && s->signal == signal) return true;
    }
    return false;
  }
  // Slots with no worker that serves or is about to: down.
  unsigned down() const {
    unsigned n = 0;
    for (unsigned i = 0; i < app().instances; ++i) {
      const LaneState s = lane(active(i)).state();
      n += s != LaneState::Running || !lane(active(i)).wanted() ? 1 : 0;
    }
    return n;
  }
};

constexpr int kSigTerm = 15;

}  // namespace

TEST_CASE("a rollout of a probed port_per_worker app stops the old worker before the new starts") {
  Shell s(config::ReadyMode::Http, 3);
  const int old0 = s.lane(s.active(0)).pid();
  const int old1 = s.lane(s.active(1)).pid();
  s.roll(s.v2());
  REQUIRE(s.app().rollout);
  // The canary's slot: its old worker got its stop signal, and nothing started beside it.
  CHECK(s.signalled(old0, kSigTerm));
  CHECK_FALSE(s.spawned(s.fresh(0)));
  CHECK(s.lane(s.active(0)).state() == LaneState::Stopping);
  CHECK(s.lane(s.fresh(0)).state() == LaneState::Idle);
  CHECK(s.lane(s.active(1)).pid() == old1);  // the others keep serving
  CHECK(s.down() == 1);
  // Once the old one is gone, the new one starts in the slot, probed.
  s.exited(s.active(0), 0);
  CHECK(s.spawned(s.fresh(0)));
  CHECK(s.lane(s.fresh(0)).state() == LaneState::Starting);
  CHECK(s.lane(s.fresh(0)).generation() == 2);
  const auto step = s.actions();
  CHECK(std::any_of(step.begin(), step.end(), [&](const SlotAction& a) {
    return a.slot == s.fresh(0) && std::holds_alternative<core::Probe>(a.action);
  }));
  // Ready: promoted, and the next slot's old worker stops before its new one starts.
  s.ready(s.fresh(0));
  CHECK(s.lane(s.active(0)).generation() == 2);
  CHECK(s.lane(s.active(0)).state() == LaneState::Running);
  CHECK(s.signalled(old1, kSigTerm));
  CHECK_FALSE(s.spawned(s.fresh(1)));
  CHECK(s.down() == 1);
  for (unsigned i = 1; i < 3; ++i) {
    if (s.lane(s.active(i)).state() == LaneState::Stopping) s.exited(s.active(i), 0);
    REQUIRE(s.lane(s.fresh(i)).state() == LaneState::Starting);
    s.ready(s.fresh(i));
    if (i == 1) CHECK(s.down() == 1);
  }
  CHECK_FALSE(s.app().rollout);
  REQUIRE(s.app().last_rollout);
  CHECK(s.app().last_rollout->ok);
  CHECK(s.app().last_rollout->message == "web: 3 worker(s) replaced with generation 2");
  for (unsigned i = 0; i < 3; ++i) {
    CHECK(s.lane(s.active(i)).generation() == 2);
    CHECK(s.lane(s.active(i)).state() == LaneState::Running);
  }
}

TEST_CASE("a stop-first rollout takes down no more slots than its batch") {
  Shell s(config::ReadyMode::Tcp, 4, 2);
  s.roll(s.v2());
  CHECK(s.down() == 1);  // the canary alone
  s.exited(s.active(0), 0);
  s.ready(s.fresh(0));
  // Then two at a time: two old workers stopping, none starting yet.
  CHECK(s.down() == 2);
  CHECK(s.lane(s.active(1)).state() == LaneState::Stopping);
  CHECK(s.lane(s.active(2)).state() == LaneState::Stopping);
  CHECK(s.lane(s.active(3)).state() == LaneState::Running);
  s.exited(s.active(1), 0);
  CHECK(s.lane(s.fresh(1)).state() == LaneState::Starting);
  CHECK(s.lane(s.active(3)).state() == LaneState::Running);  // slot 2 still counts
  s.ready(s.fresh(1));
  CHECK(s.lane(s.active(3)).state() == LaneState::Stopping);
  CHECK(s.down() == 2);
  s.exited(s.active(2), 0);
  s.ready(s.fresh(2));
  s.exited(s.active(3), 0);
  s.ready(s.fresh(3));
  REQUIRE(s.app().last_rollout);
  CHECK(s.app().last_rollout->ok);
  CHECK(s.down() == 0);
}

TEST_CASE("a failed new worker of a stop-first rollout gets the old generation back in its slot") {
  Shell s(config::ReadyMode::Http, 3);
  const int old1 = s.lane(s.active(1)).pid();
  const int old2 = s.lane(s.active(2)).pid();
  s.roll(s.v2());
  s.exited(s.active(0), 0);
  s.probe_fails(s.fresh(0), "GET /healthz: 503");
  s.ready_timeout(s.fresh(0));
  // Rolled back: the slot the rollout emptied starts generation 1 again, probed as ever.
  REQUIRE(s.app().rollout);
  CHECK(s.app().rollout->rollback());
  CHECK(s.app().generation == 1);
  const core::LaneId back = s.fresh(0);
  CHECK(s.lane(back).state() == LaneState::Starting);
  CHECK(s.lane(back).generation() == 1);
  s.ready(back);
  CHECK_FALSE(s.app().rollout);
  REQUIRE(s.app().last_rollout);
  CHECK_FALSE(s.app().last_rollout->ok);
  CHECK(s.app().last_rollout->message ==
        "web worker 0 of generation 2 failed: not ready within ready_timeout (probe: GET "
        "/healthz: 503); rolled back to generation 1");
  CHECK(s.lane(s.active(0)).generation() == 1);
  CHECK(s.lane(s.active(0)).state() == LaneState::Running);
  CHECK(s.lane(s.active(1)).pid() == old1);  // never touched
  CHECK(s.lane(s.active(2)).pid() == old2);
  CHECK(s.down() == 0);
}

TEST_CASE(
    "a stop-first failure after a slot moved restores the emptied slot first, then the rest") {
  Shell s(config::ReadyMode::Http, 3);
  s.roll(s.v2());
  s.exited(s.active(0), 0);
  s.ready(s.fresh(0));  // slot 0 runs generation 2
  s.exited(s.active(1), 0);
  s.exited(s.fresh(1), 3);  // slot 1's new worker dies at start
  REQUIRE(s.app().rollout);
  CHECK(s.app().rollout->rollback());
  CHECK(s.app().rollout->pending == std::deque<unsigned>{0});     // then the moved one
  CHECK(s.app().rollout->in_flight == std::vector<unsigned>{1});  // emptied: first
  CHECK(s.lane(s.fresh(1)).generation() == 1);
  CHECK(s.lane(s.active(0)).state() == LaneState::Running);  // the moved slot serves meanwhile
  s.ready(s.fresh(1));
  // Then the moved slot, stop-first as well.
  CHECK(s.lane(s.active(0)).state() == LaneState::Stopping);
  CHECK(s.lane(s.active(0)).generation() == 2);
  s.exited(s.active(0), 0);
  CHECK(s.lane(s.fresh(0)).generation() == 1);
  s.ready(s.fresh(0));
  REQUIRE(s.app().last_rollout);
  CHECK(s.app().last_rollout->message ==
        "web worker 1 of generation 2 failed: exit 3; rolled back to generation 1");
  for (unsigned i = 0; i < 3; ++i) {
    CHECK(s.lane(s.active(i)).generation() == 1);
    CHECK(s.lane(s.active(i)).state() == LaneState::Running);
  }
}

TEST_CASE("a stop-first rollback that fails too leaves no slot it emptied without a worker") {
  Shell s(config::ReadyMode::Http, 2);
  s.roll(s.v2());
  s.exited(s.active(0), 0);
  s.exited(s.fresh(0), 1);
  REQUIRE(s.app().rollout);
  s.exited(s.fresh(0), 1);  // generation 1 fails to start again
  CHECK_FALSE(s.app().rollout);
  REQUIRE(s.app().last_rollout);
  CHECK(s.app().last_rollout->message.find("rolling back failed too") != std::string::npos);
  // Generation 1 starts in the slot again, under the restart policy this time.
  CHECK(s.lane(s.active(0)).state() == LaneState::Starting);
  CHECK(s.lane(s.active(0)).generation() == 1);
  CHECK_FALSE(s.lane(s.active(0)).one_shot());
}

TEST_CASE("replacing one worker of a probed app stops it first, and a failure starts it again") {
  Shell s(config::ReadyMode::Http, 2);
  const int old0 = s.lane(s.active(0)).pid();
  const core::Outcome o = s.sup.replace(0, 0, "max_memory", s.now);
  REQUIRE_FALSE(o.refused);
  s.run(o.actions);
  CHECK(s.signalled(old0, kSigTerm));
  CHECK_FALSE(s.spawned(s.fresh(0)));
  s.exited(s.active(0), 0);
  s.exited(s.fresh(0), 1);
  REQUIRE(s.app().rollout);
  s.ready(s.fresh(0));
  REQUIRE(s.app().last_rollout);
  CHECK(s.app().last_rollout->message ==
        "web worker 0 of generation 1 failed: exit 1; the slot runs generation 1 again");
  CHECK(s.lane(s.active(0)).state() == LaneState::Running);
}

TEST_CASE("an app not probed on its own port still starts the new worker first") {
  Shell s(config::ReadyMode::Notify, 2);
  s.roll(s.v2());
  REQUIRE(s.app().rollout);
  CHECK(s.spawned(s.fresh(0)));
  CHECK(s.lane(s.fresh(0)).state() == LaneState::Starting);
  CHECK(s.lane(s.active(0)).state() == LaneState::Running);  // the old one serves meanwhile
  CHECK(s.down() == 0);
  s.ready(s.fresh(0));
  CHECK(s.lane(s.fresh(0)).state() == LaneState::Stopping);  // stopped once the new is ready
}

TEST_CASE("a probed worker that says STOPPING=1 gets no successor beside it on its port") {
  Shell s(config::ReadyMode::Http, 2);
  const core::LaneId old = s.active(0);
  s.run(s.sup.on(old, core::WorkerStopping{}, s.now));
  CHECK_FALSE(s.spawned(s.fresh(0)));  // its successor would be probed on the port it holds
  CHECK(s.app().slots[0].active == old.lane);
  s.now += 2s;
  s.exited(old, 0);
  // Gone: the lane starts again (restart: always), and only the new worker holds the port.
  CHECK(s.spawned(old));
  CHECK(s.lane(old).state() == LaneState::Starting);
}
