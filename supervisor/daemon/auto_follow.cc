#include "supervisor/daemon/auto_follow.h"

#include "supervisor/core/upkeep.h"

namespace clusterd::daemon {

void AutoFollow::add_app(std::optional<core::Duration> interval, unsigned followed) {
  apps_.push_back({interval, followed, std::nullopt});
}

void AutoFollow::set_interval(std::size_t app, std::optional<core::Duration> interval) {
  apps_[app].interval = interval;
}

void AutoFollow::arm(const core::Supervisor& supervisor) {
  for (std::size_t a = 0; a < apps_.size() && a < supervisor.apps().size(); ++a) {
    App& app = apps_[a];
    const bool wanted = app.interval && !supervisor.apps()[a].removed && !supervisor.stopping();
    if (wanted && !app.armed) {
      if (app.followed == 0) app.followed = supervisor.apps()[a].instances;
      const core::TimePoint deadline = clock_.now() + *app.interval;
      timers_.arm(key(a), deadline);  // first: one the host refused is tried again next time
      app.armed = deadline;
    } else if (!wanted && app.armed) {
      app.armed.reset();  // first: a firing the host could not cancel is looked at and ignored
      timers_.cancel(key(a));
    }
  }
}

AutoFollow::Look AutoFollow::fired(std::size_t app, const core::Supervisor& supervisor) {
  apps_[app].armed.reset();
  const core::AppState& state = supervisor.apps()[app];
  if (state.removed || supervisor.stopping()) return {};
  const os::CpuBudget cpus = machine_.cpus();
  const core::FollowDecision d =
      core::follow_cpus(state, supervisor.stopping(), apps_[app].followed, cpus.count, cpus.reason);
  apps_[app].followed = d.followed;
  if (!d.scale_to) return {};
  return {*d.scale_to, d.reason};
}

}  // namespace clusterd::daemon
