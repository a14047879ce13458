// Reading processes from /proc: threads, memory, CPU time, allowed CPUs and the process tree.
// Parsers are pure (for tests); the readers do the I/O. Nothing here is cached or estimated.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace clusterd::os {

struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  std::uint64_t cpu_ticks = 0;    // utime + stime, in clock ticks
  std::uint64_t start_ticks = 0;  // since boot, in clock ticks
};

struct ProcStatus {
  unsigned threads = 0;
  std::uint64_t rss_kb = 0;
  std::string cpus;  // Cpus_allowed_list, e.g. "0-1"
};

/// Parses /proc/PID/stat ("pid (comm) state ppid ..."); comm may hold spaces and parentheses.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
/// Parses /proc/PID/status for Threads, VmRSS and Cpus_allowed_list.
ProcStatus parse_proc_status(std::string_view text);

std::optional<ProcStat> read_proc_stat(pid_t pid);
std::optional<ProcStatus> read_proc_status(pid_t pid);

/// One pass over /proc: every process's parent, to find the descendants of any pid.
class ProcessTree {
 public:
  /// Scans /proc now.
  static ProcessTree scan();
  /// Builds a tree from (pid, ppid) pairs, for tests.
  static ProcessTree from(const std::vector<std::pair<pid_t, pid_t>>& parents);

  /// `pid` and all its descendants, pid first.
  std::vector<pid_t> subtree(pid_t pid) const;
  /// The /proc/PID/stat read during the scan, or null (not scanned, or gone).
  const ProcStat* stat(pid_t pid) const;

 private:
  std::unordered_map<pid_t, std::vector<pid_t>> children_;
  std::unordered_map<pid_t, ProcStat> stats_;
};

/// Seconds since boot (/proc/uptime) and clock ticks per second, to turn start_ticks into ages.
double system_uptime_s();
long clock_ticks_per_second();

}  // namespace clusterd::os
