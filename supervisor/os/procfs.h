// Reading processes from /proc: threads, memory, CPU time, allowed CPUs and the process tree.
// Parsers are pure (for tests); the readers do the I/O. Nothing here is cached or estimated.
// /proc/PID/stat and /proc/PID/statm rather than /proc/PID/status, which has the same counters
// but costs the kernel several times more to format. (stat's own rss field is not used: since
// Linux 6.2 it is an approximate per-CPU counter read, off by up to a few hundred KiB per CPU.)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "supervisor/os/facts.h"

namespace clusterd::os {

struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  char state = '?';
  std::uint64_t cpu_ticks = 0;     // utime + stime, in clock ticks
  std::uint64_t user_ticks = 0;    // utime
  std::uint64_t system_ticks = 0;  // stime
  std::uint64_t start_ticks = 0;   // since boot, in clock ticks
  unsigned threads = 0;            // num_threads
};

/// Parses /proc/PID/stat ("pid (comm) state ppid ..."); comm may hold spaces and parentheses.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

/// The resident set in pages: the second field of /proc/PID/statm.
std::optional<std::uint64_t> parse_statm_resident(std::string_view text);

std::optional<ProcStat> read_proc_stat(pid_t pid);
/// /proc, opened at the first call that can (and held): the master calls it at its start, so
/// that the fd is not first needed when the master is short of fds.
int proc_dir();
/// The resident set in KiB (VmRSS), exact; nullopt if the process is gone.
std::optional<std::uint64_t> read_rss_kb(pid_t pid);
/// The CPUs `pid` may run on ("0-1"), from sched_getaffinity; empty if it is gone.
std::string allowed_cpus(pid_t pid);

/// Pss and Private_Clean + Private_Dirty (USS) of /proc/PID/smaps_rollup, in KiB.
struct SharedMemory {
  std::uint64_t pss_kb = 0;
  std::uint64_t uss_kb = 0;
};
std::optional<SharedMemory> parse_smaps_rollup(std::string_view text);
/// nullopt when the process is gone or the file cannot be read (no permission: ptrace access).
std::optional<SharedMemory> read_smaps_rollup(pid_t pid);
/// The open file descriptors of `pid` (entries of /proc/PID/fd); -1 when it cannot be read.
int count_fds(pid_t pid);

/// The numbers of a file that lists pids separated by newlines or spaces (cgroup.procs,
/// cgroup.threads, /proc/PID/task/TID/children), `file` relative to `dir` (or absolute);
/// nullopt when it cannot be opened or read.
std::optional<std::vector<pid_t>> read_pid_list(int dir, const char* file);

/// The children of `pid`: /proc/PID/task/*/children (CONFIG_PROC_CHILDREN), one small read per
/// thread instead of a scan of every process; nullopt when the kernel has no such file.
std::optional<std::vector<pid_t>> children_of(pid_t pid);
/// The children of one thread `tid` of `pid` (its /proc/PID/task/TID/children alone).
std::optional<std::vector<pid_t>> thread_children(pid_t pid, pid_t tid);

/// One pass over /proc: every process's parent, to find the descendants of any pid.
class ProcessTree {
 public:
  /// Scans /proc now.
  static ProcessTree scan();
  /// Builds a tree from (pid, ppid) pairs, for tests.
  static ProcessTree from(const std::vector<std::pair<pid_t, pid_t>>& parents);

  /// Every pid scanned.
  std::vector<pid_t> pids() const;
  /// `pid` and all its descendants, pid first.
  std::vector<pid_t> subtree(pid_t pid) const;
  /// The /proc/PID/stat read during the scan, or null (not scanned, or gone).
  const ProcStat* stat(pid_t pid) const;

 private:
  std::unordered_map<pid_t, std::vector<pid_t>> children_;
  std::unordered_map<pid_t, ProcStat> stats_;
};

/// The calling process (the master) with the totals of its whole tree, and each of `pids` with
/// its descendants (their RSS summed too when `tree_rss`; PSS, USS and open fds read too when
/// `detail`: a status or a scrape, not the memory check). When `cgroups` names every worker's
/// own cgroup (parallel to `pids`), a worker's tree is its cgroup's cgroup.procs and
/// cgroup.threads, and nothing but our own processes is read; otherwise one scan of all of /proc.
/// `cgroup_dirs` (parallel to `pids`, -1 for none) are those cgroups' directory fds, if the caller
/// holds them: reads then start there. With `detail`, each cgroup's cpu.stat is read too.
ProcessSample sample_processes(const std::vector<pid_t>& pids,
                               const std::vector<std::string>& cgroups, bool tree_rss,
                               bool detail = false, const std::vector<int>& cgroup_dirs = {});

/// Seconds since boot (/proc/uptime) and clock ticks per second, to turn start_ticks into ages.
double system_uptime_s();
long clock_ticks_per_second();

}  // namespace clusterd::os
