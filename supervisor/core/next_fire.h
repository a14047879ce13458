// When a `restart_schedule:` fires next. Pure: the time zone comes in as a function from a UTC
// time to that zone's offset at that moment (the OS layer reads it from the tz database; tests
// give rules of their own), so every DST case is tested with a fake clock.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "config/config.h"

namespace clusterd::core {

/// Seconds east of UTC in force at a UTC time (seconds since the epoch): 3600 for CET, -18000
/// for EST.
using UtcOffset = std::function<std::int32_t(std::int64_t utc)>;

/// The first time strictly after `after` (UTC seconds) at which `schedule` fires, its fields read
/// as wall-clock times of the zone `offset` describes. A wall time that a DST change skips (02:30
/// on the night clocks go from 02:00 to 03:00) fires at the change itself; a wall time that comes
/// twice (the hour clocks go back) fires at the first of them only. nullopt only when nothing
/// fires within 8 years (parse_schedule refuses a schedule that never fires).
std::optional<std::int64_t> next_fire(const config::CronSchedule& schedule, std::int64_t after,
                                      const UtcOffset& offset);

/// The UTC time of a wall-clock time (seconds since the epoch as if the zone were UTC), by the
/// rules above: the first of two, the change itself for one that does not exist.
std::int64_t utc_of_wall(std::int64_t wall, const UtcOffset& offset);

}  // namespace clusterd::core
