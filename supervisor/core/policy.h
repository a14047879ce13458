// Restart policy as small pure functions, each returning a decision and the reason that goes into
// the log and `clusterctl status` (after systemd's service_shall_restart()).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/types.h"

namespace clusterd::core {

struct Decision {
  bool yes = false;
  std::string reason;
};

/// Whether a worker that ended with `status` (not at the master's request) is started again.
/// on-failure treats exit 0 and the clean signals HUP, INT, TERM and PIPE as success, as systemd's
/// Restart=on-failure does.
Decision should_restart(config::RestartPolicy policy, const ExitStatus& status);

/// The wait before the n-th consecutive quick restart (n >= 1): initial, doubling, capped at max.
Duration restart_delay(Duration initial, Duration max, unsigned n);
/// `delay` shortened by the fraction jitter * chance (both in [0, 1]): never longer, so
/// backoff.max stays the longest wait, and at least (1 - jitter) of it.
Duration jittered(Duration delay, double jitter, double chance);

/// Records a quick death at `now` in `history`, forgets those older than `window`, and says whether
/// the slot is now crash-looping (more than `max_restarts` quick deaths within the window).
bool crash_loop(std::vector<TimePoint>& history, TimePoint now, Duration window,
                unsigned max_restarts);

}  // namespace clusterd::core
