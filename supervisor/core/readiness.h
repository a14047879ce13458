// What clusterd tells systemd about the cluster (Type=notify), decided from the core's state:
// READY=1 once every wanted slot's first worker is ready or has failed; a one-line STATUS= kept
// current ("web 4/4 ready, api 2/2 ready", "reloading web 2/4"); after RELOADING=1, READY=1 once
// no rollout is left. Pure: the daemon sends what update() returns.
#pragma once

#include <optional>
#include <string>

#include "supervisor/core/supervisor.h"

namespace clusterd::core {

/// True when every wanted slot's serving worker is ready, or has failed for good.
bool settled(const Supervisor& supervisor);

/// "web 4/4 ready, api 1/2 ready (1 failed)", "reloading web 2/4", or "no apps".
std::string status_line(const Supervisor& supervisor);

class SystemdReport {
 public:
  /// A reload started (RELOADING=1 was sent): READY=1 is owed once it is over.
  void reloading() { reloading_ = true; }
  /// The notification owed now ("READY=1\nSTATUS=..." or "STATUS=..."), if any. Nothing once
  /// clusterd is stopping (STOPPING=1 says it all).
  std::optional<std::string> update(const Supervisor& supervisor);
  bool announced_ready() const { return announced_; }

 private:
  bool announced_ = false;
  bool reloading_ = false;
  std::string last_status_;
};

}  // namespace clusterd::core
