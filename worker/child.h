// What runs in the child between clone and exec. Everything it needs is prepared by the parent in
// a ChildPlan (paths, argv, envp, ids, fds), so the child only makes async-signal-safe system
// calls: no allocation, no locks, no logging. It runs on its own stack in the parent's memory
// (CLONE_VM, like posix_spawn, but without CLONE_VFORK: the parent does not wait for the exec),
// so it makes raw system calls and touches nothing but its stack and the plan; what fails is
// written into the plan (ChildPlan::failed_step) before the child exits.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace clusterd::worker {

struct ChildPlan {
  const char* path = nullptr;   // the resolved executable
  char* const* argv = nullptr;  // NULL-terminated
  char* const* envp = nullptr;  // NULL-terminated
  char* listen_pid = nullptr;   // the digits of the LISTEN_PID entry inside envp, or null
  const int* fds = nullptr;     // placed at 3, 4, ... in this order
  int fd_count = 0;
  const char* cwd = nullptr;  // null = inherit
  bool set_ids = false;       // drop to uid/gid/groups
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  int group_count = 0;
  bool set_nofile = false;
  unsigned long nofile_soft = 0;  // RLIMIT_NOFILE for the worker
  unsigned long nofile_hard = 0;
  unsigned umask = 022;  // the worker's umask (the master's own is not passed on)
  int cpu = -1;          // pin to this CPU; -1 = inherit the mask
  pid_t parent = 0;      // the master; PR_SET_PDEATHSIG is re-checked against it
  int stdin_fd = -1;     // becomes fd 0 (the master's /dev/null); -1 = inherit
  int stdout_fd = -1;    // becomes fd 1 (a pipe the master reads); -1 = inherit
  int stderr_fd = -1;    // becomes fd 2; -1 = inherit
  // A cgroup's cgroup.procs, open for writing: the child moves itself there first thing. Only
  // where clone3(CLONE_INTO_CGROUP) is refused (a seccomp filter such as systemd's
  // RestrictNamespaces= answers ENOSYS to clone3); -1 = none.
  int cgroup_procs_fd = -1;
  // The child was created sharing the master's fd table (CLONE_FILES): its first system call
  // makes a table of its own holding only the fds below `unshare_below` (close_range with
  // CLOSE_RANGE_UNSHARE), where the master put everything above; then it sets `*released` and
  // writes 1 to the eventfd `wake_fd`, so the master may use those low fds again
  // (supervisor/os/spawn_slots.h). 0: the child got a copy of the table at clone.
  int unshare_below = 0;
  std::atomic<int>* released = nullptr;
  int wake_fd = -1;
  // Cloned with CLONE_CLEAR_SIGHAND: the kernel has put every handled signal back to SIG_DFL, so
  // only the ignored ones are reset (bit n-1 for signal n). false: every signal is.
  bool handlers_cleared = false;
  std::uint64_t ignored = 0;
  // Socket adoption (docs/adoption.md): before anything else, while the fd table is still the
  // master's (CLONE_FILES, `unshare_below` > 0), the child installs the seccomp filter that
  // stops its bind() and listen() calls for the master (SECCOMP_FILTER_FLAG_NEW_LISTENER), so
  // the filter's listener fd lands in the master's table; it writes that fd's number into
  // `adopt_listener`, closes its own copy once the table is its own, then sets `*released` and
  // wakes a futex waiter on it. `no_new_privs` first where the master lacks CAP_SYS_ADMIN (the
  // kernel refuses a filter otherwise). Every later step, the exec included, runs under it.
  bool adopt = false;
  bool no_new_privs = false;
  mutable std::atomic<int> adopt_listener{-1};
  // `released` for a child that has no spawn slots (its table is copied whole at the unshare).
  std::atomic<int> own_table{0};
  // The child is cloned with CLONE_CHILD_CLEARTID pointing here: the kernel writes 0 (and wakes
  // a futex waiter) when the child lets go of the master's memory, at its exec or at its exit.
  // Until then the plan and the stack are the child's.
  std::atomic<int> in_use{1};
  // What failed, written before the child exits with 127: a ChildStep and its errno (0: none).
  // The child makes the two visible before its exit clears `in_use`.
  mutable std::atomic<int> failed_step{0};
  mutable std::atomic<int> failed_errno{0};
};

enum ChildStep {
  kStepSignals = 1,
  kStepCgroup,
  kStepSession,
  kStepStdin,
  kStepOutput,
  kStepFds,
  kStepCloseFds,
  kStepCwd,
  kStepNofile,
  kStepAffinity,
  kStepGroups,
  kStepGid,
  kStepUid,
  kStepDeathSignal,
  kStepParentGone,
  kStepExec,
  kStepUnshare,
  kStepNoNewPrivs,
  kStepAdopt,
};

/// close_range(kUnshareAll, ~0U, CLOSE_RANGE_UNSHARE) gives a child that shares the master's fd
/// table a copy of all of it (an adopting child without spawn slots).
inline constexpr int kUnshareAll = 0x7fffffff;

/// "chdir", "setuid", "execve" and so on, for error messages.
const char* child_step_name(int step);

/// Sets up the process as the plan says and execs it. Never returns.
[[noreturn]] void run_child(const ChildPlan& plan);
/// run_child() as the entry point of clone(): `plan` is a const ChildPlan*.
int child_main(void* plan);

}  // namespace clusterd::worker
