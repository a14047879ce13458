// restart_schedule carried out: when its timer is armed and what a firing means
// (supervisor/core/schedule.h), and the daemon loop over a fake host and a fake clock: it fires
// at its time and rolls the app through the rollout, re-arms for the next, a reload changes it,
// a stopped app is skipped, and status shows the next time.
#include "supervisor/core/schedule.h"

#include <catch2/catch.hpp>
#include <csignal>

#include "config/cron.h"
#include "daemon_loop.h"

using namespace clusterd;
using namespace std::chrono;
using test::Loop;
using test::web_config;

namespace {

config::CronSchedule schedule(const std::string& text) {
  config::Result<config::CronSchedule> r = config::parse_schedule(text);
  REQUIRE(r.value);
  return *r.value;
}

std::int32_t utc(std::int64_t) { return 0; }

constexpr std::int64_t kStart = 1'800'000'000;  // 2027-01-15 08:00:00 UTC: the fake wall clock
constexpr std::int64_t kNext3 = 1'800'068'400;  // 2027-01-16 03:00:00 UTC

std::optional<core::TimePoint> schedule_deadline(const test::FakeHost& host) {
  for (const auto& [key, deadline] : host.timers) {
    if (key.kind == daemon::TimerKey::Kind::Schedule) return deadline;
  }
  return std::nullopt;
}

// Both clocks move together, as on a machine whose wall clock is not set meanwhile.
void pass_time(Loop& loop, milliseconds by) {
  loop.host.wall_ms += by.count();
  loop.advance(by);
}

std::string app_status(Loop& loop) {
  return loop.request(R"({"cmd":"status","app":"web"})")->lines.back();
}

}  // namespace

TEST_CASE("schedule: armed for the next fire, the deadline that far on the steady clock") {
  const core::TimePoint now{hours(5)};
  const auto armed =
      core::arm_schedule(schedule("TZ=UTC 0 3 * * *"), kStart, kStart * 1000 + 250, now, utc);
  REQUIRE(armed);
  CHECK(armed->fire_s == kNext3);
  CHECK(armed->deadline == now + milliseconds((kNext3 - kStart) * 1000 - 250));
  // Due already (the arming ran late): due now, never in the past.
  const auto late =
      core::arm_schedule(schedule("TZ=UTC 0 3 * * *"), kStart, kNext3 * 1000 + 5, now, utc);
  REQUIRE(late);
  CHECK(late->deadline == now);
}

TEST_CASE("schedule: a firing restarts, skips a stopped app, waits for a wall clock set back") {
  const core::ScheduleStep on_time = core::schedule_fired(kNext3, kNext3 * 1000 + 3, false);
  CHECK(on_time.verdict == core::ScheduleVerdict::Restart);
  CHECK(on_time.rearm_after_s == kNext3);
  CHECK(core::schedule_fired(kNext3, kNext3 * 1000, true).verdict == core::ScheduleVerdict::Skip);
  const core::ScheduleStep early = core::schedule_fired(kNext3, kNext3 * 1000 - 1, false);
  CHECK(early.verdict == core::ScheduleVerdict::Early);
  CHECK(early.rearm_after_s == kNext3 - 1);  // the same fire again
  // The wall clock jumped a day on: one restart, and the next fire is counted from now.
  CHECK(core::schedule_fired(kNext3, (kNext3 + 86400 + 10) * 1000, false).rearm_after_s ==
        kNext3 + 86400 + 10);
}

TEST_CASE("schedule: a fire for people, in its zone and in UTC") {
  CHECK(core::describe_fire(kNext3, "Europe/Paris", [](std::int64_t) { return 3600; }) ==
        "2027-01-16 04:00 Europe/Paris (2027-01-16 03:00 UTC)");
  CHECK(core::describe_fire(0, "UTC", utc) == "1970-01-01 00:00 UTC (1970-01-01 00:00 UTC)");
}

TEST_CASE("daemon: restart_schedule rolls the app at its time, then arms the next") {
  Loop loop(web_config("2", "    restart_schedule: \"TZ=UTC 0 3 * * *\"\n"));
  loop.ready_all();
  const std::optional<core::TimePoint> deadline = schedule_deadline(loop.host);
  REQUIRE(deadline);
  CHECK(*deadline == loop.host.clock + seconds(kNext3 - kStart));
  const std::string status = app_status(loop);
  CHECK(status.find(R"x("next_restart":"2027-01-16 03:00 UTC (2027-01-16 03:00 UTC)")x") !=
        std::string::npos);
  // A second before: nothing.
  pass_time(loop, seconds(kNext3 - kStart - 1));
  CHECK(loop.web().generation == 1);
  CHECK(loop.alive().size() == 2);
  // At the time: a rollout to generation 2, a new worker ready before an old one stops.
  pass_time(loop, seconds(1));
  CHECK(loop.web().generation == 2);
  CHECK(loop.alive().size() == 3);
  CHECK_FALSE(loop.signalled(1, SIGTERM));
  loop.ready_all();
  CHECK(loop.signalled(1, SIGTERM));
  for (int i = 0; i < 4 && loop.alive().size() > 2; ++i) {
    for (daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
    }
    loop.ready_all();
  }
  CHECK(loop.alive().size() == 2);
  // Re-armed for the next day's 03:00.
  REQUIRE(schedule_deadline(loop.host));
  CHECK(*schedule_deadline(loop.host) == *deadline + hours(24));
  CHECK(app_status(loop).find("2027-01-17 03:00 UTC") != std::string::npos);
}

TEST_CASE("daemon: a reload that changes restart_schedule arms the new one, rolling nothing") {
  Loop loop(web_config("2", "    restart_schedule: \"TZ=UTC 0 3 * * *\"\n"));
  loop.ready_all();
  const core::TimePoint before = *schedule_deadline(loop.host);
  loop.host.config_text = web_config("2", "    restart_schedule: \"TZ=UTC 30 9 * * *\"\n");
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK(loop.web().generation == 1);
  REQUIRE(schedule_deadline(loop.host));
  CHECK(*schedule_deadline(loop.host) == loop.host.clock + seconds(90 * 60));  // 09:30 today
  CHECK(*schedule_deadline(loop.host) != before);
  // Without it: no timer.
  loop.host.config_text = web_config("2");
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK_FALSE(schedule_deadline(loop.host));
  CHECK(app_status(loop).find(R"("next_restart":null)") != std::string::npos);
}

TEST_CASE("daemon: a stopped app's restart_schedule is skipped and armed for the next") {
  Loop loop(web_config("2", "    restart_schedule: \"TZ=UTC 0 * * * *\"\n"));
  loop.ready_all();
  CHECK(loop.request(R"({"cmd":"stop","app":"web"})")->last().ok);
  for (daemon::WorkerHandle h : loop.alive()) loop.exit(h, core::ExitStatus::exited(0));
  const std::size_t spawned = loop.host.workers.size();
  pass_time(loop, hours(1));
  CHECK(loop.host.workers.size() == spawned);  // nothing started
  CHECK(loop.web().stopped);
  CHECK(loop.web().generation == 1);
  REQUIRE(schedule_deadline(loop.host));
  CHECK(*schedule_deadline(loop.host) == loop.host.clock + hours(1));
}

TEST_CASE("daemon: without restart_schedule no timer is armed for it") {
  Loop loop(web_config("2"));
  CHECK_FALSE(schedule_deadline(loop.host));
}
