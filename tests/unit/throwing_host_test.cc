// A host that throws at one kind of call, in turn for each kind: the daemon must stay consistent
// (each action is its own exception boundary, daemon.cc). After every move the test checks that
// the daemon still answers status, that the core's state and the shell's tables agree (every
// lane with a pid runs a live worker of the host, every armed core timer has a host timer) and,
// at the end, that no socket leaked and later events (exits, timers) are still handled.
#include <csignal>

#include "daemon_loop.h"

namespace clusterd {
namespace {

using test::Loop;

// The lanes' armed core timers each have a host timer, and each lane with a pid runs a live
// worker of the host.
void check_consistent(Loop& loop) {
  if (!loop.daemon->finished()) {  // (a finished daemon has closed its control socket)
    const auto reply = loop.request(R"({"cmd":"status"})");
    REQUIRE(reply->finished);
    CHECK(reply->last().ok);
  }
  const auto& apps = loop.daemon->supervisor().apps();
  for (std::size_t a = 0; a < apps.size(); ++a) {
    for (unsigned i = 0; i < apps[a].slots.size(); ++i) {
      for (unsigned l = 0; l < 2; ++l) {
        const core::Lane& lane = apps[a].slots[i].lanes[l];
        INFO("app " << a << " slot " << i << " lane " << l);
        if (lane.pid() != 0) {
          bool running = false;
          for (const auto& [handle, worker] : loop.host.workers) {
            running = running || (worker.alive && worker.pid == lane.pid());
          }
          CHECK(running);
        }
        for (std::size_t t = 0; t < core::kLaneTimers; ++t) {
          if (lane.record().tokens[t] == 0) continue;
          const daemon::TimerKey key{daemon::TimerKey::Kind::Lane, a, i, l,
                                     static_cast<core::LaneTimer>(t)};
          CHECK(loop.host.timers.count(key) == 1);
        }
      }
    }
  }
}

// Ends the workers the daemon stopped (SIGTERM to the worker, or SIGKILL to its tree once its
// stop_timeout passed), as a worker would.
void exit_stopped(Loop& loop) {
  for (const daemon::WorkerHandle h : loop.alive()) {
    bool killed = false;
    for (const auto& [pid, sig] : loop.host.tree_signals) {
      killed = killed || (pid == loop.host.workers.at(h).pid && sig == SIGKILL);
    }
    if (loop.signalled(h, SIGTERM) || killed) loop.exit(h, core::ExitStatus::exited(0));
  }
}

// Lets time pass until every worker the app wants is up and ready (bounded).
void settle(Loop& loop) {
  for (int round = 0; round < 20; ++round) {
    exit_stopped(loop);
    loop.ready_all();
    check_consistent(loop);
    loop.advance(std::chrono::seconds(6));
  }
  exit_stopped(loop);
  loop.ready_all();
}

bool all_ready(const Loop& loop, unsigned instances) {
  const core::AppState& web = loop.web();
  if (web.instances != instances) return false;
  for (unsigned i = 0; i < web.instances; ++i) {
    if (web.slots[i].current().state() != core::LaneState::Running) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a host that throws at any kind of call leaves the daemon consistent") {
  // Each kind of host call the daemon makes while it runs, and a scenario that makes them all:
  // output, a crash and its backoff, a scale up and down, a restart.
  const char* kinds[] = {"spawn", "signal", "signal_tree",  "arm",      "cancel",
                         "bind",  "close",  "journal_send", "sd_notify"};
  for (const char* kind : kinds) {
    DYNAMIC_SECTION("the host throws at " << kind) {
      Loop loop(test::web_config("2"), [](test::FakeHost& h) { h.journal_stderr = true; });
      loop.ready_all();
      check_consistent(loop);
      const std::size_t fds = loop.host.open_fds.size();
      loop.host.fail_at = kind;
      loop.host.fail_times = 1;

      loop.daemon->on_output(loop.alive().front(), daemon::OutputStream::Out, "a line\n");
      check_consistent(loop);
      loop.exit(loop.alive().front(), core::ExitStatus::exited(1));  // a crash: a backoff timer
      check_consistent(loop);
      settle(loop);
      loop.request(R"({"cmd":"scale","app":"web","instances":3})");
      check_consistent(loop);
      settle(loop);
      loop.request(R"({"cmd":"scale","app":"web","instances":1})");
      check_consistent(loop);
      settle(loop);
      // Workers that ignore SIGTERM: SIGKILL to their tree after stop_timeout (5 s).
      loop.request(R"({"cmd":"restart","app":"web"})");
      check_consistent(loop);
      loop.advance(std::chrono::seconds(6));
      check_consistent(loop);
      settle(loop);
      loop.request(R"({"cmd":"scale","app":"web","instances":2})");
      settle(loop);

      CHECK(loop.host.failures == 1);           // the scenario did reach that kind of call
      CHECK(all_ready(loop, 2));                // later exits and timers were handled
      CHECK(loop.host.open_fds.size() == fds);  // the sockets of 2 slots again, none leaked
      // And it still stops gracefully.
      loop.daemon->on_signal(SIGTERM);
      settle(loop);
      CHECK(loop.daemon->finished());
    }
  }
}

}  // namespace clusterd
