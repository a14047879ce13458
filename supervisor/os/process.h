// Starting, signalling and reaping worker processes.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/os/facts.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

struct SpawnSpec {
  std::string path;  // resolved executable
  std::vector<std::string> argv;
  std::vector<std::string_view> env;  // worker::build_worker_env()'s, living until spawn() returns
  std::vector<int> fds;               // placed at 3, 4, ...
  std::string cwd;                    // empty = inherit
  std::optional<Ids> ids;
  std::optional<unsigned long> nofile_soft;  // RLIMIT_NOFILE to set; unset = inherit the master's
  std::optional<unsigned long> nofile_hard;
  unsigned umask = 022;  // the worker's umask
  int cpu = -1;          // -1 = inherit the affinity mask
  int stdin_fd = -1;     // becomes the worker's fd 0 (/dev/null); -1 = inherit
  int stdout_fd = -1;    // becomes its fd 1 (a pipe's write end); -1 = inherit
  int stderr_fd = -1;    // becomes its fd 2; -1 = inherit
  int cgroup_fd = -1;    // start the child in this cgroup (a directory fd); -1 = the master's
  // Socket adoption (docs/adoption.md): the child runs under a seccomp filter that stops its
  // bind() and listen() calls for the master to answer through Child::adopt_listener
  // (supervisor/os/adopt.h). A master without CAP_SYS_ADMIN sets no_new_privs in the child first.
  bool adopt = false;
};

/// A spawn that failed before the program ran ("execve: Permission denied").
class SpawnError : public std::runtime_error {
 public:
  SpawnError(const std::string& what, int error) : std::runtime_error(what), error_(error) {}
  int error() const { return error_; }  // the errno of the failed step

 private:
  int error_;
};

/// True for the errno values that mean "out of a resource, try again later".
bool transient_error(int error);

/// One mapping per starting child: a guard page, its stack, and its plan with every string the
/// plan points to. The child runs in it until it has exec'd or exited; afterwards reset() keeps
/// it for the next child (a few are kept) or unmaps it, leaving nothing behind in the heap.
class ChildMemory {
 public:
  static constexpr std::size_t kStackSize = 64 * 1024;
  ChildMemory() = default;
  explicit ChildMemory(std::size_t data_bytes);  // throws std::system_error
  ChildMemory(ChildMemory&& other) noexcept { *this = std::move(other); }
  ChildMemory& operator=(ChildMemory&& other) noexcept;
  ~ChildMemory() { reset(); }
  void reset();
  explicit operator bool() const { return base_ != nullptr; }
  char* stack_top() const;
  char* data() const { return stack_top(); }  // the plan lives above the stack

 private:
  char* base_ = nullptr;
  std::size_t size_ = 0;
};

/// Unmaps the memories kept for the next children: once a burst of spawns is over, the pages
/// they were touched in go back to the kernel (a later spawn maps one again).
void release_spare_child_memory();

struct Child {
  pid_t pid = 0;
  UniqueFd pidfd;
  /// The child runs in this memory until it has exec'd or exited: keep it until spawn_report()
  /// says `finished` (at the latest once the child has been reaped).
  ChildMemory memory;
  /// SpawnSpec::adopt: the listener fd of the child's seccomp filter (pollable; one per worker,
  /// shared by everything it starts), already in this process's table. Empty when the child
  /// failed before it had its filter (spawn_report() says why), or when it is still to come
  /// (`adopt_pending`: take_adopt_listener()).
  UniqueFd adopt_listener;
  /// The child had spawn slots: spawn() did not wait for its filter. Its listener lands in this
  /// process's table before the child wakes the slots (SpawnSlots::wake_fd) and before its exec.
  bool adopt_pending = false;
};

/// The listener of a child spawn() returned with `adopt_pending`, once the child has made it
/// (empty before, and for a child that failed first). Call it until it gives one, or until
/// spawn_report() says `finished` (then once more: a child that made it and exited).
UniqueFd take_adopt_listener(const ChildMemory& memory);

/// Starts a worker: clone3(CLONE_VM | CLONE_PIDFD | CLONE_CHILD_CLEARTID | CLONE_CLEAR_SIGHAND)
/// on a stack of its own, with CLONE_INTO_CGROUP when a cgroup is given (so it never runs
/// outside it); clone() where clone3 is refused. The child sets itself up and execs. Returns at
/// once, without waiting for the exec (unlike vfork), so a child that waits for a CPU does not hold
/// up the caller. A failure before the program runs is written into the child's memory before it
/// exits: see spawn_report(). Throws std::system_error if no child could be created at all.
/// With SpawnSpec::adopt and no spawn slots to lend it, it returns once the child has its filter
/// and a fd table of its own (its first few system calls: the fds of the spec may be closed
/// then), or has exited; with slots, at once (Child::adopt_pending).
Child spawn(const SpawnSpec& spec);

/// spawn() reads which signals are ignored here once: call this after setting one to SIG_IGN or
/// back (clusterd sets SIGPIPE before its first spawn and nothing later), or the workers started
/// afterwards would see the old set.
void signal_dispositions_changed();

struct SpawnReport {
  /// The child has exec'd or exited: its ChildMemory may go.
  bool finished = false;
  /// Once finished: the step that failed and its errno ("execve: No such file or directory").
  std::optional<SpawnError> error;
};
/// Where a child's start-up is, without blocking or a system call: the kernel clears a word of
/// the child's memory when the child lets go of it, at its exec or its exit. A child that
/// exited after a failed step wrote the step first. An empty memory is finished.
SpawnReport spawn_report(const ChildMemory& memory);
/// Waits (a futex on the same word) until the child has exec'd or exited; false if it has not
/// after `timeout_ms`.
bool wait_started(const ChildMemory& memory, int timeout_ms);

/// Looks up a user (and a group, or the user's primary group). A string of digits is that uid or
/// gid, with or without an entry in the user database (config::numeric_id()). Throws
/// std::runtime_error.
Ids resolve_ids(const std::string& user, const std::string& group);
/// Looks up every name of `queries` (blocking: NSS).
ResolvedNames lookup_names(const NameQueries& queries);
/// ResolvedNames as text, and back (for a lookup done in a child process).
std::string encode_names(const ResolvedNames& names);
ResolvedNames decode_names(const std::string& text);

struct Reaped {
  pid_t pid = 0;
  int status = 0;  // as from waitpid()
};
/// Reaps one exited child of this process (a worker or an orphan handed to us as subreaper).
std::optional<Reaped> reap_one();

/// Sends `signal` through a pidfd; a process that is already gone is not an error.
void signal_pidfd(int pidfd, int signal);
/// Sends `signal` to a process group; an empty group is not an error.
void signal_group(pid_t pgid, int signal);
/// Sends `signal` to every process in session `sid` below this process: its children not in
/// `skip` (the live workers, which lead sessions of their own) that are in the session, and
/// theirs, down the tree (a process in the session descends from one in it). Cost: our own
/// tree's adopted processes, not the host's (a /proc scan only where the kernel lacks
/// /proc/PID/task/TID/children). For a dead worker: its orphans were reparented to us.
void signal_session(pid_t sid, int signal, const std::function<bool(pid_t)>& skip);
/// Sends `signal` to every child of this process (at a clean stop, with every worker gone: the
/// orphans it adopted as subreaper; a /proc scan).
void kill_adopted(int signal);

/// Makes orphaned descendants of this process its children (PR_SET_CHILD_SUBREAPER).
void become_subreaper();

}  // namespace clusterd::os
