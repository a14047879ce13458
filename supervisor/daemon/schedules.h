// schedules: each app's `restart_schedule:` carried out. This owns each app's schedule, the fire
// its timer is armed for, and the timer; the core says when (core/schedule.h) and the daemon
// replaces the workers through the rollout when it says so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

class Schedules {
 public:
  Schedules(Timers& timers, Clock& clock) : timers_(timers), clock_(clock) {}

  /// A new app (at the start, added by a reload, or taken over) and its schedule (none: never).
  void add_app(std::optional<config::CronSchedule> schedule);
  /// A reload: the app's schedule as the new config says; a changed one is armed anew.
  void set_schedule(std::size_t app, std::optional<config::CronSchedule> schedule);

  /// Arms (or cancels) each app's timer as its schedule and the cluster say.
  void arm(const core::Supervisor& supervisor);

  /// The app's timer fired: true when its workers are to be replaced now. Re-arms the next.
  bool fired(std::size_t app, const core::Supervisor& supervisor);

  /// When the app's schedule fires next, for people ("2025-01-02 03:00 Europe/Paris (02:00
  /// UTC)"); empty without a schedule or when it is not armed.
  std::string next_text(std::size_t app) const;
  /// The same as UTC seconds; nullopt when none.
  std::optional<std::int64_t> next(std::size_t app) const;

 private:
  struct App {
    std::optional<config::CronSchedule> schedule;
    std::optional<std::int64_t> fire_s;  // what its armed timer is for
  };
  static TimerKey key(std::size_t app) {
    return {TimerKey::Kind::Schedule, app, 0, 0, core::LaneTimer::State};
  }
  void arm_after(std::size_t app, std::int64_t after_s);
  static bool wanted(const core::Supervisor& supervisor, std::size_t app);

  Timers& timers_;
  Clock& clock_;
  std::vector<App> apps_;  // parallel to the supervisor's apps
};

}  // namespace clusterd::daemon
