// What the daemon tells systemd, and the fd store it keeps in step with its sockets. The content
// of READY=/STATUS= is the core's (core/readiness.h); this only sends it, through the host, which
// makes all of it a no-op outside systemd.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "supervisor/core/readiness.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/listeners.h"

namespace clusterd::daemon {

class SystemdBridge {
 public:
  SystemdBridge(SystemdLink& link, Clock& clock, bool fd_store)
      : link_(link), clock_(clock), fd_store_(fd_store) {}

  /// RELOADING=1 with MONOTONIC_USEC=; READY=1 follows once no rollout is left.
  void reloading(const std::string& config_path);
  /// STOPPING=1.
  void stopping();
  /// The listening sockets changed: the fd store is brought up to date at the next update().
  void sockets_changed() { store_dirty_ = true; }
  /// Whether every listening socket is kept in the fd store (clusterd --fd-store).
  bool fd_store() const { return fd_store_; }
  /// After every batch of actions: READY=1 / STATUS= as the core says, and the fd store.
  /// `generations` are the target generations of the apps that are not removed.
  void update(const core::Supervisor& supervisor,
              const std::vector<const Generation*>& generations);

 private:
  void sync_fd_store(const std::vector<const Generation*>& generations);

  SystemdLink& link_;
  Clock& clock_;
  bool fd_store_;
  bool store_dirty_ = true;
  core::SystemdReport report_;
  std::map<std::string, int> stored_;  // what we put in the fd store: name -> fd
};

}  // namespace clusterd::daemon
