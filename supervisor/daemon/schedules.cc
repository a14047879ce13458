#include "supervisor/daemon/schedules.h"

#include <spdlog/spdlog.h>

#include "supervisor/core/schedule.h"

namespace clusterd::daemon {

void Schedules::add_app(std::optional<config::CronSchedule> schedule) {
  apps_.push_back({std::move(schedule), std::nullopt});
}

void Schedules::set_schedule(std::size_t app, std::optional<config::CronSchedule> schedule) {
  App& a = apps_[app];
  if (a.schedule == schedule) return;
  a.schedule = std::move(schedule);
  if (a.fire_s) {
    a.fire_s.reset();  // first: a firing the host could not cancel is looked at and ignored
    timers_.cancel(key(app));
  }
}

bool Schedules::wanted(const core::Supervisor& supervisor, std::size_t app) {
  return !supervisor.apps()[app].removed && !supervisor.stopping();
}

void Schedules::arm_after(std::size_t app, std::int64_t after_s) {
  App& a = apps_[app];
  const config::CronSchedule& schedule = *a.schedule;
  const auto offset = [this, &schedule](std::int64_t t) {
    return clock_.utc_offset(schedule.zone, t);
  };
  const std::optional<core::ScheduleArm> armed =
      core::arm_schedule(schedule, after_s, clock_.unix_ms(), clock_.now(), offset);
  if (!armed) {
    a.fire_s.reset();
    return;
  }
  timers_.arm(key(app), armed->deadline);  // first: one the host refused is tried again next time
  a.fire_s = armed->fire_s;
}

void Schedules::arm(const core::Supervisor& supervisor) {
  for (std::size_t a = 0; a < apps_.size() && a < supervisor.apps().size(); ++a) {
    App& app = apps_[a];
    const bool want = app.schedule && wanted(supervisor, a);
    if (want && !app.fire_s) {
      arm_after(a, clock_.unix_ms() / 1000);
    } else if (!want && app.fire_s) {
      app.fire_s.reset();
      timers_.cancel(key(a));
    }
  }
}

bool Schedules::fired(std::size_t app, const core::Supervisor& supervisor) {
  if (app >= apps_.size()) return false;
  App& a = apps_[app];
  if (!a.fire_s || !a.schedule) return false;  // cancelled meanwhile
  const std::int64_t fire = *a.fire_s;
  a.fire_s.reset();
  if (!wanted(supervisor, app)) return false;
  const core::ScheduleStep step =
      core::schedule_fired(fire, clock_.unix_ms(), supervisor.apps()[app].stopped);
  arm_after(app, step.rearm_after_s);
  if (step.verdict == core::ScheduleVerdict::Skip) {
    spdlog::info("{}: restart_schedule {}: skipped, the app is stopped",
                 supervisor.apps()[app].spec.name, a.schedule->text);
  }
  return step.verdict == core::ScheduleVerdict::Restart;
}

std::optional<std::int64_t> Schedules::next(std::size_t app) const {
  return app < apps_.size() ? apps_[app].fire_s : std::nullopt;
}

std::string Schedules::next_text(std::size_t app) const {
  if (app >= apps_.size() || !apps_[app].fire_s || !apps_[app].schedule) return {};
  const config::CronSchedule& schedule = *apps_[app].schedule;
  return core::describe_fire(*apps_[app].fire_s, schedule.zone, [this, &schedule](std::int64_t t) {
    return clock_.utc_offset(schedule.zone, t);
  });
}

}  // namespace clusterd::daemon
