#include "supervisor/core/lane.h"

#include <catch2/catch.hpp>

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;

namespace {

// Drives one slot with a fake clock and keeps the last batch of actions.
struct Harness {
  config::AppSpec spec;
  core::Lane slot;
  core::TimePoint now{};
  std::vector<core::Action> last;
  std::vector<core::Unplanned> counted;  // the unplanned ends the lane counted, in order

  Harness() {
    spec.name = "web";
    spec.command = {"/bin/true"};
  }
  std::vector<core::Action>& feed(const core::Event& event) {
    last = slot.on(event, now, spec, &counted);
    return last;
  }
  template <typename T>
  const T* find() const {
    for (const core::Action& action : last) {
      if (const T* found = std::get_if<T>(&action)) return found;
    }
    return nullptr;
  }
  template <typename T>
  bool has() const {
    return find<T>() != nullptr;
  }
  unsigned armed_token() const { return find<core::ArmTimer>()->token; }
  core::Duration armed_in() const {
    return std::chrono::duration_cast<core::Duration>(find<core::ArmTimer>()->deadline - now);
  }
  void start_running(int pid) {
    feed(core::StartRequested{});
    feed(core::Spawned{pid});
    if (spec.ready == config::ReadyMode::Notify) feed(core::Ready{});
  }
  static core::Exited exit_code(int code) { return core::Exited{core::ExitStatus::exited(code)}; }
  static core::Exited killed_by(int signal) {
    return core::Exited{core::ExitStatus::signaled(signal)};
  }
};

}  // namespace

TEST_CASE("ready: exec runs as soon as the spawn succeeded") {
  Harness h;
  h.feed(core::StartRequested{});
  CHECK(h.has<core::Spawn>());
  CHECK(h.slot.state() == LaneState::Starting);
  h.feed(core::Spawned{100});
  CHECK(h.slot.state() == LaneState::Running);
  CHECK(h.slot.pid() == 100);
  CHECK_FALSE(h.has<core::ArmTimer>());
}

TEST_CASE("ready: notify waits for READY=1 under ready_timeout") {
  Harness h;
  h.spec.ready = config::ReadyMode::Notify;
  h.spec.ready_timeout = 5s;
  h.feed(core::StartRequested{});
  h.feed(core::Spawned{100});
  CHECK(h.slot.state() == LaneState::Starting);
  REQUIRE(h.has<core::ArmTimer>());
  CHECK(h.armed_in() == 5s);
  h.now += 1s;
  h.feed(core::Ready{});
  CHECK(h.has<core::CancelTimer>());
  CHECK(h.slot.state() == LaneState::Running);
}

TEST_CASE("a worker that misses ready_timeout is killed and backs off") {
  Harness h;
  h.spec.ready = config::ReadyMode::Notify;
  h.feed(core::StartRequested{});
  h.feed(core::Spawned{100});
  const unsigned token = h.armed_token();
  h.now += 10s;
  h.feed(core::TimerFired{core::LaneTimer::State, token});
  const core::Signal* kill = h.find<core::Signal>();
  REQUIRE(kill != nullptr);
  CHECK(kill->signal == 9);
  CHECK(kill->group);
  CHECK(kill->pid == 100);
  h.feed(Harness::killed_by(9));
  CHECK(h.slot.state() == LaneState::Backoff);
  REQUIRE(h.slot.last_exit());
  CHECK(h.slot.last_exit()->kind == core::ExitStatus::Kind::ReadyTimeout);
}

TEST_CASE("a worker that ran longer than min_uptime is replaced at once") {
  Harness h;
  h.start_running(100);
  h.now += 5s;
  h.feed(Harness::killed_by(9));
  CHECK(h.has<core::Spawn>());
  CHECK_FALSE(h.has<core::ArmTimer>());
  CHECK(h.slot.state() == LaneState::Starting);
  h.feed(core::Spawned{101});
  CHECK(h.slot.state() == LaneState::Running);
  CHECK(h.counted == std::vector<core::Unplanned>{core::Unplanned::Signal});
  CHECK(h.slot.last_exit()->to_string() == "signal SIGKILL");
}

TEST_CASE("quick deaths back off exponentially, then the slot fails") {
  Harness h;
  h.spec.max_restarts = 3;
  h.start_running(100);
  std::vector<core::Duration> delays;
  for (int i = 0; i < 3; ++i) {
    h.now += 200ms;
    h.feed(Harness::exit_code(1));
    REQUIRE(h.slot.state() == LaneState::Backoff);
    delays.push_back(h.armed_in());
    const unsigned token = h.armed_token();
    h.now += h.armed_in();
    h.feed(core::TimerFired{core::LaneTimer::State, token});
    REQUIRE(h.has<core::Spawn>());
    h.feed(core::Spawned{101 + i});
  }
  CHECK(delays == std::vector<core::Duration>{100ms, 200ms, 400ms});
  h.now += 200ms;
  h.feed(Harness::exit_code(1));  // the 4th quick death within 60 s
  CHECK(h.slot.state() == LaneState::Failed);
  CHECK_FALSE(h.has<core::Spawn>());
  CHECK_FALSE(h.has<core::ArmTimer>());
  // A start command gives it a fresh chance.
  h.feed(core::StartRequested{});
  CHECK(h.has<core::Spawn>());
}

TEST_CASE("a long run resets the backoff streak") {
  Harness h;
  h.start_running(100);
  h.now += 100ms;
  h.feed(Harness::exit_code(1));
  CHECK(h.armed_in() == 100ms);
  h.now += 100ms;
  h.feed(core::TimerFired{core::LaneTimer::State, h.armed_token()});
  h.feed(core::Spawned{101});
  h.now += 100ms;
  h.feed(Harness::exit_code(1));
  CHECK(h.armed_in() == 200ms);
  h.now += 200ms;
  h.feed(core::TimerFired{core::LaneTimer::State, h.armed_token()});
  h.feed(core::Spawned{102});
  h.now += 10s;
  h.feed(Harness::exit_code(1));
  CHECK(h.has<core::Spawn>());  // ran long enough: at once
  h.feed(core::Spawned{103});
  h.now += 100ms;
  h.feed(Harness::exit_code(1));
  CHECK(h.armed_in() == 100ms);  // the streak started over
}

TEST_CASE("graceful stop: stop_signal, then SIGKILL of the group after stop_timeout") {
  Harness h;
  h.spec.stop_signal = 3;
  h.spec.stop_timeout = 2s;
  h.start_running(100);
  h.feed(core::StopRequested{});
  CHECK(h.slot.state() == LaneState::Stopping);
  const core::Signal* sent = h.find<core::Signal>();
  REQUIRE(sent != nullptr);
  CHECK(sent->signal == 3);
  CHECK_FALSE(sent->group);
  CHECK(h.armed_in() == 2s);
  const unsigned token = h.armed_token();
  h.now += 2s;
  h.feed(core::TimerFired{core::LaneTimer::State, token});
  REQUIRE(h.find<core::Signal>() != nullptr);
  CHECK(h.find<core::Signal>()->signal == 9);
  CHECK(h.find<core::Signal>()->group);
  h.feed(Harness::killed_by(9));
  CHECK(h.slot.state() == LaneState::Idle);
  CHECK(h.slot.pid() == 0);
  CHECK_FALSE(h.has<core::Spawn>());
}

TEST_CASE("a stale timer token is ignored") {
  Harness h;
  h.start_running(100);
  h.feed(core::StopRequested{});
  const unsigned token = h.armed_token();
  h.feed(Harness::exit_code(0));
  CHECK(h.slot.state() == LaneState::Idle);
  h.feed(core::TimerFired{core::LaneTimer::State, token});
  CHECK(h.last.empty());
  h.feed(core::TimerFired{core::LaneTimer::State, 0});
  CHECK(h.last.empty());
}

TEST_CASE("restart policies never and on-failure leave the slot idle") {
  Harness h;
  h.spec.restart = config::RestartPolicy::Never;
  h.start_running(100);
  h.now += 5s;
  h.feed(Harness::killed_by(11));
  CHECK(h.slot.state() == LaneState::Idle);
  Harness g;
  g.spec.restart = config::RestartPolicy::OnFailure;
  g.start_running(100);
  g.now += 5s;
  g.feed(Harness::exit_code(0));
  CHECK(g.slot.state() == LaneState::Idle);
  g.feed(core::StartRequested{});
  g.feed(core::Spawned{200});
  g.now += 5s;
  g.feed(Harness::exit_code(2));
  CHECK(g.slot.state() == LaneState::Starting);
}

TEST_CASE("a restart request stops the worker and starts a new one after it exited") {
  Harness h;
  h.start_running(100);
  h.feed(core::RestartRequested{});
  CHECK(h.slot.state() == LaneState::Stopping);
  CHECK_FALSE(h.has<core::Spawn>());
  h.feed(Harness::killed_by(15));
  CHECK(h.has<core::Spawn>());
  CHECK(h.slot.state() == LaneState::Starting);
}

TEST_CASE("stop during backoff cancels the timer, a failed spawn counts as a quick death") {
  Harness h;
  h.feed(core::StartRequested{});
  h.feed(core::Exited{core::ExitStatus::spawn_failed("execve: Permission denied")});
  CHECK(h.slot.state() == LaneState::Backoff);
  CHECK(h.slot.last_exit()->to_string() == "spawn failed: execve: Permission denied");
  h.feed(core::StopRequested{});
  CHECK(h.has<core::CancelTimer>());
  CHECK(h.slot.state() == LaneState::Idle);
}

TEST_CASE("every state change is reported as a Transition with a reason") {
  Harness h;
  h.feed(core::StartRequested{});
  const core::Transition* t = h.find<core::Transition>();
  REQUIRE(t != nullptr);
  CHECK(t->from == LaneState::Idle);
  CHECK(t->to == LaneState::Starting);
  CHECK(t->reason == "start requested");
}

TEST_CASE("watchdog: pings re-arm it, silence sends SIGABRT, then SIGKILL after stop_timeout") {
  Harness h;
  h.spec.watchdog = 1s;
  h.spec.stop_timeout = 2s;
  h.start_running(100);
  const core::ArmTimer* wd = nullptr;
  for (const core::Action& a : h.last) {
    if (const auto* t = std::get_if<core::ArmTimer>(&a); t && t->timer == core::LaneTimer::Watchdog)
      wd = t;
  }
  REQUIRE(wd != nullptr);
  CHECK(wd->deadline - h.now == 1s);
  const unsigned first = wd->token;
  h.now += 500ms;
  h.feed(core::WatchdogPing{});
  REQUIRE(h.find<core::ArmTimer>() != nullptr);
  const unsigned second = h.find<core::ArmTimer>()->token;
  CHECK(second != first);
  h.feed(core::TimerFired{core::LaneTimer::Watchdog, first});  // stale
  CHECK(h.last.empty());
  h.now += 1s;
  h.feed(core::TimerFired{core::LaneTimer::Watchdog, second});
  REQUIRE(h.find<core::Signal>() != nullptr);
  CHECK(h.find<core::Signal>()->signal == 6);
  const unsigned kill_token = h.find<core::ArmTimer>()->token;
  CHECK(h.armed_in() == 2s);
  h.now += 2s;
  h.feed(core::TimerFired{core::LaneTimer::State, kill_token});
  REQUIRE(h.find<core::Signal>() != nullptr);
  CHECK(h.find<core::Signal>()->signal == 9);
  h.feed(Harness::killed_by(9));
  REQUIRE(h.slot.last_exit());
  CHECK(h.slot.last_exit()->kind == core::ExitStatus::Kind::WatchdogTimeout);
  CHECK(h.has<core::Spawn>());  // ran longer than min_uptime: replaced at once
}

TEST_CASE("EXTEND_TIMEOUT_USEC moves the ready deadline") {
  Harness h;
  h.spec.ready = config::ReadyMode::Notify;
  h.feed(core::StartRequested{});
  h.feed(core::Spawned{100});
  const unsigned first = h.armed_token();
  h.now += 9s;
  h.feed(core::ExtendTimeout{20s});
  CHECK(h.armed_in() == 20s);
  h.feed(core::TimerFired{core::LaneTimer::State, first});  // the old deadline is void
  CHECK(h.last.empty());
  CHECK(h.slot.state() == LaneState::Starting);
}

TEST_CASE("spawns failing for want of a resource back off but never mark the slot failed") {
  Harness h;
  h.spec.max_restarts = 2;
  h.spec.backoff_max = 400ms;
  h.feed(core::StartRequested{});
  for (int i = 0; i < 20; ++i) {
    const core::ExitStatus status = core::ExitStatus::spawn_failed(
        "clone3: Resource temporarily unavailable", core::ExitStatus::Blame::Resources);
    h.feed(core::Exited{status});
    REQUIRE(h.slot.state() == LaneState::Backoff);
    CHECK(h.armed_in() <= 400ms);
    h.now += h.armed_in();
    h.feed(core::TimerFired{core::LaneTimer::State, h.armed_token()});
    REQUIRE(h.has<core::Spawn>());
  }
  h.feed(core::Exited{core::ExitStatus::spawn_failed("execve: Permission denied")});
  h.feed(core::TimerFired{core::LaneTimer::State, h.armed_token()});
  h.feed(core::Exited{core::ExitStatus::spawn_failed("execve: Permission denied")});
  h.feed(core::TimerFired{core::LaneTimer::State, h.armed_token()});
  h.feed(core::Exited{core::ExitStatus::spawn_failed("execve: Permission denied")});
  CHECK(h.slot.state() == LaneState::Failed);  // real failures still count
}

TEST_CASE("min_ready: a worker runs once it stayed up that long after its ready mode said so") {
  for (const config::ReadyMode mode :
       {config::ReadyMode::Exec, config::ReadyMode::Notify, config::ReadyMode::Listen}) {
    Harness h;
    h.spec.ready = mode;
    h.spec.ready_timeout = 30s;
    h.spec.min_ready = 2s;
    h.feed(core::StartRequested{});
    h.feed(core::Spawned{100});
    if (mode != config::ReadyMode::Exec) {
      CHECK(h.armed_in() == 30s);  // ready_timeout first
      h.now += 1s;
      h.feed(core::Ready{});
    }
    CHECK(h.slot.state() == LaneState::Starting);
    REQUIRE(h.has<core::ArmTimer>());
    CHECK(h.armed_in() == 2s);
    const unsigned token = h.armed_token();
    h.feed(core::Ready{});  // a second READY=1 changes nothing
    CHECK_FALSE(h.has<core::ArmTimer>());
    h.now += 2s;
    h.feed(core::TimerFired{core::LaneTimer::State, token});
    CHECK(h.slot.state() == LaneState::Running);
    CHECK_FALSE(h.has<core::Signal>());  // not taken for a missed ready_timeout
  }
}

TEST_CASE("min_ready: a worker that dies before it stayed up that long failed its start") {
  Harness h;
  h.spec.min_ready = 1s;  // ready: exec
  h.feed(core::StartRequested{});
  h.feed(core::Spawned{100});
  CHECK(h.slot.state() == LaneState::Starting);
  h.now += 500ms;
  h.feed(Harness::exit_code(7));
  CHECK(h.slot.state() == LaneState::Backoff);
  REQUIRE(h.slot.last_exit());
  CHECK(h.slot.last_exit()->to_string() == "exit 7");
}
