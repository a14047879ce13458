#include "supervisor/core/schedule.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace clusterd::core {
namespace {

constexpr std::int64_t kDay = 86400;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// "YYYY-MM-DD HH:MM" of seconds since the epoch, read as UTC.
std::string minute_text(std::int64_t t) {
  const std::int64_t day = floor_div(t, kDay);
  const std::int64_t second = t - day * kDay;
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u %02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(second / 3600), static_cast<int>(second % 3600 / 60));
  return text;
}

}  // namespace

std::optional<ScheduleArm> arm_schedule(const config::CronSchedule& schedule, std::int64_t after_s,
                                        std::int64_t now_ms, TimePoint now,
                                        const UtcOffset& offset) {
  const std::optional<std::int64_t> fire = next_fire(schedule, after_s, offset);
  if (!fire) return std::nullopt;
  const std::int64_t wait_ms = std::max<std::int64_t>(0, *fire * 1000 - now_ms);
  return ScheduleArm{*fire, now + std::chrono::milliseconds(wait_ms)};
}

ScheduleStep schedule_fired(std::int64_t fire_s, std::int64_t now_ms, bool app_stopped) {
  if (now_ms < fire_s * 1000) return {ScheduleVerdict::Early, fire_s - 1};
  const std::int64_t after = std::max(fire_s, floor_div(now_ms, 1000));
  return {app_stopped ? ScheduleVerdict::Skip : ScheduleVerdict::Restart, after};
}

std::string describe_fire(std::int64_t fire_s, const std::string& zone, const UtcOffset& offset) {
  return minute_text(fire_s + offset(fire_s)) + " " + zone + " (" + minute_text(fire_s) + " UTC)";
}

}  // namespace clusterd::core
