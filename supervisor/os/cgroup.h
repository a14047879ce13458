// Per-worker cgroups (cgroup v2): where clusterd may create them, and one worker's cgroup:
// membership from birth (clone3 with CLONE_INTO_CGROUP), an atomic kill of the whole tree
// (cgroup.kill), whether anything is left (cgroup.events), and what the tree costs (cgroup.procs,
// cgroup.threads, cpu.stat). Nothing here decides; docs/cgroups.md has the layout.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "supervisor/os/facts.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

/// The cgroup directory clusterd owns, and why it may.
struct CgroupTree {
  std::string root;    // absolute path, e.g. /sys/fs/cgroup/system.slice/clusterd.service
  std::string reason;  // "delegated by systemd", "a container's cgroup namespace", "cgroups: PATH"
  bool own = false;    // root is the master's own cgroup: the master must move into a leaf
};

/// The facts core::choose_cgroups (core/cgroup_choice.h) decides from: where the cgroup v2
/// hierarchy is mounted (empty: nowhere), the master's own cgroup ("/system.slice/x.service"),
/// whether the directory `path` is writable, delegated by systemd (the trusted.delegate or
/// user.delegate xattr), and whether the master has a cgroup namespace of its own.
std::string cgroup_v2_mount();
std::string own_cgroup();
bool writable_dir(const std::string& path);
bool delegated(const std::string& path);
bool in_own_cgroup_namespace();

/// Prepares `tree`: root/workers exists, and with `own`, the master moves into root/master.
/// Throws std::system_error.
void prepare_cgroup_tree(const CgroupTree& tree);

/// The cgroup v2 id of the directory at `path` (its inode number), or 0.
std::uint64_t cgroup_id(const std::string& path);

/// One worker's cgroup.
class Cgroup {
 public:
  /// Creates `path` (and missing parents). Throws std::system_error.
  explicit Cgroup(std::string path);
  Cgroup(Cgroup&&) = default;
  Cgroup& operator=(Cgroup&&) = default;

  const std::string& path() const { return path_; }
  int dir_fd() const { return dir_.get(); }        // for CLONE_INTO_CGROUP
  int events_fd() const { return events_.get(); }  // EPOLLPRI when `populated` changes
  std::uint64_t id() const { return id_; }
  /// True while any process is in it (cgroup.events).
  bool populated() const;
  /// SIGKILL to every process in it at once (cgroup.kill; Linux 5.14+), else each pid of
  /// cgroup.procs.
  void kill() const;
  /// `signal` to each process of cgroup.procs.
  void signal(int signal) const;
  std::vector<pid_t> procs() const;
  /// Removes the directory; false while processes are left in it.
  bool remove() const;

 private:
  std::string path_;
  UniqueFd dir_;
  UniqueFd events_;
  std::uint64_t id_ = 0;
};

/// Writes `limits` into the worker cgroup `leaf` (memory.max, cpu.weight, pids.max), after
/// enabling the controllers they need in cgroup.subtree_control of every directory from `root`
/// down to the leaf's parent (cgroup v2 hands a controller down one level at a time). Returns
/// what could not be applied, in words naming the file (the controller is not available to
/// clusterd's cgroup, say); empty when all of it was. Works on any directory tree, so tests use a
/// scratch one.
/// `memory_high` (max_memory) goes into memory.high the same way, reported as `max_memory`.
std::vector<std::string> apply_limits(const std::string& root, const std::string& leaf,
                                      const config::CgroupLimits& limits,
                                      std::optional<std::uint64_t> memory_high = std::nullopt);

/// The counters of a cgroup's memory.events (each the times it happened).
struct MemoryEvents {
  std::uint64_t high = 0;  // went over memory.high (the kernel throttled and reclaimed)
  std::uint64_t max = 0;
  std::uint64_t oom = 0;
  std::uint64_t oom_kill = 0;
};
/// "low 0\nhigh 3\nmax 0\noom 0\noom_kill 0\n..."; nullopt without a `high` line. Pure.
std::optional<MemoryEvents> parse_memory_events(std::string_view text);
/// memory.events read through an open fd, from its start (the fd stays open to be watched:
/// the kernel marks it readable with EPOLLPRI when a counter changes).
std::optional<MemoryEvents> read_memory_events(int fd);
/// memory.current in bytes; nullopt when it cannot be read.
std::optional<std::uint64_t> read_memory_current(const std::string& cgroup);

/// "populated 1\nfrozen 0\n" -> true. Pure, for tests.
bool parse_populated(const std::string& events);
/// cpu.stat's usage_usec, user_usec and system_usec; nullopt without usage_usec. Pure.
std::optional<CgroupCpu> parse_cgroup_cpu(std::string_view stat);

}  // namespace clusterd::os
