// What a slot's state means for connections and counters: which sockets listen (no connection
// waits where nobody will serve), what "stopped" means for reload, scale and restart, the
// restart counters that never go back, the crash loop that ends with the defaults, and the slots
// a failed scale-up reload takes back. The core with a fake clock, then the daemon over a fake
// host.
#include <catch2/catch.hpp>
#include <csignal>

#include "daemon_loop.h"
#include "supervisor/core/supervisor.h"

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;
using test::Loop;
using test::web_config;

namespace {

// The number of the daemon's reuseport sockets that do not listen now.
std::size_t not_listening(const Loop& loop) { return loop.host.not_listening.size(); }

const control::Reply& last_reply(const std::shared_ptr<test::RecordingReply>& reply) {
  REQUIRE_FALSE(reply->lines.empty());
  static control::Reply decoded;
  decoded = control::decode_reply(reply->lines.back());
  return decoded;
}

}  // namespace

TEST_CASE("a crash loop fails with the defaults, though the backoff spreads it past the window") {
  config::AppSpec spec;  // max_restarts 10, restart_window 60s, backoff 100ms .. 30s
  spec.name = "web";
  spec.command = {"/bin/false"};
  spec.ready = config::ReadyMode::Exec;
  core::Lane lane;
  core::TimePoint now{};
  lane.on(core::StartRequested{}, now, spec);
  unsigned deaths = 0;
  for (; deaths < 40 && lane.state() != LaneState::Failed; ++deaths) {
    lane.on(core::Spawned{100 + static_cast<int>(deaths)}, now, spec);
    const auto out = lane.on(core::Exited{core::ExitStatus::exited(1)}, now, spec);
    if (lane.state() != LaneState::Backoff) break;
    now = lane.backoff_until();
    for (const core::Action& a : out) {
      if (const auto* t = std::get_if<core::ArmTimer>(&a)) {
        lane.on(core::TimerFired{t->timer, t->token}, now, spec);
      }
    }
  }
  CHECK(lane.state() == LaneState::Failed);
  CHECK(deaths == spec.max_restarts);  // the 11th quick death in a row gives up
  CHECK_THAT(lane.last_exit()->to_string(), Catch::Equals("exit 1"));
}

TEST_CASE("a slot serves while a worker starts or runs, or will within the grace; not otherwise") {
  core::AppState app;
  app.spec.name = "web";
  app.spec.command = {"/bin/true"};
  app.spec.ready = config::ReadyMode::Exec;
  app.spec.backoff_initial = 500ms;
  app.spec.backoff_max = 5s;
  app.spec.backoff_jitter = 0;
  app.instances = 1;
  std::vector<core::AppState> apps{app};
  core::Supervisor s(std::move(apps));
  core::TimePoint now{};
  const core::LaneId slot{0, 0, 0};
  CHECK_FALSE(s.serving(slot, now));  // never started
  s.start_all(now);
  CHECK(s.serving(slot, now));  // starting
  s.on(slot, core::Spawned{100}, now);
  CHECK(s.serving(slot, now));  // running
  // Each quick death doubles the backoff: 500 ms, 1 s, 2 s.
  auto die = [&](int pid) {
    s.on(slot, core::Spawned{pid}, now);
    unsigned token = 0;
    for (const auto& a : s.on(slot, core::Exited{core::ExitStatus::exited(1)}, now)) {
      if (const auto* t = std::get_if<core::ArmTimer>(&a.action)) token = t->token;
    }
    REQUIRE(s.lane(slot).state() == LaneState::Backoff);
    return token;
  };
  auto backoff_over = [&](unsigned token) {
    now = s.lane(slot).backoff_until();
    s.on(slot, core::TimerFired{core::LaneTimer::State, token}, now);
    REQUIRE(s.lane(slot).state() == LaneState::Starting);
  };
  const unsigned first = die(100);
  CHECK(s.serving(slot, now));  // back within the grace: connections wait for it
  backoff_over(first);
  const unsigned second = die(101);
  CHECK(s.serving(slot, now));  // 1 s: still within it
  backoff_over(second);
  die(102);  // 2 s
  CHECK(s.lane(slot).backoff_until() - now > core::kServeGrace);
  CHECK_FALSE(s.serving(slot, now));
  CHECK(s.serving(slot, s.lane(slot).backoff_until() - core::kServeGrace));
  s.stop_app(0, now);
  CHECK_FALSE(s.serving(slot, now));  // stopped
}

TEST_CASE("a stopped app stays stopped through scale and reload, and says so") {
  core::AppState app;
  app.spec.name = "web";
  app.spec.command = {"/bin/true"};
  app.spec.ready = config::ReadyMode::Exec;
  app.instances = 2;
  core::Supervisor s(std::vector<core::AppState>{app});
  core::TimePoint now{};
  for (const auto& a : s.start_all(now)) s.on(a.slot, core::Spawned{100 + int(a.slot.index)}, now);
  s.stop_app(0, now);
  for (unsigned i = 0; i < 2; ++i) s.on({0, i, 0}, core::Exited{core::ExitStatus::exited(0)}, now);
  CHECK(s.apps()[0].stopped);
  auto spawns = [](const core::Outcome& o) {
    return std::count_if(o.actions.begin(), o.actions.end(), [](const auto& a) {
      return std::holds_alternative<core::Spawn>(a.action);
    });
  };
  CHECK(spawns(s.scale(0, 3, "3: test", now)) == 0);
  CHECK(s.apps()[0].instances == 3);
  config::AppSpec next = app.spec;
  next.env = {{"V", "2"}};
  const core::Outcome rolled = s.roll(0, next, 3, "3: test", now);
  CHECK(spawns(rolled) == 0);
  CHECK_FALSE(s.apps()[0].rollout);
  REQUIRE(s.apps()[0].last_rollout);
  CHECK(s.apps()[0].last_rollout->message == "web is stopped: generation 2 starts at `start web`");
  CHECK(s.apps()[0].good_generation == 1);  // untried
  const core::Outcome restart = s.restart_worker(0, 1, now);
  REQUIRE(restart.refused);
  CHECK(restart.refused->reason == "web is stopped; `clusterctl start web` starts it");
  CHECK(s.restart_app(0, now).refused);
  CHECK(spawns(s.start_app(0, now)) == 3);
  for (unsigned i = 0; i < 3; ++i)
    CHECK(s.lane({0, i, s.apps()[0].slots[i].active}).generation() == 2);
}

TEST_CASE("restart counters count each unplanned end once, per slot, and never go back") {
  Loop loop(web_config("2", "    max_memory: 100M\n") + "metrics: \"127.0.0.1:9100\"\n");
  loop.ready_all();
  loop.advance(5s);
  loop.exit(1, core::ExitStatus::signaled(SIGKILL));  // a crash: counted
  loop.ready_all();
  CHECK(loop.web().restarts_of(0) == 1);
  // A replacement for max_memory counts once as "replaced"; the new worker runs in the other lane.
  const int pid = loop.web().slots[0].current().pid();
  loop.daemon->on_memory_high(3, 200 * 1024);
  loop.ready_all();
  for (const daemon::WorkerHandle h : loop.alive()) {
    if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
  }
  CHECK(loop.web().slots[0].current().pid() != pid);
  CHECK(loop.web().restarts_of(0) == 2);
  CHECK(loop.web().restarts[0][static_cast<std::size_t>(core::Unplanned::Replaced)] == 1);
  // A restart someone asked for is not counted, and the count stays after a rolling reload.
  loop.request(R"({"cmd":"restart","app":"web","worker":0})");
  for (const daemon::WorkerHandle h : loop.alive()) {
    if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
  }
  loop.ready_all();
  CHECK(loop.web().restarts_of(0) == 2);
  loop.host.config_text = web_config("2", "    max_memory: 100M\n    env: { V: \"2\" }\n") +
                          "metrics: \"127.0.0.1:9100\"\n";
  loop.request(R"({"cmd":"reload","wait":false})");
  for (int round = 0; round < 10 && loop.web().rollout; ++round) {
    loop.ready_all();
    for (const daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
    }
  }
  CHECK_FALSE(loop.web().rollout);
  CHECK(loop.web().restarts_of(0) == 2);
  CHECK(loop.web().restarts_of(1) == 0);
  // The metrics say the same.
  const daemon::HttpResponse page =
      loop.host.metrics.begin()->second(daemon::HttpRequest{"/metrics", false, "test", true});
  CHECK_THAT(page.body,
             Catch::Contains(
                 "clusterd_worker_restarts_total{app=\"web\",worker=\"0\",reason=\"replaced\"} 1"));
  CHECK_THAT(page.body,
             Catch::Contains(
                 "clusterd_worker_restarts_total{app=\"web\",worker=\"0\",reason=\"signal\"} 1"));
}

TEST_CASE("daemon: a failed slot's socket stops listening; a start makes it listen first") {
  Loop loop(web_config("2", "    max_restarts: 1\n    backoff: { initial: 10ms, max: 20ms }\n"));
  loop.ready_all();
  CHECK(not_listening(loop) == 0);
  for (int death = 0; death < 3 && loop.web().slots[1].current().state() != LaneState::Failed;
       ++death) {
    loop.exit(loop.alive().back(), core::ExitStatus::exited(1));
    loop.advance(50ms);
  }
  REQUIRE(loop.web().slots[1].current().state() == LaneState::Failed);
  CHECK(not_listening(loop) == 1);  // slot 1's; slot 0 still serves
  loop.request(R"({"cmd":"restart","app":"web","worker":1})");
  CHECK(not_listening(loop) == 0);
}

TEST_CASE("daemon: a stopped app stops listening as its workers end; start listens first") {
  Loop loop(web_config("2"));
  loop.ready_all();
  loop.request(R"({"cmd":"stop","app":"web"})");
  // Not under a draining worker: its accept() would fail, which Node and Go may take as fatal.
  CHECK(not_listening(loop) == 0);
  loop.exit(loop.alive().front(), core::ExitStatus::exited(0));
  CHECK(not_listening(loop) == 1);  // as soon as its worker is gone
  loop.exit(loop.alive().front(), core::ExitStatus::exited(0));
  CHECK(not_listening(loop) == 2);
  const auto scaled = loop.request(R"({"cmd":"scale","app":"web","instances":3})");
  CHECK(last_reply(scaled).ok);
  CHECK(loop.alive().empty());
  CHECK(not_listening(loop) == 3);
  loop.request(R"({"cmd":"start","app":"web"})");
  CHECK(loop.alive().size() == 3);
  CHECK(not_listening(loop) == 0);
}

TEST_CASE("daemon: a reload that adds slots and fails takes them back with the rollback") {
  Loop loop(web_config("2"));
  loop.ready_all();
  loop.host.config_text = web_config("4", "    env: { V: \"2\" }\n");
  loop.request(R"({"cmd":"reload","wait":false})");
  // The canary dies at start: the rollout fails, and the two added slots go with it.
  const daemon::WorkerHandle canary = loop.alive().back();
  loop.exit(canary, core::ExitStatus::exited(1));
  for (int round = 0; round < 10 && loop.web().rollout; ++round) {
    loop.ready_all();
    for (const daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
    }
  }
  CHECK_FALSE(loop.web().rollout);
  CHECK(loop.web().instances == 2);
  CHECK(loop.web().slots.size() == 2);
  CHECK(loop.web().generation == 1);
  CHECK(loop.alive().size() == 2);
  CHECK(not_listening(loop) == 0);
}

TEST_CASE("daemon: the memory-limit event names the generation and pid of the worker replaced") {
  auto with_events = [](test::FakeHost& h) {
    h.cgroups = true;
    h.memory_events = true;
  };
  Loop loop(web_config("1", "    max_memory: 64M\n"), with_events);
  loop.ready_all();
  // A rolling reload: generation 2 runs in the slot's other lane; lane 0 keeps generation 1.
  loop.host.config_text = web_config("1", "    max_memory: 64M\n    env: { V: \"2\" }\n");
  loop.request(R"({"cmd":"reload","wait":false})");
  for (int round = 0; round < 10 && loop.web().rollout; ++round) {
    loop.ready_all();
    for (const daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
    }
  }
  REQUIRE_FALSE(loop.web().rollout);
  REQUIRE(loop.web().slots[0].active == 1);
  REQUIRE(loop.web().slots[0].other().generation() == 1);
  const int pid = loop.web().slots[0].current().pid();
  REQUIRE(loop.alive().size() == 1);
  loop.daemon->on_memory_high(loop.alive().front(), 70000);
  const auto events = loop.request(R"({"cmd":"events","lines":100})");
  std::vector<control::EventRecord> limits;
  for (const std::string& line : events->lines) {
    const control::Reply reply = control::decode_reply(line);
    if (reply.event && reply.event->kind == "memory-limit") limits.push_back(*reply.event);
  }
  REQUIRE(limits.size() == 1);
  CHECK(limits[0].worker == 0);
  CHECK(limits[0].pid == pid);
  CHECK(limits[0].generation == 2);
}
