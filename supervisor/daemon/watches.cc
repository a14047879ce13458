#include "supervisor/daemon/watches.h"

#include <spdlog/spdlog.h>

namespace clusterd::daemon {

namespace {

bool wanted(const core::Supervisor& supervisor, std::size_t app) {
  return app < supervisor.apps().size() && !supervisor.apps()[app].removed &&
         !supervisor.stopping();
}

bool rolling(const core::Supervisor& supervisor, std::size_t app) {
  return supervisor.apps()[app].rollout.has_value();
}

}  // namespace

Watches::~Watches() {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    if (apps_[a].watched) {
      try {
        files_.unwatch(a);
      } catch (const std::exception&) {  // a destructor: nothing to do about it
      }
    }
  }
}

void Watches::add_app(const std::string& name, std::optional<config::WatchSpec> watch,
                      const std::string& cwd) {
  App a;
  a.name = name;
  a.cwd = cwd;
  if (watch) a.debounce.set_debounce(watch->debounce);
  a.spec = std::move(watch);
  apps_.push_back(std::move(a));
}

void Watches::set_watch(std::size_t app, std::optional<config::WatchSpec> watch,
                        const std::string& cwd) {
  App& a = apps_[app];
  if (a.spec == watch && a.cwd == cwd) return;
  if (a.watched) unwatch(app);
  a.spec = std::move(watch);
  a.cwd = cwd;
  if (a.spec) a.debounce.set_debounce(a.spec->debounce);
}

std::vector<std::string> Watches::roots(const App& a) const {
  std::vector<std::string> out;
  for (const std::string& path : a.spec->paths) {
    out.push_back(path.front() == '/' || a.cwd.empty() ? path : a.cwd + "/" + path);
  }
  return out;
}

void Watches::unwatch(std::size_t app) {
  App& a = apps_[app];
  a.watched = false;  // first: a host that throws is not asked again and again
  a.watches = 0;
  a.debounce.reset();
  timers_.cancel(key(app));
  files_.unwatch(app);
}

void Watches::arm(const core::Supervisor& supervisor) {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    App& app = apps_[a];
    const bool want = app.spec && wanted(supervisor, a);
    if (want && !app.watched) {
      app.watched = true;  // first: one the host refused is not tried again at every batch
      app.watches = files_.watch(a, roots(app), app.spec->ignore,
                                 [this, a](const std::string& change) { changed(a, change); });
      spdlog::info("{}: watch: watching {} of {} path{} (debounce {} ms)", app.name, app.watches,
                   app.spec->paths.size(), app.spec->paths.size() == 1 ? "" : "s",
                   app.spec->debounce.count());
    } else if (!want && app.watched) {
      unwatch(a);
    }
  }
}

// The host saw a change: the first of a burst arms the settling timer and is said in the log;
// the rest only push the time the burst settles further (the timer looks again then).
void Watches::changed(std::size_t app, const std::string& change) {
  if (app >= apps_.size() || !apps_[app].watched) return;
  App& a = apps_[app];
  const std::optional<core::TimePoint> arm = a.debounce.changed(clock_.now());
  if (!arm) return;
  spdlog::info("{}: watch: {} changed; its workers are replaced once changes settle for {} ms",
               a.name, change, a.spec->debounce.count());
  timers_.arm(key(app), *arm);
}

bool Watches::fired(std::size_t app, const core::Supervisor& supervisor) {
  if (app >= apps_.size() || !apps_[app].watched || !wanted(supervisor, app)) return false;
  App& a = apps_[app];
  const core::AppState& state = supervisor.apps()[app];
  const core::WatchDebounce::Look look =
      a.debounce.due(clock_.now(), rolling(supervisor, app), state.stopped);
  using V = core::WatchDebounce::Verdict;
  switch (look.verdict) {
    case V::Wait:
      timers_.arm(key(app), look.again);
      return false;
    case V::AfterRollout:
      spdlog::info("{}: watch: a rollout is in progress; one restart after it", a.name);
      return false;
    case V::Skip:
      spdlog::info("{}: watch: changes seen, but the app is stopped: nothing replaced", a.name);
      return false;
    case V::Restart:
      return true;
    case V::Nothing:
      return false;
  }
  return false;
}

std::vector<std::size_t> Watches::rollouts_over(const core::Supervisor& supervisor) {
  std::vector<std::size_t> due;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    App& app = apps_[a];
    if (!app.debounce.owed() || !app.watched) continue;
    if (!wanted(supervisor, a)) {
      app.debounce.reset();
      continue;
    }
    if (app.debounce.rollout_over(rolling(supervisor, a), supervisor.apps()[a].stopped)) {
      due.push_back(a);
    }
  }
  return due;
}

unsigned Watches::watching(std::size_t app) const {
  return app < apps_.size() && apps_[app].watched ? apps_[app].watches : 0;
}

const config::WatchSpec* Watches::spec(std::size_t app) const {
  return app < apps_.size() && apps_[app].spec ? &*apps_[app].spec : nullptr;
}

}  // namespace clusterd::daemon
