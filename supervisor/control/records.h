// What `clusterctl logs` and `clusterctl events` receive, one record per reply line: a line a
// worker wrote, and a lifecycle event. Plain values; protocol.cc encodes them.
#pragma once

#include <cstdint>
#include <string>

namespace clusterd::control {

/// One line of a worker's output (capture and journal modes), as the master cut it.
struct LogRecord {
  std::uint64_t seq = 0;     // per daemon, increasing: a follower resumes after the last one
  std::int64_t time_ms = 0;  // when the master read it, milliseconds since the Unix epoch
  std::string app;
  unsigned worker = 0;  // the slot
  unsigned generation = 0;
  int pid = 0;
  bool err = false;  // stderr (else stdout)
  bool cut = false;  // longer than logs.line_max: the rest was dropped
  std::string text;  // without the newline; bytes as written (escaped when printed)
};

/// One lifecycle event: the same fields for every kind.
struct EventRecord {
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string kind;          // "spawned", "ready", "exited", ... (docs/logs.md lists them)
  std::string app;           // empty for the daemon's own (a refused reload)
  int worker = -1;           // the slot; -1 for app-wide events (rollout, scale)
  unsigned generation = 0;   // 0 when none applies
  int pid = 0;               // 0 when no process is concerned
  std::string reason;        // in words
  std::string last_words{};  // `exited`: the line of its output that says why (may be empty)
};

}  // namespace clusterd::control
