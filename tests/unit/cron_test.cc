// restart_schedule: the cron syntax (config/cron.h) and when a schedule fires next
// (supervisor/core/next_fire.h), across DST changes of zones given as rules, as the tz database has
// them for 2024.
#include "config/cron.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "supervisor/core/next_fire.h"

using namespace clusterd;
using namespace std::chrono;

namespace {

// "2024-03-31 01:00" UTC -> seconds since the epoch.
std::int64_t utc(int y, unsigned m, unsigned d, int hh, int mm = 0, int ss = 0) {
  const sys_days date{year{y} / month{m} / std::chrono::day{d}};
  return date.time_since_epoch().count() * 86400 + hh * 3600 + mm * 60 + ss;
}

std::int64_t at(const sys_days& day, int hh, int mm = 0) {
  return day.time_since_epoch().count() * 86400 + hh * 3600 + mm * 60;
}

int year_of(std::int64_t t) {
  return static_cast<int>(year_month_day{sys_days{days{t / 86400}}}.year());
}

// Europe/Paris: CET (+1), CEST (+2) from the last Sunday of March 01:00 UTC to the last Sunday of
// October 01:00 UTC.
std::int32_t paris(std::int64_t t) {
  const year y{year_of(t)};
  const std::int64_t from = at(sys_days{y / March / Sunday[last]}, 1);
  const std::int64_t to = at(sys_days{y / October / Sunday[last]}, 1);
  return t >= from && t < to ? 7200 : 3600;
}

// America/New_York: EST (-5), EDT (-4) from the second Sunday of March 07:00 UTC (02:00 EST) to
// the first Sunday of November 06:00 UTC (02:00 EDT).
std::int32_t new_york(std::int64_t t) {
  const year y{year_of(t)};
  const std::int64_t from = at(sys_days{y / March / Sunday[2]}, 7);
  const std::int64_t to = at(sys_days{y / November / Sunday[1]}, 6);
  return t >= from && t < to ? -14400 : -18000;
}

// Australia/Lord_Howe: +10:30, and +11 (a change of half an hour) from the first Sunday of
// October 02:00 local (15:30 UTC the day before) to the first Sunday of April 02:00 local (15:00
// UTC the day before): summer spans the new year.
std::int32_t lord_howe(std::int64_t t) {
  const year y{year_of(t)};
  const std::int64_t to = at(sys_days{y / April / Sunday[1]} - days{1}, 15);
  const std::int64_t from = at(sys_days{y / October / Sunday[1]} - days{1}, 15, 30);
  return t < to || t >= from ? 39600 : 37800;
}

std::int32_t zero(std::int64_t) { return 0; }

config::CronSchedule schedule(const std::string& text) {
  config::Result<config::CronSchedule> r = config::parse_schedule(text);
  INFO(text << ": " << r.error);
  REQUIRE(r.value);
  return *r.value;
}

std::int64_t next(const std::string& text, std::int64_t after, const core::UtcOffset& offset) {
  const std::optional<std::int64_t> t = core::next_fire(schedule(text), after, offset);
  REQUIRE(t);
  return *t;
}

}  // namespace

TEST_CASE("cron fields: lists, ranges, steps, names, and the time zone first", "[cron]") {
  const config::CronSchedule s = schedule("TZ=Europe/Paris */15 9-17/4 1,15 jan,JUL-aug mon-fri");
  CHECK(s.zone == "Europe/Paris");
  CHECK(s.minutes.count() == 4);  // 0, 15, 30, 45
  CHECK((s.minutes[0] && s.minutes[15] && s.minutes[30] && s.minutes[45]));
  CHECK(s.hours.count() == 3);  // 9, 13, 17
  CHECK((s.hours[9] && s.hours[13] && s.hours[17]));
  CHECK((s.days[1] && s.days[15] && s.days.count() == 2));
  CHECK((s.months[1] && s.months[7] && s.months[8] && s.months.count() == 3));
  CHECK(s.weekdays.to_string() == "0111110");
  CHECK_FALSE(s.every_day);
  CHECK_FALSE(s.every_weekday);
  CHECK(schedule("TZ=UTC 0 0 * * 7").weekdays.to_string() == "0000001");  // 7 is Sunday
  CHECK(schedule("TZ=UTC 5/20 * * * *").minutes.count() == 3);            // 5, 25, 45
  CHECK(schedule("TZ=local @daily").text == "TZ=local @daily");
  CHECK(schedule("TZ=UTC @weekly").weekdays.to_string() == "0000001");
}

TEST_CASE("cron errors say which field and why", "[cron]") {
  const auto error = [](const std::string& text) { return config::parse_schedule(text).error; };
  CHECK(error("0 3 * * *") ==
        "expected the time zone first: TZ=UTC 0 3 * * *, TZ=Europe/Paris 0 3 * * *, or TZ=local "
        "for the machine's");
  CHECK(error("TZ=../etc/passwd 0 3 * * *") ==
        "expected a time zone name after TZ=, got '../etc/passwd'");
  CHECK(
      error("TZ=UTC 0 3 * *") ==
      "expected 5 fields after the time zone (minute hour day-of-month month day-of-week), got 4");
  CHECK(error("TZ=UTC 0 0 3 * * *") ==
        "expected 5 fields after the time zone (minute hour day-of-month month day-of-week), got 6 "
        "(a leading seconds field, which PM2 allows, is not supported)");
  CHECK(error("TZ=UTC 60 * * * *") == "minute: '60' is out of range 0-59");
  CHECK(error("TZ=UTC 0 5-2 * * *") == "hour: range '5-2' goes backwards");
  CHECK(error("TZ=UTC */0 * * * *") == "minute: expected a step from 1 to 59 after '/', got '0'");
  CHECK(error("TZ=UTC 0 0 * foo *") == "month: expected a number or a name, got 'foo'");
  CHECK(error("TZ=UTC 0 0 0 * *") == "day of month: '0' is out of range 1-31");
  CHECK(error("TZ=UTC 0 0 1,,2 * *") == "day of month: an empty item in '1,,2'");
  CHECK(error("TZ=UTC 0 0 30 2 *") == "never fires: no month has such a day");
  CHECK(error("TZ=UTC @reboot") ==
        "unknown '@reboot'; expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or "
        "@annually");
}

TEST_CASE("next fire time in UTC and in a fixed zone", "[cron]") {
  CHECK(next("TZ=UTC 0 3 * * *", utc(2024, 5, 1, 12), zero) == utc(2024, 5, 2, 3));
  CHECK(next("TZ=UTC 0 3 * * *", utc(2024, 5, 2, 2, 59, 59), zero) == utc(2024, 5, 2, 3));
  CHECK(next("TZ=UTC 0 3 * * *", utc(2024, 5, 2, 3), zero) ==
        utc(2024, 5, 3, 3));  // strictly after
  CHECK(next("TZ=UTC */15 * * * *", utc(2024, 5, 2, 3, 7), zero) == utc(2024, 5, 2, 3, 15));
  CHECK(next("TZ=UTC 0 0 1 * *", utc(2024, 12, 15, 0), zero) == utc(2025, 1, 1, 0));
  CHECK(next("TZ=UTC 0 0 29 2 *", utc(2024, 3, 1, 0), zero) == utc(2028, 2, 29, 0));
  // Both day fields restricted: either fires (Friday 2024-09-06 before the 13th).
  CHECK(next("TZ=UTC 0 0 13 * fri", utc(2024, 9, 1, 0), zero) == utc(2024, 9, 6, 0));
  // One restricted: that one; `*/2` counts as `*` for this rule, as in cron.
  CHECK(next("TZ=UTC 0 0 */2 * mon", utc(2024, 9, 1, 0), zero) == utc(2024, 9, 9, 0));
  const auto plus_five_thirty = [](std::int64_t) { return 19800; };  // Asia/Kolkata
  CHECK(next("TZ=Asia/Kolkata 0 3 * * *", utc(2024, 5, 1, 12), plus_five_thirty) ==
        utc(2024, 5, 1, 21, 30));
}

TEST_CASE("DST changes: a skipped wall time fires at the change, a repeated one once", "[cron]") {
  struct Row {
    const char* what;
    const char* cron;
    std::int32_t (*zone)(std::int64_t);
    std::int64_t after;
    std::int64_t expected;
  };
  const Row rows[] = {
      // Paris, 2024-03-31: 02:00 CET -> 03:00 CEST (01:00 UTC).
      {"03:00 the day clocks go forward", "TZ=Europe/Paris 0 3 * * *", paris, utc(2024, 3, 30, 12),
       utc(2024, 3, 31, 1)},
      {"02:30 does not exist: at the change", "TZ=Europe/Paris 30 2 * * *", paris,
       utc(2024, 3, 30, 12), utc(2024, 3, 31, 1)},
      {"and the next day as usual", "TZ=Europe/Paris 30 2 * * *", paris, utc(2024, 3, 31, 1),
       utc(2024, 4, 1, 0, 30)},
      {"01:59 CET, just before", "TZ=Europe/Paris 59 1 * * *", paris, utc(2024, 3, 30, 12),
       utc(2024, 3, 31, 0, 59)},
      {"hourly skips nothing but 02:00, which fires at 03:00", "TZ=Europe/Paris 0 * * * *", paris,
       utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1)},
      // Paris, 2024-10-27: 03:00 CEST -> 02:00 CET (01:00 UTC); 02:00-02:59 comes twice.
      {"02:30 comes twice: the first", "TZ=Europe/Paris 30 2 * * *", paris, utc(2024, 10, 26, 12),
       utc(2024, 10, 27, 0, 30)},
      {"and not the second", "TZ=Europe/Paris 30 2 * * *", paris, utc(2024, 10, 27, 0, 30),
       utc(2024, 10, 28, 1, 30)},
      {"hourly: 02:00 once, then 03:00 CET", "TZ=Europe/Paris 0 * * * *", paris,
       utc(2024, 10, 27, 0), utc(2024, 10, 27, 2)},
      {"03:00 the day clocks go back", "TZ=Europe/Paris 0 3 * * *", paris, utc(2024, 10, 26, 12),
       utc(2024, 10, 27, 2)},
      {"winter again", "TZ=Europe/Paris 0 3 * * *", paris, utc(2024, 10, 27, 2),
       utc(2024, 10, 28, 2)},
      // New York, 2024-03-10: 02:00 EST -> 03:00 EDT (07:00 UTC); 2024-11-03 back at 06:00 UTC.
      {"New York: 02:00 does not exist", "TZ=America/New_York 0 2 * * *", new_york,
       utc(2024, 3, 9, 12), utc(2024, 3, 10, 7)},
      {"New York: 01:30 comes twice, the first (EDT)", "TZ=America/New_York 30 1 * * *", new_york,
       utc(2024, 11, 2, 12), utc(2024, 11, 3, 5, 30)},
      {"New York: then the next day (EST)", "TZ=America/New_York 30 1 * * *", new_york,
       utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)},
      // Lord Howe: a change of half an hour, in the southern spring (2024-10-06 02:00 -> 02:30).
      {"Lord Howe: 02:15 does not exist", "TZ=Australia/Lord_Howe 15 2 * * *", lord_howe,
       utc(2024, 10, 5, 0), utc(2024, 10, 5, 15, 30)},
      {"Lord Howe: 02:45 does", "TZ=Australia/Lord_Howe 45 2 * * *", lord_howe, utc(2024, 10, 5, 0),
       utc(2024, 10, 5, 15, 45)},
      {"Lord Howe: 01:45 comes twice in autumn (2024-04-07)", "TZ=Australia/Lord_Howe 45 1 * * *",
       lord_howe, utc(2024, 4, 6, 0), utc(2024, 4, 6, 14, 45)},
      {"Lord Howe: summer across the new year", "TZ=Australia/Lord_Howe 0 0 1 1 *", lord_howe,
       utc(2024, 6, 1, 0), utc(2024, 12, 31, 13)},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    CHECK(next(row.cron, row.after, row.zone) == row.expected);
  }
}

TEST_CASE("a wall time maps to UTC: once, twice (the first), or never (the change)", "[cron]") {
  const std::int64_t wall_0230_march = utc(2024, 3, 31, 2, 30);  // as if the zone were UTC
  CHECK(core::utc_of_wall(wall_0230_march, paris) == utc(2024, 3, 31, 1));
  CHECK(core::utc_of_wall(utc(2024, 10, 27, 2, 30), paris) == utc(2024, 10, 27, 0, 30));
  CHECK(core::utc_of_wall(utc(2024, 7, 14, 12), paris) == utc(2024, 7, 14, 10));
  CHECK(core::utc_of_wall(utc(2024, 1, 14, 12), paris) == utc(2024, 1, 14, 11));
}
