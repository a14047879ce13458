// `restart_schedule:` carried out: when an app's schedule timer is armed for, and what to do when
// it fires. Pure: wall-clock time comes in as Unix milliseconds and the steady clock as a
// TimePoint (the timer runs on the steady clock; the schedule is in wall time), the zone as an
// offset function (core/next_fire.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"
#include "supervisor/core/next_fire.h"
#include "supervisor/core/types.h"

namespace clusterd::core {

/// A schedule armed: the time it fires (UTC seconds) and the steady-clock deadline for its timer.
struct ScheduleArm {
  std::int64_t fire_s = 0;
  TimePoint deadline;
};

/// The first fire strictly after `after_s` (UTC seconds) as a timer deadline, `now_ms` being the
/// wall clock and `now` the steady clock at the same moment. A fire already due is due now.
/// nullopt when the schedule never fires again.
std::optional<ScheduleArm> arm_schedule(const config::CronSchedule& schedule, std::int64_t after_s,
                                        std::int64_t now_ms, TimePoint now,
                                        const UtcOffset& offset);

/// What a fired schedule timer means.
enum class ScheduleVerdict {
  Restart,  // replace the app's workers through the rollout, then arm the next
  Skip,     // the app is stopped (or the master stopping): nothing to replace; arm the next
  Early,    // the wall clock is not there yet (it was set back): arm the same time again
};

struct ScheduleStep {
  ScheduleVerdict verdict = ScheduleVerdict::Restart;
  /// Arm the next fire strictly after this (UTC seconds): the fire itself, or now when the wall
  /// clock jumped past later fires (they are not made up for: one restart, then the next).
  std::int64_t rearm_after_s = 0;
};

/// The timer of the fire `fire_s` went off at wall time `now_ms`.
ScheduleStep schedule_fired(std::int64_t fire_s, std::int64_t now_ms, bool app_stopped);

/// "2025-01-02 03:00 Europe/Paris (02:00 UTC)": a fire time for people, in its zone and in UTC.
std::string describe_fire(std::int64_t fire_s, const std::string& zone, const UtcOffset& offset);

}  // namespace clusterd::core
