// watch carried out: which changed paths count (core/watch_rules.h: the ignore globs), when
// changes become a restart (debounce, one restart owed while a rollout rolls), and the daemon
// loop over a fake host and a fake clock: a burst of changes rolls the app once through the
// rollout, changes during a rollout make one more after it, a reload watches anew, a removed app
// is unwatched, status and describe show it.
#include <catch2/catch.hpp>
#include <csignal>

#include "daemon_loop.h"
#include "supervisor/core/watch_rules.h"

using namespace clusterd;
using namespace std::chrono;
using test::Loop;
using test::web_config;
using V = core::WatchDebounce::Verdict;

namespace {

std::optional<core::TimePoint> watch_deadline(const test::FakeHost& host) {
  for (const auto& [key, deadline] : host.timers) {
    if (key.kind == daemon::TimerKey::Kind::Watch) return deadline;
  }
  return std::nullopt;
}

// Readies new workers and lets the stopped ones exit until the rollout is over (bounded).
void finish_rollout(Loop& loop) {
  for (int i = 0; i < 8 && loop.web().rollout; ++i) {
    loop.ready_all();
    for (daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
    }
  }
  loop.ready_all();
}

void change(Loop& loop, const std::string& path = "/srv/app/x.js") {
  REQUIRE(loop.host.file_watches.count(0) == 1);
  loop.host.file_watches.at(0).changed(path);
}

const std::string kWatch =
    "    watch: { paths: [/srv/app], ignore: [node_modules], debounce: 1s }\n";

}  // namespace

TEST_CASE("watch: globs") {
  struct Row {
    const char* glob;
    const char* text;
    bool match;
  };
  const Row rows[] = {
      {"*.log", "a.log", true},
      {"*.log", "dir/a.log", false},
      {"*", "", true},
      {"a?c", "abc", true},
      {"a?c", "a/c", false},
      {"**", "a/b/c", true},
      {"**/tmp", "a/b/tmp", true},
      {"build/*", "build/x", true},
      {"build/*", "build/x/y", false},
      {"[abc].js", "b.js", true},
      {"[!abc].js", "b.js", false},
      {"[a-c]x", "bx", true},
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"[", "[", true},
      {"**/a*/c", "x/y/ab/c", true},
      {"a*b*c*d", "aXbXcX", false},
      {"*.js", ".js", true},
  };
  for (const Row& row : rows) {
    INFO(row.glob << " vs " << row.text);
    CHECK(core::glob_match(row.glob, row.text) == row.match);
  }
  // A hostile glob is bounded: many stars against a long text that never matches.
  CHECK_FALSE(core::glob_match(std::string(200, '*') + "b", std::string(5000, 'a')));
}

TEST_CASE("watch: what is ignored, relative to the watched root") {
  struct Row {
    std::vector<std::string> globs;
    const char* path;
    bool ignored;
  };
  const Row rows[] = {
      {{"node_modules"}, "node_modules", true},
      {{"node_modules"}, "node_modules/x/y.js", true},
      {{"node_modules"}, "lib/node_modules/y.js", true},
      {{"node_modules/"}, "node_modules/y.js", true},
      {{"*.log"}, "app.log", true},
      {{"*.log"}, "logs/app.log", true},
      {{"*.log"}, "app.js", false},
      {{".git"}, ".git/index.lock", true},
      {{"build/*"}, "build/out.o", true},
      {{"build/*"}, "build/sub/out.o", true},
      {{"build/*"}, "src/build/out.o", false},
      {{"./dist"}, "dist/a.js", true},
      {{"src/*.tmp"}, "src/a.tmp", true},
      {{"src/*.tmp"}, "a.tmp", false},
      {{"**/cache"}, "a/b/cache/x", true},
      {{"node_modules", "*.log"}, "src/app.js", false},
      {{"*"}, "", false},  // the root itself never
      {{}, "a.js", false},
  };
  for (const Row& row : rows) {
    INFO(row.path);
    CHECK(core::watch_ignored(row.path, row.globs) == row.ignored);
  }
}

TEST_CASE("watch: debounce, as a table on a fake clock") {
  // Each row is one event at `at` ms: a change (what changed() returns: the time to arm, or
  // none), the timer's look (due(): its verdict, and when to look again with Wait), or the end
  // of a rollout (rollout_over(): whether the owed restart is due).
  enum class Op { Change, Look, RolloutOver };
  struct Row {
    Op op;
    int at;
    bool rolling = false;
    bool stopped = false;
    V verdict = V::Nothing;  // Look
    int again = -1;          // Change: the time to arm, -1 none; Look with Wait: when
    bool restart = false;    // RolloutOver
  };
  const Row rows[] = {
      // A burst: the first change arms the timer; later ones only push the settling time on.
      {Op::Change, 0, false, false, V::Nothing, 1000},
      {Op::Change, 400},
      {Op::Change, 900},
      {Op::Look, 1000, false, false, V::Wait, 1900},
      {Op::Look, 1900, false, false, V::Restart},
      {Op::Look, 3000, false, false, V::Nothing},  // a look the host could not cancel
      // Due while the app rolls: owed; however many bursts settle meanwhile, one restart.
      {Op::Change, 5000, false, false, V::Nothing, 6000},
      {Op::Look, 6000, true, false, V::AfterRollout},
      {Op::Change, 7000, false, false, V::Nothing, 8000},
      {Op::Look, 8000, true, false, V::AfterRollout},
      {Op::RolloutOver, 8500, true},  // still rolling
      {Op::RolloutOver, 9000, false, false, V::Nothing, -1, true},
      {Op::RolloutOver, 9100},  // once
      // Owed, and a new burst still settling at the rollout's end: the burst's restart is it.
      {Op::Change, 10000, false, false, V::Nothing, 11000},
      {Op::Look, 11000, true, false, V::AfterRollout},
      {Op::Change, 12000, false, false, V::Nothing, 13000},
      {Op::RolloutOver, 12500},
      {Op::Look, 13000, false, false, V::Restart},
      // A stopped app: the burst is dropped, nothing owed.
      {Op::Change, 20000, false, false, V::Nothing, 21000},
      {Op::Look, 21000, false, true, V::Skip},
      {Op::RolloutOver, 21500},
      // Owed, then stopped before the rollout ended: nothing.
      {Op::Change, 30000, false, false, V::Nothing, 31000},
      {Op::Look, 31000, true, false, V::AfterRollout},
      {Op::RolloutOver, 32000, false, true},
  };
  core::WatchDebounce d(seconds(1));
  const core::TimePoint t0{hours(1)};
  for (const Row& row : rows) {
    INFO("at " << row.at << " ms");
    const core::TimePoint now = t0 + milliseconds(row.at);
    switch (row.op) {
      case Op::Change: {
        const std::optional<core::TimePoint> arm = d.changed(now);
        if (row.again < 0) {
          CHECK_FALSE(arm);
        } else {
          CHECK(arm == t0 + milliseconds(row.again));
        }
        break;
      }
      case Op::Look: {
        const core::WatchDebounce::Look look = d.due(now, row.rolling, row.stopped);
        CHECK(look.verdict == row.verdict);
        if (row.verdict == V::Wait) CHECK(look.again == t0 + milliseconds(row.again));
        break;
      }
      case Op::RolloutOver:
        CHECK(d.rollout_over(row.rolling, row.stopped) == row.restart);
        break;
    }
  }
  CHECK_FALSE(d.owed());
  CHECK_FALSE(d.armed());
}

TEST_CASE("daemon: a burst of changes rolls the app once, its workers one by one") {
  Loop loop(web_config("2", kWatch));
  loop.ready_all();
  REQUIRE(loop.host.file_watches.count(0) == 1);
  CHECK(loop.host.file_watches.at(0).paths == std::vector<std::string>{"/srv/app"});
  CHECK(loop.host.file_watches.at(0).ignore == std::vector<std::string>{"node_modules"});
  for (int i = 0; i < 1000; ++i) change(loop);
  REQUIRE(watch_deadline(loop.host));
  CHECK(loop.request(R"({"cmd":"status","app":"web"})")
            ->lines.back()
            .find(R"("watch_pending":true)") != std::string::npos);
  loop.advance(milliseconds(999));
  CHECK(loop.web().generation == 1);
  change(loop);  // still coming: the burst settles a second after this one
  loop.advance(milliseconds(999));
  CHECK(loop.web().generation == 1);
  loop.advance(milliseconds(1));
  CHECK(loop.web().generation == 2);
  CHECK(loop.alive().size() == 3);  // the new worker first, no old one stopped yet
  CHECK_FALSE(loop.signalled(1, SIGTERM));
  finish_rollout(loop);
  CHECK_FALSE(loop.web().rollout);
  CHECK(loop.alive().size() == 2);
  loop.advance(seconds(10));
  CHECK(loop.web().generation == 2);  // one restart
}

TEST_CASE("daemon: changes during a rollout make one more restart after it, not a pile") {
  Loop loop(web_config("2", kWatch));
  loop.ready_all();
  change(loop);
  loop.advance(seconds(1));
  REQUIRE(loop.web().generation == 2);
  REQUIRE(loop.web().rollout);
  for (int burst = 0; burst < 5; ++burst) {
    for (int i = 0; i < 100; ++i) change(loop);
    loop.advance(seconds(2));
  }
  CHECK(loop.web().generation == 2);  // not while it rolls
  finish_rollout(loop);
  CHECK(loop.web().generation == 3);  // one, at its end
  finish_rollout(loop);
  loop.advance(seconds(10));
  CHECK(loop.web().generation == 3);
}

TEST_CASE("daemon: a reload watches anew, stops watching a removed watch or app") {
  Loop loop(web_config("2"));
  loop.ready_all();
  CHECK(loop.host.file_watches.empty());
  loop.host.config_text = web_config("2", kWatch);
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK(loop.web().generation == 1);  // no worker replaced by the reload itself
  REQUIRE(loop.host.file_watches.count(0) == 1);
  const int calls = loop.host.watch_calls;
  // Unchanged: not watched again.
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK(loop.host.watch_calls == calls);
  // Changed: watched anew.
  loop.host.config_text = web_config("2", "    watch: [/srv/other]\n");
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK(loop.host.watch_calls == calls + 1);
  CHECK(loop.host.file_watches.at(0).paths == std::vector<std::string>{"/srv/other"});
  // A change pending when the watch goes: nothing comes of it.
  change(loop);
  loop.host.config_text = web_config("2");
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK(loop.host.file_watches.empty());
  loop.advance(seconds(5));
  CHECK(loop.web().generation == 1);
  // The app removed: unwatched.
  loop.host.config_text = web_config("2", kWatch);
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  REQUIRE(loop.host.file_watches.count(0) == 1);
  loop.host.config_text =
      "control: { socket: /run/test/ctl.sock }\napps:\n  api:\n    command: [/bin/api]\n";
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK(loop.host.file_watches.count(0) == 0);
}

TEST_CASE("daemon: a stopped app's changes replace nothing, status and describe show the watch") {
  Loop loop(web_config("2", kWatch));
  loop.ready_all();
  const std::string status = loop.request(R"({"cmd":"status","app":"web"})")->lines.back();
  CHECK(status.find(R"("watching":1)") != std::string::npos);
  const std::string described = loop.request(R"({"cmd":"describe","app":"web"})")->lines.back();
  CHECK(described.find("/srv/app (1 of 1 watched); ignore node_modules; debounce 1s") !=
        std::string::npos);
  CHECK(loop.request(R"({"cmd":"stop","app":"web"})")->last().ok);
  for (daemon::WorkerHandle h : loop.alive()) loop.exit(h, core::ExitStatus::exited(0));
  const std::size_t spawned = loop.host.workers.size();
  change(loop);
  loop.advance(seconds(2));
  CHECK(loop.host.workers.size() == spawned);
  CHECK(loop.web().generation == 1);
}

TEST_CASE("daemon: without watch nothing is watched") {
  Loop loop(web_config("2"));
  CHECK(loop.host.file_watches.empty());
  CHECK(loop.request(R"({"cmd":"status","app":"web"})")->lines.back().find("watching") ==
        std::string::npos);
}
