// watches: each app's `watch:` carried out. This owns each app's watch spec, whether the host
// watches its paths, and the timer that lets a burst of changes settle; the core says when a
// change becomes a restart (core/watch_rules.h), and the daemon replaces the workers through the
// rollout when it says so, as a restart_schedule does.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/core/watch_rules.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

class Watches {
 public:
  Watches(FileWatches& files, Timers& timers, Clock& clock)
      : files_(files), timers_(timers), clock_(clock) {}
  ~Watches();
  Watches(const Watches&) = delete;
  Watches& operator=(const Watches&) = delete;

  /// A new app (at the start, added by a reload, or taken over): its name, its watch (none:
  /// never) and its cwd (relative paths are taken from it).
  void add_app(const std::string& name, std::optional<config::WatchSpec> watch,
               const std::string& cwd);
  /// A reload: the app's watch as the new config says; a changed one is watched anew by arm().
  void set_watch(std::size_t app, std::optional<config::WatchSpec> watch, const std::string& cwd);

  /// Watches (or stops watching) each app's paths as its spec and the cluster say: a removed
  /// app, or a stopping cluster, watches nothing.
  void arm(const core::Supervisor& supervisor);

  /// The app's settling timer fired: true when its workers are to be replaced now.
  bool fired(std::size_t app, const core::Supervisor& supervisor);
  /// After each batch of actions: the apps whose restart was owed to the end of a rollout that
  /// is now over (their workers are to be replaced now).
  std::vector<std::size_t> rollouts_over(const core::Supervisor& supervisor);

  /// How many of the app's paths the host watches (0: not watching).
  unsigned watching(std::size_t app) const;
  /// Changes seen whose restart has not begun (settling, or owed to a rollout's end).
  bool pending(std::size_t app) const {
    return app < apps_.size() && (apps_[app].debounce.armed() || apps_[app].debounce.owed());
  }
  /// The app's watch as the running config says, for describe; nullptr without one.
  const config::WatchSpec* spec(std::size_t app) const;

 private:
  struct App {
    std::string name;
    std::optional<config::WatchSpec> spec;
    std::string cwd;
    core::WatchDebounce debounce{core::Duration::zero()};
    bool watched = false;  // the host watches for it
    unsigned watches = 0;  // how many of its paths the host said it watches
  };
  static TimerKey key(std::size_t app) {
    return {TimerKey::Kind::Watch, app, 0, 0, core::LaneTimer::State};
  }
  void changed(std::size_t app, const std::string& change);
  void unwatch(std::size_t app);
  std::vector<std::string> roots(const App& a) const;

  FileWatches& files_;
  Timers& timers_;
  Clock& clock_;
  std::vector<App> apps_;  // parallel to the supervisor's apps
};

}  // namespace clusterd::daemon
