// Clients waiting for a reload to finish: each gets a progress line when an app it waits for
// moves a slot, and the outcome once none of its apps has a rollout left.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "supervisor/control/reply.h"
#include "supervisor/core/supervisor.h"

namespace clusterd::daemon {

class ReloadWaiters {
 public:
  /// `reply` waits for the rollouts of `apps`; `summary` is what the reload changed.
  void add(control::ReplyPtr reply, std::vector<std::string> apps, std::string summary);
  /// Sends progress, and the outcome to every waiter whose rollouts are over (or all of them
  /// when clusterd is stopping). Waiters whose client went away are dropped.
  void report(const core::Supervisor& supervisor);
  /// The outcome of a reload whose rollouts `apps` are already over (or were not waited for).
  static std::pair<bool, std::string> outcome(const core::Supervisor& supervisor,
                                              const std::vector<std::string>& apps,
                                              std::string summary);
  bool empty() const { return waiting_.empty(); }

 private:
  struct Waiter {
    control::ReplyPtr reply;
    std::vector<std::string> apps;
    std::string summary;
    std::map<std::string, std::string> progress;  // the last progress line sent, per app
  };
  std::vector<Waiter> waiting_;
};

}  // namespace clusterd::daemon
