// A time zone's UTC offset at a given moment, from the system's tz database through the C
// library: what supervisor/core/next_fire.h needs to turn a restart_schedule's wall times into UTC.
#pragma once

#include <cstdint>
#include <string>

namespace clusterd::os {

/// Seconds east of UTC in force in `zone` at `utc` (seconds since the epoch). `zone` is "UTC",
/// "local" (this process's own time zone: $TZ, else /etc/localtime) or a tz database name. The C
/// library reads the zone from $TZ, so it is set for the call and restored: call it only where
/// no other thread reads the time zone meanwhile. A zone the database lacks reads as UTC
/// (config::check_environment refuses one at --check and at start).
std::int32_t utc_offset(const std::string& zone, std::int64_t utc);

}  // namespace clusterd::os
