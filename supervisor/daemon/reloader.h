// The running configuration and the reload in progress: whether one waits for its name lookups
// (one at a time), and the clients waiting for a reload's rollouts to end. The steps of a reload
// are the daemon's (reload.cc); what they hold between steps lives here.
#pragma once

#include <utility>

#include "config/config.h"
#include "supervisor/daemon/reload_waiters.h"

namespace clusterd::daemon {

class Reloader {
 public:
  explicit Reloader(config::Config running) : config_(std::move(running)) {}

  const config::Config& config() const { return config_; }
  config::Config& config() { return config_; }

  /// A reload waits for its users and groups to be looked up; no other starts meanwhile.
  bool resolving() const { return phase_ == Phase::ResolvingNames; }
  void resolving_names() { phase_ = Phase::ResolvingNames; }
  void names_resolved() { phase_ = Phase::Idle; }

  ReloadWaiters& waiters() { return waiters_; }
  const ReloadWaiters& waiters() const { return waiters_; }

 private:
  enum class Phase { Idle, ResolvingNames };
  config::Config config_;
  Phase phase_ = Phase::Idle;
  ReloadWaiters waiters_;
};

}  // namespace clusterd::daemon
