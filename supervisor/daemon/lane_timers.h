// The core's armed timers (each lane's and each rollout's) as the host holds them: a firing
// reaches the core with the token it was armed with, so a late one is ignored there.
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
  };
  explicit LaneTimers(Timers& timers) : timers_(timers) {}

  void arm(const TimerKey& key, unsigned token, core::TimePoint deadline) {
    timers_.arm(key, deadline);  // first: a host that throws leaves nothing recorded
    armed_[key] = {token, deadline};
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
};

}  // namespace clusterd::daemon
