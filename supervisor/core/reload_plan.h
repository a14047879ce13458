// The reload planner: what a reload changes, decided from the running state and the new config
// alone, before anything is prepared or touched. Pure: the daemon prepares what the plan needs
// (commands, credentials, sockets), and only when all of that worked applies it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.h"
#include "supervisor/core/actions.h"
#include "supervisor/core/supervisor.h"

namespace clusterd::core {

/// `instances: auto` on this machine now: the count and how it was derived.
struct AutoInstances {
  unsigned count = 1;
  std::string reason;
};

/// An app's instance count: the configured number, or one derived from `auto_instances` (`auto`
/// and `max`: that; `-1`: one less, at least 1); and how it was derived ("3: -1: all but one of
/// 4: affinity 0-3, no cgroup quota").
std::pair<unsigned, std::string> resolve_instances(const config::AppSpec& spec,
                                                   const AutoInstances& auto_instances);

/// How a listener of a new generation gets its sockets.
struct ListenerStep {
  enum class Kind {
    Reuse,   // the running generation's socket(s) for the same address and mode
    Bind,    // new socket(s)
    Beside,  // new socket(s) on the address of a running listener of another mode (shared <->
             // reuseport): SO_REUSEPORT on the old socket(s) first, so both serve until the old
             // generation is gone
  };
  Kind kind = Kind::Bind;
  std::size_t listener = 0;        // index in the new spec's listeners
  std::optional<std::size_t> old;  // index in the running spec's listeners (Reuse, Beside)
  bool backlog_changed = false;    // Reuse: listen() again with the new backlog
};

struct AppPlan {
  std::size_t spec = 0;                // index in the new config's apps
  std::optional<std::size_t> running;  // the running app's index, for a change
  unsigned instances = 1;
  std::string instances_reason;
  bool scale = false;                   // a running app whose instance count changes
  bool roll = false;                    // a running app that moves to a new generation
  std::vector<ListenerStep> listeners;  // for a roll or a new app
};

struct ReloadPlan {
  std::vector<std::size_t> remove;  // running apps dropped from the config
  std::vector<AppPlan> apps;        // new apps and changed ones, in the new config's order
  bool control_changed = false;     // any field of `control:`
  bool control_moved = false;       // control.socket: a new socket, then the old one closes
  bool metrics_changed = false;     // metrics.address: the new one opens, then the old closes
  /// "removed api; added worker; web instances 2 -> 4; rolling web" or "nothing changed".
  std::string summary;
};

/// Plans a reload from `running` (the config in force) to `next` (parsed and checked). `only`
/// limits it to one app and rolls that app even when unchanged. Refused: a rollout is running,
/// `only` names no app of `next`, or a listener asks for a change that cannot be made in place.
std::variant<ReloadPlan, Refused> plan_reload(const config::Config& running,
                                              const config::Config& next,
                                              const Supervisor& supervisor,
                                              const AutoInstances& auto_instances,
                                              const std::optional<std::string>& only);

/// How the listeners of `next` get their sockets from those of `running` (a running app's spec),
/// into `steps`. Refused for a unix: socket that changes mode on the same path.
std::optional<Refused> plan_listeners(const config::AppSpec& running, const config::AppSpec& next,
                                      std::vector<ListenerStep>& steps);

}  // namespace clusterd::core
