#include "supervisor/core/policy.h"

#include <algorithm>
#include <csignal>

#include "supervisor/core/actions.h"

namespace clusterd::core {

namespace {

bool clean_exit(const ExitStatus& status) {
  if (status.kind == ExitStatus::Kind::Exited) return status.code == 0;
  if (status.kind == ExitStatus::Kind::Signaled) {
    return status.code == SIGHUP || status.code == SIGINT || status.code == SIGTERM ||
           status.code == SIGPIPE;
  }
  return false;
}

}  // namespace

Decision should_restart(config::RestartPolicy policy, const ExitStatus& status) {
  switch (policy) {
    case config::RestartPolicy::Always:
      return {true, "restart: always"};
    case config::RestartPolicy::Never:
      return {false, "restart: never"};
    case config::RestartPolicy::OnFailure:
      if (clean_exit(status)) return {false, "restart: on-failure, and it ended cleanly"};
      return {true, "restart: on-failure"};
  }
  return {false, "unknown policy"};
}

Duration restart_delay(Duration initial, Duration max, unsigned n) {
  Duration delay = initial;
  for (unsigned i = 1; i < n && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

Duration jittered(Duration delay, double jitter, double chance) {
  const double cut = std::clamp(jitter, 0.0, 1.0) * std::clamp(chance, 0.0, 1.0);
  return delay - std::chrono::duration_cast<Duration>(delay * cut);
}

bool crash_loop(std::vector<TimePoint>& history, TimePoint now, Duration window,
                unsigned max_restarts) {
  history.push_back(now);
  std::erase_if(history, [&](TimePoint t) { return t <= now - window; });
  return history.size() > max_restarts;
}

const char* to_string(Unplanned cause) {
  switch (cause) {
    case Unplanned::Exit:
      return "exit";
    case Unplanned::Signal:
      return "signal";
    case Unplanned::SpawnFailed:
      return "spawn_failed";
    case Unplanned::ReadyTimeout:
      return "ready_timeout";
    case Unplanned::Watchdog:
      return "watchdog";
    case Unplanned::Replaced:
      return "replaced";
  }
  return "unknown";
}

}  // namespace clusterd::core
