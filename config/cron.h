// `restart_schedule:` text -> CronSchedule: five cron fields after an explicit time zone,
// `TZ=Europe/Paris 0 3 * * *`. Pure; when the schedule next fires is the core's business
// (supervisor/core/next_fire.h).
#pragma once

#include <string_view>

#include "config/config.h"
#include "config/values.h"

namespace clusterd::config {

/// `TZ=ZONE MIN HOUR DAY MONTH WEEKDAY`, or `TZ=ZONE @hourly|@daily|@midnight|@weekly|@monthly|
/// @yearly|@annually`. ZONE is UTC, local (the machine's time zone) or a tz database name
/// (Europe/Paris). Each field is `*`, a number, a range `a-b`, either with a step `/n`, or a
/// comma-separated list of those; months and weekdays also by their English three-letter names
/// (jan, mon; any case); weekday 0 and 7 are Sunday. As in cron, when both the day of the month and
/// the weekday are restricted, a day matching either runs. A schedule that can never fire (`0 0
/// 30 2 *`) is refused. Whether the zone exists is check_environment()'s question.
Result<CronSchedule> parse_schedule(std::string_view text);

/// Whether `name` can name a time zone: UTC, local, or a relative path of letters, digits and
/// `_ + - /` without `.` or `..` components (it becomes a path under the tz database).
bool is_zone_name(std::string_view name);

}  // namespace clusterd::config
