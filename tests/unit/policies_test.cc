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
    const core::LaneId id = actions[i].slot;
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
  const std::vector<core::LaneId> watched = core::MemoryPolicy::watched(s);
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

// A sender as the OS layer describes it, built up field by field for the table below.
struct Sender {
  core::NotifySender s;
  explicit Sender(unsigned uid, int pid = 600) {
    s.uid = uid;
    s.pid = pid;
  }
  Sender& pidfds() {  // the kernel hands pidfds (Linux 6.5+) ...
    s.pidfds = true;
    return *this;
  }
  Sender& pidfd() {  // ... and one came with this datagram
    s.pidfds = s.pidfd = true;
    return *this;
  }
  Sender& worker() {
    s.worker = true;
    return *this;
  }
  Sender& alive(int session) {
    s.alive = true;
    s.session = session;
    return *this;
  }
  Sender& in_session() {
    s.in_session = true;
    return *this;
  }
  Sender& below() {
    s.below = true;
    return *this;
  }
  Sender& cgroup(std::uint64_t id) {
    s.cgroup = id;
    return *this;
  }
};

struct NotifyCase {
  const char* what;
  core::NotifySender sender;
  core::NotifyWorker worker;
  std::string refused;  // empty: it counts
};

}  // namespace

TEST_CASE("notify: who may speak for a worker, and why not") {
  const core::NotifyWorker plain{65534, std::nullopt};  // no cgroup of its own
  const core::NotifyWorker boxed{65534, 42};            // per-worker cgroup 42
  const std::string counts;
  const std::string gone =
      "from uid 65534 pid 600, gone before the master read it: without a cgroup of the worker's "
      "own, only a process still there can be shown to be the worker's (wait for the master: "
      "sd_notify_barrier(), as systemd-notify does)";
  const std::vector<NotifyCase> cases = {
      // The uid, whatever else is known.
      {"root", Sender(0).s, plain, counts},
      {"the worker's uid, a kernel without pidfds", Sender(65534).s, plain, counts},
      {"another uid", Sender(1000, 10).pidfd().worker().s, plain,
       "from uid 1000 pid 10, not the worker's uid 65534"},
      {"the master's uid", Sender(7).pidfd().worker().s, plain, counts},
      // A kernel that hands pidfds, but none came: a sender reaped first (Linux 6.5 to 6.15).
      {"no pidfd came", Sender(65534).pidfds().s, plain,
       "from uid 65534 pid 600, gone before the master could tell which process it was (no "
       "pidfd came)"},
      {"no pidfd came, with cgroups", Sender(65534).pidfds().s, boxed,
       "from uid 65534 pid 600, gone before the master could tell which process it was (no "
       "pidfd came)"},
      // The worker itself, known by its pidfd: alive or just reaped (its last STATUS=).
      {"the worker, alive", Sender(65534, 500).pidfd().worker().alive(500).in_session().s, plain,
       counts},
      {"the worker, reaped", Sender(65534, 500).pidfd().worker().s, plain, counts},
      {"the worker, in another cgroup", Sender(65534, 500).pidfd().worker().cgroup(9).s, boxed,
       counts},
      // Alive: placed by its session and its parents.
      {"in the worker's session", Sender(65534).pidfd().alive(500).in_session().s, plain, counts},
      {"below the worker, in a session of its own", Sender(65534).pidfd().alive(600).below().s,
       plain, counts},
      {"a stranger of the same uid", Sender(65534).pidfd().alive(600).s, plain,
       "from uid 65534 pid 600, not one of the worker's processes (session 600)"},
      {"an orphan of another worker, handed to the master", Sender(65534).pidfd().alive(700).s,
       plain, "from uid 65534 pid 600, not one of the worker's processes (session 700)"},
      {"a stranger, the worker reaped meanwhile", Sender(65534).pidfd().alive(500).s, plain,
       "from uid 65534 pid 600, not one of the worker's processes (session 500)"},
      // Gone before the master read it: only a cgroup can place it.
      {"gone, no cgroup", Sender(65534).pidfd().s, plain, gone},
      {"gone, in the worker's cgroup", Sender(65534).pidfd().cgroup(42).s, boxed, counts},
      {"gone, outside the worker's cgroup", Sender(65534).pidfd().cgroup(43).s, boxed,
       "from uid 65534 pid 600, a process outside the worker's cgroup"},
      {"gone, its cgroup unknown (before Linux 6.13)", Sender(65534).pidfd().s, boxed, gone},
      // Alive with cgroups: the cgroup decides.
      {"alive below the worker but outside its cgroup",
       Sender(65534).pidfd().alive(500).in_session().cgroup(43).s, boxed,
       "from uid 65534 pid 600, a process outside the worker's cgroup"},
      {"alive, a stranger, its cgroup unknown", Sender(65534).pidfd().alive(600).s, boxed,
       "from uid 65534 pid 600, not one of the worker's processes (session 600)"},
  };
  for (const NotifyCase& c : cases) {
    INFO(c.what);
    const std::optional<std::string> why = core::refuse_notify(c.sender, c.worker, 7);
    CHECK(why.value_or("") == c.refused);
  }
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
