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
  core::WatchDebounce d(seconds(1));
  const core::TimePoint t0{hours(1)};
  // The first change arms the timer; later ones only push the settling time on.
  REQUIRE(d.changed(t0) == t0 + seconds(1));
  CHECK_FALSE(d.changed(t0 + milliseconds(400)));
  CHECK_FALSE(d.changed(t0 + milliseconds(900)));
  // The timer fires at t0+1s: a change came at +900 ms, so look again at +1.9 s.
  const core::WatchDebounce::Look early = d.due(t0 + seconds(1), false, false);
  CHECK(early.verdict == V::Wait);
  CHECK(early.again == t0 + milliseconds(1900));
  CHECK(d.due(t0 + milliseconds(1900), false, false).verdict == V::Restart);
  CHECK(d.due(t0 + seconds(3), false, false).verdict == V::Nothing);  // a stale look
  // Due while the app rolls: owed, one restart when it is over, however many came.
  REQUIRE(d.changed(t0 + seconds(5)));
  CHECK(d.due(t0 + seconds(6), true, false).verdict == V::AfterRollout);
  REQUIRE(d.changed(t0 + seconds(7)));
  CHECK(d.due(t0 + seconds(8), true, false).verdict == V::AfterRollout);
  CHECK_FALSE(d.rollout_over(true, false));  // still rolling
  CHECK(d.rollout_over(false, false));
  CHECK_FALSE(d.rollout_over(false, false));  // once
  // Owed, and a new burst still settling: the burst's restart is the one.
  REQUIRE(d.changed(t0 + seconds(10)));
  CHECK(d.due(t0 + seconds(11), true, false).verdict == V::AfterRollout);
  REQUIRE(d.changed(t0 + seconds(12)));
  CHECK_FALSE(d.rollout_over(false, false));
  CHECK(d.due(t0 + seconds(13), false, false).verdict == V::Restart);
  // A stopped app: dropped, nothing owed.
  REQUIRE(d.changed(t0 + seconds(20)));
  CHECK(d.due(t0 + seconds(21), false, true).verdict == V::Skip);
  CHECK_FALSE(d.owed());
  // Owed, then stopped before the rollout ended: nothing.
  REQUIRE(d.changed(t0 + seconds(30)));
  CHECK(d.due(t0 + seconds(31), true, false).verdict == V::AfterRollout);
  CHECK_FALSE(d.rollout_over(false, true));
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
