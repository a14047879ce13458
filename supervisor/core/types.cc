#include "supervisor/core/types.h"

#include <array>

namespace clusterd::core {

TimePoint later(TimePoint now, Duration by) {
  if (by <= Duration::zero()) return now;
  const auto room = std::chrono::duration_cast<Duration>(TimePoint::max() - now);
  return by >= room ? TimePoint::max() : now + by;
}

const char* to_string(LaneState state) {
  switch (state) {
    case LaneState::Idle:
      return "idle";
    case LaneState::Starting:
      return "starting";
    case LaneState::Running:
      return "running";
    case LaneState::Stopping:
      return "stopping";
    case LaneState::Backoff:
      return "backoff";
    case LaneState::Failed:
      return "failed";
  }
  return "unknown";
}

std::string signal_name(int signal) {
  // Linux's numbering on x86_64 and aarch64 (signal(7)).
  static constexpr std::array<const char*, 32> kNames = {
      nullptr, "HUP",  "INT",  "QUIT", "ILL",    "TRAP",   "ABRT",  "BUS",  "FPE",  "KILL", "USR1",
      "SEGV",  "USR2", "PIPE", "ALRM", "TERM",   "STKFLT", "CHLD",  "CONT", "STOP", "TSTP", "TTIN",
      "TTOU",  "URG",  "XCPU", "XFSZ", "VTALRM", "PROF",   "WINCH", "IO",   "PWR",  "SYS"};
  if (signal > 0 && signal < static_cast<int>(kNames.size())) {
    return std::string("SIG") + kNames[static_cast<std::size_t>(signal)];
  }
  return "SIG" + std::to_string(signal);
}

std::string ExitStatus::to_string() const {
  switch (kind) {
    case Kind::Exited:
      return "exit " + std::to_string(code);
    case Kind::Signaled:
      return "signal " + signal_name(code);
    case Kind::SpawnFailed:
      return "spawn failed: " + detail;
    case Kind::ReadyTimeout:
      return detail.empty() ? "no READY=1 within ready_timeout"
                            : "not ready within ready_timeout (probe: " + detail + ")";
    case Kind::WatchdogTimeout:
      return "no WATCHDOG=1 within the watchdog interval (killed with SIGABRT)";
  }
  return "unknown";
}

std::string ExitStatus::describe() const {
  return last_words.empty() ? to_string() : to_string() + ": " + last_words;
}

}  // namespace clusterd::core
