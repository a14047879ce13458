// The master's sockets and the slots that serve on them: a socket listens only while a worker
// serves on it or is about to, or a draining worker still holds it (core::Supervisor::listening),
// so no connection waits where nobody
// will take it; a retired slot's sockets close.
#include <spdlog/spdlog.h>

#include "supervisor/daemon/daemon.h"

namespace clusterd::daemon {

// A scaled-down slot is gone: the master lets go of its reuseport sockets.
void Daemon::retire(core::LaneId id) {
  if (id.app >= runtimes_.size()) return;
  if (listeners_.shrink(runtimes_.generations(id.app), id.index)) systemd_.sockets_changed();
}

// Each socket listens while a worker serves on it, is about to, or still drains on it
// (core::Supervisor::listening),
// so that no connection waits on a socket nobody will serve.
void Daemon::sync_listening() {
  const core::TimePoint now = host_.clock.now();
  for (std::size_t a = 0; a < runtimes_.size(); ++a) {
    const core::AppState& state = supervisor_.apps()[a];
    std::map<unsigned, Generation>& gens = runtimes_.generations(a);
    Listeners::Wanted wanted;
    for (unsigned i = 0; i < state.slots.size(); ++i) {
      for (unsigned l = 0; l < 2; ++l) {
        if (!supervisor_.listening({a, i, l}, now)) continue;
        const auto gen = gens.find(state.slots[i].lanes[l].generation());
        if (gen != gens.end()) Listeners::want(gen->second, i, wanted);
      }
    }
    listeners_.apply(gens, wanted);
  }
}

// Connections queued on a reuseport socket the master stops (its slot failed, stopped, in a long
// backoff, or scaled away) should move to the socket's peers instead of being reset: that is
// net.ipv4.tcp_migrate_req. Turned on once, when a config first has a reuseport listener.
void Daemon::migrate_queues() {
  bool reuseport = false;
  for (const core::AppState& app : supervisor_.apps()) {
    for (const config::ListenerSpec& l : app.spec.listeners) {
      reuseport = reuseport || l.mode == config::ListenMode::ReusePort;
    }
  }
  listeners_.migrate_queues(reuseport);
}

}  // namespace clusterd::daemon
