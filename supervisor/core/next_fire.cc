#include "supervisor/core/next_fire.h"

#include <algorithm>
#include <chrono>

namespace clusterd::core {
namespace {

constexpr std::int64_t kDay = 86400;

// Floor division: the day of a time before 1970 too.
std::int64_t day_of(std::int64_t seconds) {
  return seconds >= 0 ? seconds / kDay : -((-seconds + kDay - 1) / kDay);
}

bool day_fires(const config::CronSchedule& s, std::int64_t day) {
  const std::chrono::sys_days date{std::chrono::days{day}};
  const std::chrono::year_month_day ymd{date};
  const std::chrono::weekday weekday{date};
  if (!s.months[static_cast<unsigned>(ymd.month())]) return false;
  const bool by_day = s.days[static_cast<unsigned>(ymd.day())];
  const bool by_weekday = s.weekdays[weekday.c_encoding()];
  // cron's rule: with either field `*` both must match; with both restricted, either does.
  return s.every_day || s.every_weekday ? by_day && by_weekday : by_day || by_weekday;
}

}  // namespace

std::int64_t utc_of_wall(std::int64_t wall, const UtcOffset& offset) {
  // Offsets are within a day of UTC, and zones change them at most once within a day: the offset
  // in force around `wall` is the one before (early) or after (late) that change.
  const std::int32_t early = offset(wall - kDay);
  const std::int32_t late = offset(wall + kDay);
  const std::int64_t by_early = wall - early;
  const std::int64_t by_late = wall - late;
  const bool early_holds = offset(by_early) == early;
  const bool late_holds = offset(by_late) == late;
  if (early_holds && late_holds) return std::min(by_early, by_late);  // it comes twice
  if (early_holds) return by_early;
  if (late_holds) return by_late;
  // Skipped by a change forward: the change is between by_late and by_early. Find its first
  // second, where the late offset is in force.
  std::int64_t lo = std::min(by_early, by_late);  // the early offset is in force here
  std::int64_t hi = std::max(by_early, by_late);  // and the late one here
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (offset(mid) == late ? hi : lo) = mid;
  }
  return hi;
}

std::optional<std::int64_t> next_fire(const config::CronSchedule& s, std::int64_t after,
                                      const UtcOffset& offset) {
  // Wall times map to UTC in the same order (a repeated hour to its first pass, skipped ones to
  // the change), so the first wall time from the day before `after`'s whose UTC time is later than
  // `after` is the answer. 8 years and 2 days: the next 29 February may be 8 years away.
  const std::int64_t first_day = day_of(after + offset(after)) - 1;
  for (std::int64_t day = first_day; day <= first_day + 8 * 366 + 2; ++day) {
    if (!day_fires(s, day)) continue;
    for (unsigned hour = 0; hour < 24; ++hour) {
      if (!s.hours[hour]) continue;
      for (unsigned minute = 0; minute < 60; ++minute) {
        if (!s.minutes[minute]) continue;
        const std::int64_t wall = day * kDay + hour * 3600 + minute * 60;
        const std::int64_t utc = utc_of_wall(wall, offset);
        if (utc > after) return utc;
      }
    }
  }
  return std::nullopt;
}

}  // namespace clusterd::core
