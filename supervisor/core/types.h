// Value types of the pure supervisor core: time, slot identity, lane states and exit statuses.
// Plain data; the core never reads a clock or performs anything.
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <string>

namespace clusterd::core {

using Clock = std::chrono::steady_clock;  // the type only: the core never calls Clock::now()
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

/// `now + by`, saturating at the end of time instead of overflowing (a worker may ask for an
/// EXTEND_TIMEOUT_USEC of 2^63).
TimePoint later(TimePoint now, Duration by);

/// One lane of a worker position: the app's index, the 0-based slot number (CLUSTER_WORKER_ID), and
/// the lane. Every slot has two lanes so that while one worker is replaced the new one (one lane)
/// can start and become ready while the old one (the other lane) still serves.
struct LaneId {
  std::size_t app = 0;
  unsigned index = 0;
  unsigned lane = 0;                                                // 0 or 1
  friend auto operator<=>(const LaneId&, const LaneId&) = default;  // app, then slot, then lane
};

/// Where a lane is in the life of its worker. The transitions are the table in lane_table.h.
enum class LaneState {
  Idle,      // no worker, none wanted (never started, stopped, or ended under its restart policy)
  Starting,  // being spawned, or spawned and waiting for READY=1 (ready: notify)
  Running,   // ready and serving
  Stopping,  // stop signal sent (or the worker said STOPPING=1); SIGKILL after stop_timeout
  Backoff,   // died quickly; waiting before the next start
  Failed,    // crash loop: too many quick deaths within restart_window; waits for a command
};
inline constexpr std::size_t kLaneStates = 6;

/// "idle", "starting", "running", "stopping", "backoff", "failed".
const char* to_string(LaneState state);

/// The timers a lane may have armed: its state's deadline (ready_timeout, stop_timeout, the
/// backoff delay), the worker's watchdog, and the next try of its ready probe (ready: http, tcp).
enum class LaneTimer { State, Watchdog, Probe };
inline constexpr std::size_t kLaneTimers = 3;

/// How a worker ended, as waitpid() reported it, or why it never ran.
struct ExitStatus {
  enum class Kind { Exited, Signaled, SpawnFailed, ReadyTimeout, WatchdogTimeout };
  /// Whose fault a failed spawn was. Only the program's (a command that cannot be executed, a cwd
  /// that does not exist) counts toward the crash loop; a machine out of pids, fds or memory, or a
  /// set-up step of the master's own, backs off but never marks the slot failed.
  enum class Blame { Program, Resources, Master };
  Kind kind = Kind::Exited;
  int code = 0;        // exit code (Exited) or signal number (Signaled)
  std::string detail;  // SpawnFailed: the error text; ReadyTimeout: the probe's last failure
  Blame blame = Blame::Program;
  /// The line of its output that says why it ended (core/last_words.h), printable and bounded;
  /// empty when it wrote nothing or its output is not captured.
  std::string last_words{};

  static ExitStatus exited(int code) { return {Kind::Exited, code, {}, Blame::Program, {}}; }
  static ExitStatus signaled(int signal) {
    return {Kind::Signaled, signal, {}, Blame::Program, {}};
  }
  static ExitStatus spawn_failed(std::string what, Blame blame = Blame::Program) {
    return {Kind::SpawnFailed, 127, std::move(what), blame, {}};
  }

  /// A clean exit: code 0.
  bool success() const { return kind == Kind::Exited && code == 0; }
  /// Whether this end counts toward the crash-loop limit when it comes quickly.
  bool counts_as_crash() const { return kind != Kind::SpawnFailed || blame == Blame::Program; }
  /// "exit 1", "signal SIGKILL", "spawn failed: ...", "no READY=1 within ready_timeout".
  std::string to_string() const;
  /// to_string() and its last words: "exit 1: Error: Cannot find module 'express'".
  std::string describe() const;
  friend bool operator==(const ExitStatus&, const ExitStatus&) = default;
};

/// Returns "SIGTERM" for 15 and so on; "SIG<n>" for numbers it does not know.
std::string signal_name(int signal);

}  // namespace clusterd::core
