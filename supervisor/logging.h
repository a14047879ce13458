// spdlog set-up for the daemon: one line per lifecycle event on stderr, or, when stderr is the
// journal, one journal entry per line through the native protocol with the fields of the worker
// or app it is about (CLUSTERD_APP, CLUSTERD_WORKER, CLUSTERD_GENERATION, CLUSTERD_PID,
// CLUSTERD_EVENT), so `journalctl CLUSTERD_GENERATION=8` shows one whole rollout.
#pragma once

#include <string>
#include <string_view>

namespace clusterd {

/// Installs the logger at `level` ("trace", "debug", "info", "warn", "error", "off").
/// Throws std::invalid_argument for an unknown level.
void setup_logging(const std::string& level);

/// What a log line is about: journal fields of the lines logged while a LogScope lives.
struct LogFields {
  std::string_view app;     // empty: none
  int worker = -1;          // the slot; -1: none
  unsigned generation = 0;  // 0: none
  int pid = 0;              // 0: none
  std::string_view event;   // the event kind; empty: none
};

/// Sets the fields of the lines logged on this thread until it goes (scopes nest).
class LogScope {
 public:
  /// Keeps a pointer to `fields`, which must outlive the scope: a temporary does not compile.
  explicit LogScope(const LogFields& fields);
  explicit LogScope(const LogFields&& fields) = delete;
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

 private:
  const LogFields* previous_;
};

/// Writes one line of a worker's output (capture mode, `console: true`) to clusterd's own
/// output like the daemon's lines (timestamped, escaped, never blocking), at any log level.
/// Lines are written together at flush_output(); both return the bytes dropped (the reader is
/// behind).
std::size_t write_output_line(std::string_view line, bool err);
std::size_t flush_output();

}  // namespace clusterd
