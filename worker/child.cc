// The child side of spawning. Runs in a copy of the master right after clone(): only
// async-signal-safe calls, in an order that matters:
//  1. signals back to defaults and unblocked (the master's handlers and mask must not leak);
//  2. its own process group, so the master can signal the worker and everything it starts;
//  3. the slot's sockets moved to 3.. (first lifted above every target to avoid clobbering);
//     every other fd is marked close-on-exec;
//  4. cwd, RLIMIT_NOFILE and CPU affinity while still privileged;
//  5. groups, gid, uid;
//  6. PR_SET_PDEATHSIG after the id change (which clears it), then a re-check that the master is
//     still the parent, which closes the race of a master that died before the prctl;
//  7. LISTEN_PID = our own pid, known only now; then execve.
#include "worker/child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace clusterd::worker {

namespace {

[[noreturn]] void fail(const ChildPlan& plan, int step) {
  if (plan.error != nullptr) {
    plan.error->step = step;
    plan.error->error = errno;
  }
  _exit(127);
}

void write_pid(char* digits, pid_t pid) {
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
    case kStepProcessGroup:
      return "setpgid";
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
  }
  return "spawn";
}

void run_child(const ChildPlan& plan) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) fail(plan, kStepSignals);

  if (setpgid(0, 0) != 0) fail(plan, kStepProcessGroup);

  // Lift every source fd above all targets (3 .. 3+n-1), then place them.
  const int base = 3 + plan.fd_count;
  int lifted[256];
  const int count = plan.fd_count < 256 ? plan.fd_count : 256;
  for (int i = 0; i < count; ++i) {
    lifted[i] = fcntl(plan.fds[i], F_DUPFD_CLOEXEC, base);
    if (lifted[i] < 0) fail(plan, kStepFds);
  }
  for (int i = 0; i < count; ++i) {
    if (dup2(lifted[i], 3 + i) < 0) fail(plan, kStepFds);  // dup2 clears FD_CLOEXEC on 3+i
  }
  syscall(SYS_close_range, 3 + count, ~0U, CLOSE_RANGE_CLOEXEC);

  if (plan.cwd != nullptr && chdir(plan.cwd) != 0) fail(plan, kStepCwd);
  if (plan.set_nofile) {
    const rlimit limit{plan.nofile_soft, plan.nofile_hard};
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) fail(plan, kStepNofile);
  }
  if (plan.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(plan.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) fail(plan, kStepAffinity);
  }
  if (plan.set_ids) {
    // Raw system calls: glibc's wrappers would try to change the ids of every thread of the
    // parent, whose memory we share, not just ours.
    if (syscall(SYS_setgroups, static_cast<size_t>(plan.group_count), plan.groups) != 0) {
      fail(plan, kStepGroups);
    }
    if (syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) fail(plan, kStepGid);
    if (syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) fail(plan, kStepUid);
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(plan, kStepDeathSignal);
  if (getppid() != plan.parent) {
    errno = ESRCH;
    fail(plan, kStepParentGone);
  }
  if (plan.listen_pid != nullptr) write_pid(plan.listen_pid, getpid());
  execve(plan.path, plan.argv, plan.envp);
  fail(plan, kStepExec);
}

}  // namespace clusterd::worker
