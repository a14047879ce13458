// `clusterctl top`: a live view of the workers, refreshed from the control socket (a status and
// the last events per refresh; the master does nothing between requests, so nobody watching costs
// nothing). On a terminal: the alternate screen, keys to sort and quit, the terminal restored on
// every way out (q, Ctrl-C, SIGTERM, a lost daemon). Otherwise: the plain table, once per refresh.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace clusterd::control {

struct TopOptions {
  std::string socket_path;
  std::optional<std::string> app;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{5000};  // for each request
  char sort = 'n';                          // n id, c cpu, m memory, r restarts, q queue
  unsigned iterations = 0;                  // 0: until quit
  bool force_plain = false;                 // the plain table even on a terminal
};

/// Runs until quit; returns the exit code (0; 1 when the daemon refused or went away; 3 when it
/// was not reachable at the first refresh).
int run_top(const TopOptions& options);

}  // namespace clusterd::control
