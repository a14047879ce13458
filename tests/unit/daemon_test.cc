// The whole daemon loop (supervisor/daemon/) over a fake host: signals, exits, notify datagrams,
// timers and control requests go in; spawns, signals, sockets and replies come out. No process is
// started, no socket is bound, the clock is a number.
#include "supervisor/daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <functional>

#include "daemon_loop.h"

using namespace clusterd;
using namespace std::chrono_literals;
using test::RecordingReply;

using test::Loop;
using test::web_config;

TEST_CASE("daemon: start spawns every slot with its socket at fd 3, READY=1 makes it run") {
  Loop loop(web_config());
  REQUIRE(loop.alive().size() == 2);
  const daemon::SpawnRequest& first = loop.host.workers.at(1).request;
  CHECK(first.argv == std::vector<std::string>{"/bin/web", "--v1"});
  REQUIRE(first.fds.size() == 1);
  CHECK(first.fds[0] != loop.host.workers.at(2).request.fds[0]);  // reuseport: one per slot
  CHECK(std::count(first.env.begin(), first.env.end(), "CLUSTER_WORKER_ID=0") == 1);
  CHECK(std::count(first.env.begin(), first.env.end(), "LISTEN_FDNAMES=http") == 1);
  CHECK(loop.host.binds == 2);
  CHECK(loop.host.sd_messages.back() == "STATUS=web 0/2 ready");
  loop.ready_all();
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Running);
  CHECK(loop.host.sd_messages.back() == "READY=1\nSTATUS=web 2/2 ready");
}

TEST_CASE("daemon: a worker killed with SIGKILL is replaced at once, its group killed too") {
  Loop loop(web_config());
  loop.ready_all();
  loop.advance(5s);
  const int old_pid = loop.host.workers.at(1).pid;
  loop.exit(1, core::ExitStatus::signaled(SIGKILL));
  CHECK(loop.host.tree_signals.back() == std::pair<int, int>{old_pid, SIGKILL});
  REQUIRE(loop.alive().size() == 2);
  const daemon::WorkerHandle fresh = loop.alive().back();
  CHECK(fresh == 3);
  CHECK(loop.web().restarts_of(0) == 1);
  CHECK(loop.web().slots[0].last_exit->to_string() == "signal SIGKILL");
  // The same slot's socket.
  CHECK(loop.host.workers.at(fresh).request.fds == loop.host.workers.at(1).request.fds);
}

TEST_CASE("daemon: a quick death backs off on a timer, then the slot starts again") {
  Loop loop(web_config());
  loop.ready_all();
  loop.exit(1, core::ExitStatus::exited(1));  // ran 0 ms: a quick death
  CHECK(loop.alive().size() == 1);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Backoff);
  loop.advance(99ms);
  CHECK(loop.alive().size() == 1);
  loop.advance(1ms);
  CHECK(loop.alive().size() == 2);
}

TEST_CASE("daemon: stop, start and restart over the control socket") {
  Loop loop(web_config());
  loop.ready_all();
  auto reply = loop.request(R"({"cmd":"stop","app":"web"})");
  CHECK(reply->last().message == "stopping web");
  CHECK(loop.signalled(1, SIGTERM));
  CHECK(loop.signalled(2, SIGTERM));
  loop.advance(5s);  // stop_timeout: SIGKILL to the groups
  CHECK(loop.host.tree_signals.size() == 2);
  loop.exit(1, core::ExitStatus::signaled(SIGKILL));
  loop.exit(2, core::ExitStatus::signaled(SIGKILL));
  CHECK(loop.alive().empty());
  CHECK(loop.request(R"({"cmd":"start","app":"web"})")->last().message == "starting web");
  CHECK(loop.alive().size() == 2);
  reply = loop.request(R"({"cmd":"restart","app":"web","worker":7})");
  CHECK(reply->last().error == "web has no worker 7 (it has 2)");
  reply = loop.request(R"({"cmd":"stop","app":"api"})");
  CHECK(reply->last().error == "no app named 'api'; apps: web");
}

TEST_CASE("daemon: scale while idle binds the new slots' sockets, scale down retires them") {
  Loop loop(web_config());
  loop.ready_all();
  auto reply = loop.request(R"({"cmd":"scale","app":"web","instances":4})");
  CHECK(reply->last().message == "scaled web from 2 to 4");
  CHECK(loop.host.binds == 4);
  CHECK(loop.alive().size() == 4);
  loop.ready_all();
  const std::size_t fds_before = loop.host.open_fds.size();
  reply = loop.request(R"({"cmd":"scale","app":"web","instances":1})");
  CHECK(loop.host.open_fds.size() == fds_before - 3);  // let go at once, so queues migrate
  for (daemon::WorkerHandle h : {2, 3, 4}) CHECK(loop.signalled(h, SIGTERM));
  for (daemon::WorkerHandle h : {4, 3, 2}) loop.exit(h, core::ExitStatus::signaled(SIGTERM));
  CHECK(loop.web().slots.size() == 1);
  CHECK(loop.request(R"({"cmd":"scale","app":"web","instances":0})")->last().error ==
        "scale needs at least 1 instance; use `stop web`");
}

TEST_CASE("daemon: scale +N and -N count from the instances the app has when asked") {
  Loop loop(web_config());
  loop.ready_all();
  auto reply = loop.request(R"({"cmd":"scale","app":"web","delta":1})");
  CHECK(reply->last().message == "scaled web from 2 to 3 (+1)");
  CHECK(loop.web().instances == 3);
  CHECK(loop.web().instances_reason == "3: set by scale +1 (was 2)");
  CHECK(loop.alive().size() == 3);
  loop.ready_all();
  reply = loop.request(R"({"cmd":"scale","app":"web","delta":-2})");
  CHECK(reply->last().message == "scaled web from 3 to 1 (-2)");
  CHECK(loop.web().instances == 1);
  for (daemon::WorkerHandle h : {2, 3}) CHECK(loop.signalled(h, SIGTERM));
  for (daemon::WorkerHandle h : {3, 2}) loop.exit(h, core::ExitStatus::signaled(SIGTERM));
  // None would be left: refused, nothing changes.
  const std::size_t signals = loop.host.signals.size();
  reply = loop.request(R"({"cmd":"scale","app":"web","delta":-1})");
  CHECK(reply->last().error ==
        "cannot scale web by -1: it has 1 worker and scale leaves at least 1; use `stop web` to "
        "stop them all");
  CHECK(loop.web().instances == 1);
  CHECK(loop.alive().size() == 1);
  CHECK(loop.host.signals.size() == signals);
  CHECK(loop.request(R"({"cmd":"scale","app":"web","delta":65536})")->last().error ==
        "cannot scale web by +65536: it has 1, and 65537 workers is over the limit of 65536");
  CHECK(loop.web().instances == 1);
}

TEST_CASE("daemon: a reload rolls the changed app, new workers first, with progress lines") {
  Loop loop(web_config());
  loop.ready_all();
  loop.host.config_text = web_config("2", "    env: { MODE: \"fast\" }\n");
  auto reply = loop.request(R"({"cmd":"reload"})");
  CHECK_FALSE(reply->finished);
  CHECK(loop.host.sd_messages.back().rfind("STATUS=reloading web 0/2", 0) == 0);
  REQUIRE(loop.alive().size() == 3);  // the canary beside the two old ones
  CHECK(loop.host.workers.at(3).request.fds == loop.host.workers.at(1).request.fds);
  loop.ready_all();  // the canary is ready: slot 0's old worker drains, slot 1's new one starts
  CHECK(loop.signalled(1, SIGTERM));
  loop.exit(1, core::ExitStatus::exited(0));
  loop.ready_all();
  loop.exit(2, core::ExitStatus::exited(0));
  REQUIRE(reply->finished);
  CHECK(reply->last().ok);
  CHECK(reply->last().message == "rolling web; web: 2 worker(s) replaced with generation 2");
  CHECK(control::decode_reply(reply->lines.front()).progress);
  CHECK(loop.host.binds == 2);  // the same sockets all along
  CHECK(loop.host.sd_messages.back() == "READY=1\nSTATUS=web 2/2 ready");
}

TEST_CASE("daemon: a bad config refuses the reload whole and nothing changes") {
  Loop loop(web_config());
  loop.ready_all();
  loop.host.config_text = web_config("2") + "    bogus: 1\n";
  auto reply = loop.request(R"({"cmd":"reload"})");
  REQUIRE(reply->finished);
  CHECK_FALSE(reply->last().ok);
  CHECK_THAT(reply->last().error, Catch::StartsWith("reload refused, nothing changed: 1 error\n"));
  CHECK_THAT(reply->last().error, Catch::Contains("bogus"));
  CHECK(loop.alive().size() == 2);
  CHECK(loop.host.signals.empty());
  CHECK(loop.host.sd_messages.back() == "READY=1\nSTATUS=web 2/2 ready");
}

TEST_CASE("daemon: a socket that cannot be bound refuses the reload, and closes what it bound") {
  Loop loop(web_config());
  loop.ready_all();
  const std::set<int> fds_before = loop.host.open_fds;
  loop.host.config_text = web_config("5");
  loop.host.fail_bind_after = 2;  // the third new socket fails with EMFILE
  auto reply = loop.request(R"({"cmd":"reload"})");
  REQUIRE(reply->finished);
  CHECK_THAT(reply->last().error,
             Catch::Contains("reload refused, nothing changed: socket 127.0.0.1:8080"));
  CHECK_THAT(reply->last().error, Catch::Contains("Too many open files"));
  CHECK(loop.host.open_fds == fds_before);
  CHECK(loop.alive().size() == 2);
  CHECK(loop.web().instances == 2);
  // The same by SIGHUP, which has no one to answer: the master goes on.
  loop.host.fail_bind_after = 0;
  loop.daemon->on_signal(SIGHUP);
  CHECK(loop.web().instances == 2);
  CHECK(loop.host.open_fds == fds_before);
}

TEST_CASE("daemon: a canary that dies before READY=1 rolls back, the old workers never stop") {
  Loop loop(web_config());
  loop.ready_all();
  loop.host.config_text = web_config("2", "    env: { BROKEN: \"1\" }\n");
  auto reply = loop.request(R"({"cmd":"reload"})");
  REQUIRE(loop.alive().size() == 3);
  loop.notify(3, "STATUS=cannot open database");
  loop.exit(3, core::ExitStatus::exited(1));
  REQUIRE(reply->finished);
  CHECK_FALSE(reply->last().ok);
  CHECK(reply->last().error ==
        "rolling web; web worker 0 of generation 2 failed: exit 1 (last STATUS: cannot open "
        "database); rolled back to generation 1");
  CHECK(loop.alive() == std::vector<daemon::WorkerHandle>{1, 2});
  CHECK(loop.host.signals.empty());
  CHECK(loop.web().generation == 1);
}

TEST_CASE("daemon: SIGTERM drains every worker, then the loop ends") {
  Loop loop(web_config());
  loop.ready_all();
  loop.daemon->on_signal(SIGTERM);
  CHECK(loop.host.sd_messages.back().rfind("STOPPING=1", 0) == 0);
  CHECK(loop.signalled(1, SIGTERM));
  CHECK_FALSE(loop.host.quit_called);
  CHECK(loop.request(R"({"cmd":"start","app":"web"})")->last().error ==
        "clusterd is stopping; no changes accepted");
  loop.exit(1, core::ExitStatus::signaled(SIGTERM));
  loop.exit(2, core::ExitStatus::exited(0));
  CHECK(loop.host.quit_called);
  CHECK(loop.daemon->finished());
  CHECK(loop.host.controls.empty());
}

TEST_CASE("daemon: a notify message from another uid does not count") {
  Loop loop(web_config("1", "    user: nobody\n"));
  loop.notify(1, "READY=1", 1000);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Starting);
  loop.notify(1, "READY=1", 65534);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Running);
}

TEST_CASE("daemon: a notify message counts only from the worker's own processes") {
  Loop loop(web_config("1"));
  os::NotifySender stranger;  // same uid, alive, but in another session and not below it
  stranger.uid = 0;
  stranger.pid = 4242;
  stranger.pidfds = true;
  stranger.pidfd = true;
  stranger.alive = true;
  stranger.session = 4242;
  loop.notify_from(1, "READY=1", stranger);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Starting);
  os::NotifySender gone = stranger;  // reaped before the master looked, no cgroup to ask
  gone.alive = false;
  gone.session = 0;
  loop.notify_from(1, "READY=1", gone);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Starting);
  os::NotifySender child = stranger;  // systemd-notify run by the worker's shell
  child.in_session = true;
  loop.notify_from(1, "READY=1", child);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Running);
}

TEST_CASE("daemon: with cgroups, a sender counts by its cgroup, even after it exited") {
  test::FakeHost* host = nullptr;
  Loop loop(web_config("1"), [&](test::FakeHost& h) {
    h.cgroups = true;
    host = &h;
  });
  REQUIRE(host != nullptr);
  os::NotifySender gone;  // reaped before the master looked: only its cgroup is known
  gone.uid = 0;
  gone.pid = 777;
  gone.pidfds = true;
  gone.pidfd = true;
  gone.cgroup = 1234;  // not the worker's (5001)
  loop.notify_from(1, "READY=1", gone);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Starting);
  gone.cgroup = 5001;
  loop.notify_from(1, "READY=1", gone);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Running);
}

TEST_CASE("daemon: max_memory samples on its timer and replaces a worker over the limit") {
  Loop loop(web_config("1", "    max_memory: 64M\n    memory_check_interval: 2s\n"));
  loop.ready_all();
  loop.host.rss_kb[loop.host.workers.at(1).pid] = 90000;
  loop.advance(2s);
  CHECK(loop.alive().size() == 1);  // one sample over is not enough
  loop.advance(2s);
  REQUIRE(loop.alive().size() == 2);  // a fresh worker beside the old one
  loop.ready_all();
  CHECK(loop.signalled(1, SIGTERM));
}

namespace {
bool armed(const test::FakeHost& host, daemon::TimerKey::Kind kind) {
  for (const auto& [key, deadline] : host.timers) {
    if (key.kind == kind) return true;
  }
  return false;
}
bool memory_armed(const test::FakeHost& host) {
  return armed(host, daemon::TimerKey::Kind::Memory);
}
}  // namespace

// Where the host sets max_memory as the worker cgroup's memory.high and watches memory.events
// (a memory controller), nothing is sampled: the kernel's report replaces the worker at once.
TEST_CASE("daemon: max_memory through memory.high: no sampling, replaced when the kernel says") {
  auto with_events = [](test::FakeHost& h) {
    h.cgroups = true;
    h.memory_events = true;
  };
  Loop loop(web_config("1", "    max_memory: 64M\n    memory_check_interval: 2s\n"), with_events);
  loop.ready_all();
  CHECK(loop.host.workers.at(1).request.memory_high == 64U << 20);
  CHECK_FALSE(memory_armed(loop.host));
  loop.host.rss_kb[loop.host.workers.at(1).pid] = 90000;  // sampling would see it: none runs
  loop.advance(2s);
  loop.advance(2s);
  CHECK(loop.alive().size() == 1);
  loop.daemon->on_memory_high(1, 70000);
  REQUIRE(loop.alive().size() == 2);      // a fresh worker beside the old one
  loop.daemon->on_memory_high(1, 71000);  // again while it is replaced: nothing more
  CHECK(loop.alive().size() == 2);
  loop.ready_all();
  CHECK(loop.signalled(1, SIGTERM));
  CHECK_FALSE(memory_armed(loop.host));

  // Without a memory controller the same config samples on its timer.
  Loop sampled(web_config("1", "    max_memory: 64M\n    memory_check_interval: 2s\n"),
               [](test::FakeHost& h) { h.cgroups = true; });
  sampled.ready_all();
  CHECK(memory_armed(sampled.host));
}

TEST_CASE("daemon: a worker with user: gets directories of its own in the service's") {
  auto setup = [](test::FakeHost& h) {
    h.environment_ = {"PATH=/usr/bin", "STATE_DIRECTORY=/var/lib/clusterd",
                      "LOGS_DIRECTORY=/var/log/clusterd:/var/log/other"};
  };
  Loop mine(web_config("1", "    user: nobody\n"), setup);
  CHECK(mine.host.private_dirs == std::vector<std::string>{"/var/lib/clusterd/web:65534:65534",
                                                           "/var/log/clusterd/web:65534:65534"});
  const std::vector<std::string>& env = mine.host.workers.at(1).request.env;
  CHECK(std::count(env.begin(), env.end(), "STATE_DIRECTORY=/var/lib/clusterd/web") == 1);
  CHECK(std::count(env.begin(), env.end(), "LOGS_DIRECTORY=/var/log/clusterd/web") == 1);
  CHECK(std::count(env.begin(), env.end(), "HOME=/nonexistent") == 1);
  Loop shared(web_config("1"), setup);  // no user: the master's own
  CHECK(shared.host.private_dirs.empty());
  const std::vector<std::string>& env2 = shared.host.workers.at(1).request.env;
  CHECK(std::count(env2.begin(), env2.end(), "STATE_DIRECTORY=/var/lib/clusterd") == 1);
}

namespace {
bool follow_armed(const test::FakeHost& host) {
  return armed(host, daemon::TimerKey::Kind::AutoFollow);
}
}  // namespace

TEST_CASE("daemon: auto_follow scales to a CPU limit that changes, and only then") {
  Loop loop(web_config("auto", "    auto_follow: 2s\n"));
  loop.ready_all();
  CHECK(loop.web().instances == 2);
  REQUIRE(follow_armed(loop.host));
  loop.advance(std::chrono::seconds(2));  // nothing changed: nothing happens
  CHECK(loop.alive().size() == 2);
  loop.host.cpu_budget.count = 3;
  loop.host.cpu_budget.reason = "3: affinity 0-3, cgroup quota 3.00";
  loop.advance(std::chrono::seconds(2));
  CHECK(loop.web().instances == 3);
  CHECK(loop.web().instances_reason == "3: affinity 0-3, cgroup quota 3.00 (auto_follow, was 2)");
  CHECK(loop.alive().size() == 3);
  loop.ready_all();
  // A scale by hand stays while the limit stays.
  CHECK(loop.request(R"({"cmd":"scale","app":"web","instances":4})")->last().ok);
  loop.ready_all();
  loop.advance(std::chrono::seconds(2));
  CHECK(loop.web().instances == 4);
  // The limit drops: the highest slots drain.
  loop.host.cpu_budget.count = 1;
  loop.advance(std::chrono::seconds(2));
  CHECK(loop.web().instances == 1);
  for (daemon::WorkerHandle h : {2, 3, 4}) CHECK(loop.signalled(h, SIGTERM));
  // scale auto does the same at once, without auto_follow too.
  loop.host.cpu_budget.count = 2;
  loop.host.cpu_budget.reason = "2: affinity 0-1";
  auto reply = loop.request(R"({"cmd":"scale","app":"web","instances":"auto"})");
  CHECK(reply->last().message == "scaled web from 1 to 2");
  CHECK(loop.web().instances_reason == "2: affinity 0-1 (scale auto, was 1)");
  // A reload without auto_follow leaves no timer: an idle master stays idle.
  loop.host.config_text = web_config("auto");
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK_FALSE(follow_armed(loop.host));
}

TEST_CASE("daemon: without auto_follow no timer is armed for it") {
  Loop loop(web_config("auto"));
  loop.ready_all();
  CHECK_FALSE(follow_armed(loop.host));
}
