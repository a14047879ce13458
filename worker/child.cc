// The child side of spawning. Runs right after clone(CLONE_VM) on its own stack in the master's
// memory, while the master goes on: so it makes raw system calls only (glibc's wrappers would
// set errno, which is the master's), writes nothing but its own stack, and reads nothing but its
// ChildPlan, which the master leaves alone until this child has exec'd or exited. The order
// matters:
//  -. with adoption (docs/adoption.md), the seccomp filter that sends bind() and listen() to the
//     master, while the fd table is still the master's, so that the filter's listener fd is
//     created there; it covers every later step and the program (the child itself makes neither
//     call);
//  0. when the child shares the master's fd table (CLONE_FILES), a table of its own with only
//     the low fds the master staged for it (supervisor/os/spawn_slots.h);
//  1. signals back to defaults (only the ignored ones where clone3's CLONE_CLEAR_SIGHAND has
//     reset the handled ones), then unblocked (the parent blocked them all around the clone, so
//     no signal can run one of the master's handlers in here);
//  2. its own session (setsid): no controlling terminal, so nothing it runs can reach the
//     admin's terminal (TIOCSTI, /dev/tty); its session and process group id is its pid, so the
//     master can signal the worker and everything it starts; stdin is /dev/null;
//  3. the slot's sockets moved to 3.. (first lifted above every target to avoid clobbering);
//     every other fd is marked close-on-exec;
//  4. cwd, the app's umask (the master's own is never passed on), RLIMIT_NOFILE and CPU affinity
//     while still privileged;
//  5. groups, gid, uid;
//  6. PR_SET_PDEATHSIG after the id change (which clears it), then a re-check that the master is
//     still the parent, which closes the race of a master that died before the prctl;
//  7. LISTEN_PID = our own pid, known only now; then execve.
// This file is built without sanitizers: their runtime keeps per-thread state, and the thread
// whose state that would be is the master's.
#include "worker/child.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace clusterd::worker {

namespace {

// A system call that returns -errno on failure and touches no memory of its own. Every argument
// register is set (prctl(PR_SET_NO_NEW_PRIVS) refuses a fifth that is not zero).
long sys(long number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0) {
  long result;
#if defined(__x86_64__)
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a1;
  register long x1 __asm__("x1") = a2;
  register long x2 __asm__("x2") = a3;
  register long x3 __asm__("x3") = a4;
  register long x4 __asm__("x4") = a5;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
                   : "memory", "cc");
  result = x0;
#else
#error "worker/child.cc: raw system calls are written for x86_64 and aarch64 only"
#endif
  return result;
}

template <typename P>
long arg(P* pointer) {
  return static_cast<long>(reinterpret_cast<std::uintptr_t>(pointer));
}

[[noreturn]] void fail(const ChildPlan& plan, int step, long result) {
  plan.failed_errno.store(static_cast<int>(-result), std::memory_order_relaxed);
  plan.failed_step.store(step, std::memory_order_relaxed);
  // Both before the kernel's own store that clears `in_use` at our exit, on any CPU.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (;;) sys(SYS_exit_group, 127);
}

#if defined(__x86_64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
#endif

// The adoption filter: bind() and listen() of the native ABI go to the master (user
// notification); everything else, and every call of another ABI (i386 and x32 on x86_64, arm32
// on aarch64), is allowed untouched. x32 calls carry the native arch with bit 30 set in their
// number, so they never equal __NR_bind or __NR_listen. The kernel caches the verdict of a filter
// that always allows a system call (Linux 5.11+), so the other calls do not even run it.
constexpr sock_filter kAdoptFilter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kNativeArch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bind, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
};

// Installs the adoption filter; its listener fd is created in the table the child has now (the
// master's) and its number written into the plan.
void install_adopt_filter(const ChildPlan& plan) {
  long r;
  if (plan.no_new_privs && (r = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0) {
    fail(plan, kStepNoNewPrivs, r);
  }
  const sock_fprog program{static_cast<unsigned short>(sizeof kAdoptFilter / sizeof(sock_filter)),
                           const_cast<sock_filter*>(kAdoptFilter)};  // the kernel only reads it
  // SPEC_ALLOW: the filter is no sandbox, and must not switch on the speculative store bypass
  // mitigation that kernels before 5.16 apply to every seccomp-filtered process by default.
  // Once the master has read a call, only a fatal signal may end its wait (Linux 5.19+):
  // another one waits for the answer instead of failing the bind with EINTR in a program whose
  // handlers do not restart system calls (Python's).
  constexpr long kFlags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  r = sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, kFlags | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
          arg(&program));
  if (r == -EINVAL) r = sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, kFlags, arg(&program));
  if (r < 0) fail(plan, kStepAdopt, r);
  plan.adopt_listener.store(static_cast<int>(r), std::memory_order_release);
}

// A child that shares the master's fd table takes a table of its own (step 0).
void take_own_table(const ChildPlan& plan) {
  // Until this returns the fd table is the master's: nothing else may touch it.
  const long u = sys(SYS_close_range, plan.unshare_below, ~0U, CLOSE_RANGE_UNSHARE);
  if (u < 0) fail(plan, kStepUnshare, u);  // the master frees the slots when it reaps us
  // The filter's listener is the master's alone: a copy of it that came along goes now, before
  // any fd is placed (its number may be one of 3.. below).
  if (plan.adopt) sys(SYS_close, plan.adopt_listener.load(std::memory_order_relaxed));
  plan.released->store(1, std::memory_order_release);
  const std::uint64_t one = 1;
  if (plan.wake_fd >= 0) sys(SYS_write, plan.wake_fd, arg(&one), sizeof one);
  if (plan.adopt) sys(SYS_futex, arg(plan.released), FUTEX_WAKE, 1);  // spawn() waits for it
}

void write_pid(char* digits, long pid) {
  char reversed[24];
  int n = 0;
  do {
    reversed[n++] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  } while (pid > 0);
  for (int i = 0; i < n; ++i) digits[i] = reversed[n - 1 - i];
  digits[n] = '\0';
}

}  // namespace

const char* child_step_name(int step) {
  switch (step) {
    case kStepSignals:
      return "sigprocmask";
    case kStepCgroup:
      return "write(cgroup.procs)";
    case kStepSession:
      return "setsid";
    case kStepStdin:
      return "dup3(/dev/null, 0)";
    case kStepOutput:
      return "dup3(output pipe, 1 or 2)";
    case kStepCloseFds:
      return "close_range(CLOSE_RANGE_CLOEXEC)";
    case kStepFds:
      return "dup2";
    case kStepCwd:
      return "chdir";
    case kStepNofile:
      return "setrlimit(RLIMIT_NOFILE)";
    case kStepAffinity:
      return "sched_setaffinity";
    case kStepGroups:
      return "setgroups";
    case kStepGid:
      return "setgid";
    case kStepUid:
      return "setuid";
    case kStepDeathSignal:
      return "prctl(PR_SET_PDEATHSIG)";
    case kStepParentGone:
      return "the master exited during start-up";
    case kStepExec:
      return "execve";
    case kStepUnshare:
      return "close_range(CLOSE_RANGE_UNSHARE)";
    case kStepNoNewPrivs:
      return "prctl(PR_SET_NO_NEW_PRIVS)";
    case kStepAdopt:
      return "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)";
  }
  return "spawn";
}

void run_child(const ChildPlan& plan) {
  if (plan.adopt) install_adopt_filter(plan);
  if (plan.unshare_below > 0) take_own_table(plan);
  // The kernel's struct sigaction with SIG_DFL, no flags and an empty mask is all zeroes.
  const unsigned long default_action[4] = {0, 0, 0, 0};
  for (long sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (plan.handlers_cleared && (sig > 64 || (plan.ignored >> (sig - 1) & 1) == 0)) continue;
    sys(SYS_rt_sigaction, sig, arg(default_action), 0, sizeof(unsigned long));
  }
  const unsigned long no_signals = 0;
  long r = sys(SYS_rt_sigprocmask, SIG_SETMASK, arg(&no_signals), 0, sizeof no_signals);
  if (r < 0) fail(plan, kStepSignals, r);
  if (plan.cgroup_procs_fd >= 0 && (r = sys(SYS_write, plan.cgroup_procs_fd, arg("0"), 1)) < 0) {
    fail(plan, kStepCgroup, r);  // "0": the writer itself; before anything else it could start
  }

  if ((r = sys(SYS_setsid)) < 0) fail(plan, kStepSession, r);
  if (plan.stdin_fd > 0 && (r = sys(SYS_dup3, plan.stdin_fd, 0, 0)) < 0) fail(plan, kStepStdin, r);
  if (plan.stdout_fd > 2 && (r = sys(SYS_dup3, plan.stdout_fd, 1, 0)) < 0) {
    fail(plan, kStepOutput, r);
  }
  if (plan.stderr_fd > 2 && (r = sys(SYS_dup3, plan.stderr_fd, 2, 0)) < 0) {
    fail(plan, kStepOutput, r);
  }

  // Lift every source fd above all targets (3 .. 3+n-1), then place them.
  const int count = plan.fd_count < 256 ? plan.fd_count : 256;
  const long base = 3 + count;
  int lifted[256];
  for (int i = 0; i < count; ++i) {
    if ((r = sys(SYS_fcntl, plan.fds[i], F_DUPFD_CLOEXEC, base)) < 0) fail(plan, kStepFds, r);
    lifted[i] = static_cast<int>(r);
  }
  for (int i = 0; i < count; ++i) {  // dup3 without O_CLOEXEC: 3+i stays open across the exec
    if ((r = sys(SYS_dup3, lifted[i], 3 + i, 0)) < 0) fail(plan, kStepFds, r);
  }
  // Everything else the master holds stays behind; a kernel without the flag (before 5.11)
  // fails the spawn rather than leak the master's fds into a worker.
  if ((r = sys(SYS_close_range, base, ~0U, CLOSE_RANGE_CLOEXEC)) < 0) fail(plan, kStepCloseFds, r);

  if (plan.cwd != nullptr && (r = sys(SYS_chdir, arg(plan.cwd))) < 0) fail(plan, kStepCwd, r);
  sys(SYS_umask, plan.umask);  // cannot fail; not shared with the master (no CLONE_FS)
  if (plan.set_nofile) {
    const rlimit limit{plan.nofile_soft, plan.nofile_hard};
    if ((r = sys(SYS_prlimit64, 0, RLIMIT_NOFILE, arg(&limit), 0)) < 0) {
      fail(plan, kStepNofile, r);
    }
  }
  if (plan.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(plan.cpu, &set);
    if ((r = sys(SYS_sched_setaffinity, 0, sizeof set, arg(&set))) < 0) {
      fail(plan, kStepAffinity, r);
    }
  }
  if (plan.set_ids) {
    if ((r = sys(SYS_setgroups, plan.group_count, arg(plan.groups))) < 0) {
      fail(plan, kStepGroups, r);
    }
    if ((r = sys(SYS_setresgid, plan.gid, plan.gid, plan.gid)) < 0) fail(plan, kStepGid, r);
    if ((r = sys(SYS_setresuid, plan.uid, plan.uid, plan.uid)) < 0) fail(plan, kStepUid, r);
  }
  if ((r = sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL)) < 0) fail(plan, kStepDeathSignal, r);
  if (sys(SYS_getppid) != plan.parent) fail(plan, kStepParentGone, -ESRCH);
  if (plan.listen_pid != nullptr) write_pid(plan.listen_pid, sys(SYS_getpid));
  r = sys(SYS_execve, arg(plan.path), arg(plan.argv), arg(plan.envp));
  fail(plan, kStepExec, r);
}

int child_main(void* plan) { run_child(*static_cast<const ChildPlan*>(plan)); }

}  // namespace clusterd::worker
