// The core's armed timers (each lane's and each rollout's) as the host holds them: a firing
// reaches the core with the token it was armed with, so a late one is ignored there. A timer the
// host could not arm (it threw) stays recorded, and rearm() tries again after each batch of
// actions: the core's timer is never silently lost.
#pragma once

#include <map>
#include <optional>

#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

class LaneTimers {
 public:
  struct Armed {
    unsigned token = 0;  // the core's
    core::TimePoint deadline;
    bool at_host = false;  // the host took it
  };
  explicit LaneTimers(Timers& timers) : timers_(timers) {}

  /// Throws what the host threw; the timer is armed again by rearm().
  void arm(const TimerKey& key, unsigned token, core::TimePoint deadline) {
    Armed& armed = armed_[key] = {token, deadline, false};
    const bool before = refused_;
    refused_ = true;  // until the host took it
    timers_.arm(key, deadline);
    armed.at_host = true;
    refused_ = before;
  }
  /// Arms at the host each timer it could not take before (nothing to walk when it took them
  /// all); throws what it throws (the others stay to be tried next time).
  void rearm() {
    if (!refused_) return;
    for (auto& [key, armed] : armed_) {
      if (armed.at_host) continue;
      timers_.arm(key, armed.deadline);
      armed.at_host = true;
    }
    refused_ = false;
  }
  void cancel(const TimerKey& key) {
    armed_.erase(key);  // first: a firing the host could not cancel is ignored
    timers_.cancel(key);
  }
  /// The timer `key` fired: its token, once; nullopt when it is not armed (any more).
  std::optional<unsigned> fired(const TimerKey& key) {
    const auto it = armed_.find(key);
    if (it == armed_.end()) return std::nullopt;
    const unsigned token = it->second.token;
    armed_.erase(it);
    return token;
  }
  const std::map<TimerKey, Armed>& armed() const { return armed_; }

 private:
  Timers& timers_;
  std::map<TimerKey, Armed> armed_;
  bool refused_ = false;  // some timer may not be at the host
};

}  // namespace clusterd::daemon
