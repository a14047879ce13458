// The small pure policies of the core: max_memory, what systemd is told, RLIMIT_NOFILE, and who
// may speak on a worker's notify socket.
#include <catch2/catch.hpp>

#include "supervisor/core/limits.h"
#include "supervisor/core/memory_policy.h"
#include "supervisor/core/notify_message.h"
#include "supervisor/core/readiness.h"

using namespace clusterd;
using namespace std::chrono_literals;

namespace {

core::Supervisor cluster(unsigned web, unsigned api, std::optional<std::uint64_t> max_memory) {
  core::AppState a;
  a.spec.name = "web";
  a.spec.command = {"/bin/web"};
  a.spec.ready = config::ReadyMode::Notify;
  a.spec.max_memory = max_memory;
  a.spec.memory_check_interval = 2s;
  a.instances = web;
  core::AppState b = a;
  b.spec.name = "api";
  b.spec.max_memory.reset();
  b.instances = api;
  return core::Supervisor({a, b});
}

// Spawns and readies every lane the actions start, with pids from 100 up.
void settle(core::Supervisor& s, std::vector<core::SlotAction> actions, bool ready = true) {
  static int pid = 100;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (!std::holds_alternative<core::Spawn>(actions[i].action)) continue;
    const core::SlotId id = actions[i].slot;
    for (auto& a : s.on(id, core::Spawned{pid++}, {})) actions.push_back(std::move(a));
    if (ready) {
      for (auto& a : s.on(id, core::Ready{}, {})) actions.push_back(std::move(a));
    }
  }
}

}  // namespace

TEST_CASE("max_memory: two samples over in a row replace a worker, one per app per round") {
  core::Supervisor s = cluster(3, 1, 64 * 1024 * 1024);
  settle(s, s.start_all({}));
  CHECK(core::MemoryPolicy::interval(s) == 2s);
  const std::vector<core::SlotId> watched = core::MemoryPolicy::watched(s);
  REQUIRE(watched.size() == 3);  // api has no max_memory
  core::MemoryPolicy policy;
  auto round = [&](std::uint64_t rss0, std::uint64_t rss1, std::uint64_t rss2) {
    return policy.check(s, {{watched[0], s.lane(watched[0]).pid(), rss0},
                            {watched[1], s.lane(watched[1]).pid(), rss1},
                            {watched[2], s.lane(watched[2]).pid(), rss2}});
  };
  CHECK(round(90000, 90000, 1000).empty());  // first sample over: not yet
  const std::vector<core::MemoryVerdict> verdicts = round(90000, 90000, 1000);
  REQUIRE(verdicts.size() == 1);  // both over twice, but one replacement per app at a time
  CHECK(verdicts[0].index == 0);
  CHECK(verdicts[0].lane == watched[0].lane);  // the serving lane, whose worker is replaced
  CHECK(verdicts[0].reason == "RSS 90000 KiB above max_memory 65536 KiB");
  CHECK(round(1000, 1000, 1000).empty());  // back under: the count starts over
  CHECK(round(90000, 1000, 1000).empty());
}

TEST_CASE("max_memory: no app sets it, no timer; a stopping cluster samples nothing") {
  core::Supervisor s = cluster(1, 1, std::nullopt);
  CHECK_FALSE(core::MemoryPolicy::interval(s));
  core::Supervisor t = cluster(1, 1, 1024);
  settle(t, t.start_all({}));
  t.stop_all({});
  CHECK_FALSE(core::MemoryPolicy::interval(t));
}

TEST_CASE("systemd hears READY=1 once every first worker is up, then STATUS= when it changes") {
  core::Supervisor s = cluster(2, 1, std::nullopt);
  core::SystemdReport report;
  const std::vector<core::SlotAction> started = s.start_all({});
  settle(s, started, false);
  CHECK_FALSE(core::settled(s));
  CHECK(report.update(s) == "STATUS=web 0/2 ready, api 0/1 ready");
  CHECK_FALSE(report.update(s));  // nothing new
  for (const core::SlotAction& a : started) {
    if (std::holds_alternative<core::Spawn>(a.action)) s.on(a.slot, core::Ready{}, {});
  }
  CHECK(report.update(s) == "READY=1\nSTATUS=web 2/2 ready, api 1/1 ready");
  report.reloading();
  CHECK(report.update(s) == "READY=1\nSTATUS=web 2/2 ready, api 1/1 ready");  // nothing rolls
  CHECK(core::status_line(s) == "web 2/2 ready, api 1/1 ready");
  s.stop_all({});
  CHECK_FALSE(report.update(s));  // STOPPING=1 says it all
}

TEST_CASE("workers get limits.nofile, else the limit clusterd was started with") {
  CHECK(core::worker_nofile(4096, std::nullopt, 1024) == core::NofileLimit{4096, 4096});
  CHECK(core::worker_nofile(std::nullopt, core::NofileLimit{1024, 524288}, 524288) ==
        core::NofileLimit{1024, 524288});
  // Someone lowered our hard limit since (prlimit): the worker cannot get more.
  CHECK(core::worker_nofile(std::nullopt, core::NofileLimit{1024, 524288}, 512) ==
        core::NofileLimit{512, 512});
  CHECK_FALSE(core::worker_nofile(std::nullopt, std::nullopt, 1024));
}

namespace {
core::NotifySender from(unsigned uid, int pid) {
  return {uid, pid, false, false, std::nullopt, 0, {}};
}
}  // namespace

TEST_CASE("notify: the uid must be the worker's, root's or the master's") {
  const core::NotifyWorker worker{500, 65534, std::nullopt};
  CHECK_FALSE(core::refuse_notify(from(0, 10), worker, 0));
  CHECK_FALSE(core::refuse_notify(from(65534, 10), worker, 0));
  CHECK(*core::refuse_notify(from(1000, 10), worker, 0) ==
        "from uid 1000 pid 10, not the worker's uid 65534");
}

TEST_CASE("notify: the sender must be one of the worker's processes") {
  const core::NotifyWorker worker{500, 65534, std::nullopt};
  core::NotifySender s{65534, 600, true, true, std::nullopt, 600, {1}};
  CHECK(*core::refuse_notify(s, worker, 0) ==
        "from uid 65534 pid 600, not one of the worker's processes (session 600)");
  s.session = 500;  // in the worker's session
  CHECK_FALSE(core::refuse_notify(s, worker, 0));
  s.session = 600;
  s.ancestors = {550, 500, 1};  // below it, in a session of its own
  CHECK_FALSE(core::refuse_notify(s, worker, 0));
  s.ancestors = {1};
  s.pid = 500;  // the worker itself
  CHECK_FALSE(core::refuse_notify(s, worker, 0));
  // Gone before the master looked, and no cgroup to ask: the socket and the uid vouch for it.
  core::NotifySender gone{65534, 601, true, false, std::nullopt, 0, {}};
  CHECK_FALSE(core::refuse_notify(gone, worker, 0));
  // With a cgroup of its own, the kernel remembers where even a dead sender was.
  const core::NotifyWorker boxed{500, 65534, 42};
  gone.cgroup = 42;
  CHECK_FALSE(core::refuse_notify(gone, boxed, 0));
  gone.cgroup = 43;
  CHECK(*core::refuse_notify(gone, boxed, 0) ==
        "from uid 65534 pid 601, a process outside the worker's cgroup");
  // A kernel without SCM_PIDFD: the socket and the uid are all there is.
  CHECK_FALSE(core::refuse_notify(from(65534, 602), boxed, 0));
}

TEST_CASE("deadlines saturate instead of overflowing") {
  const core::TimePoint now = core::TimePoint{} + 10s;
  CHECK(core::later(now, 5s) == now + 5s);
  CHECK(core::later(now, core::Duration::max()) == core::TimePoint::max());
  CHECK(core::later(now, core::Duration(-5)) == now);
  const core::NotifyMessage m = core::parse_notify("EXTEND_TIMEOUT_USEC=18446744073709551615");
  REQUIRE(m.extend_timeout);
  CHECK(core::later(now, *m.extend_timeout) > now);
}
