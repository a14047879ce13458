// auto_follow: `instances: auto` re-derived from the CPU limit on an interval (a container
// resized in place, a CPU quota changed). This owns each app's interval, what auto gave when it
// last looked, and the armed timer; the daemon scales when it says so.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

class AutoFollow {
 public:
  AutoFollow(Timers& timers, Clock& clock, Machine& machine)
      : timers_(timers), clock_(clock), machine_(machine) {}

  /// A new app (at the start, added by a reload, or taken over): its interval (none: it does not
  /// follow) and what auto gave when it last looked (0: not yet).
  void add_app(std::optional<core::Duration> interval, unsigned followed = 0);
  /// A reload: the app's new interval (never a reason to replace its workers).
  void set_interval(std::size_t app, std::optional<core::Duration> interval);
  std::optional<core::Duration> interval(std::size_t app) const { return apps_[app].interval; }
  /// What auto gave when it last looked; a scale to a count of its own (`scale APP auto`, a
  /// reload) sets it, so that only a change of the limit scales again.
  unsigned followed(std::size_t app) const { return apps_[app].followed; }
  void set_followed(std::size_t app, unsigned n) { apps_[app].followed = n; }

  /// Arms (or cancels) each app's timer as its interval and the cluster say.
  void arm(const core::Supervisor& supervisor);

  /// What to do when an app's timer fired: scale to `instances` (for `reason`), or nothing.
  struct Look {
    std::optional<unsigned> instances;
    std::string reason;
  };
  /// The app's timer fired. Scales only when the limit changed since the last look: a `clusterctl
  /// scale APP N` stays until the limit moves again. The caller reports a scale that went through
  /// with set_followed(); a refused one (a rollout in progress) is tried again next time.
  Look fired(std::size_t app, const core::Supervisor& supervisor);

 private:
  struct App {
    std::optional<core::Duration> interval;  // the running config's
    unsigned followed = 0;
    std::optional<core::TimePoint> armed;  // the deadline of its armed timer
  };
  static TimerKey key(std::size_t app) {
    return {TimerKey::Kind::AutoFollow, app, 0, 0, core::LaneTimer::State};
  }

  Timers& timers_;
  Clock& clock_;
  Machine& machine_;
  std::vector<App> apps_;  // parallel to the supervisor's apps
};

}  // namespace clusterd::daemon
