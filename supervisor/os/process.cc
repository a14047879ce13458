#include "supervisor/os/process.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string_view>
#include <system_error>
#include <utility>

#include "supervisor/os/procfs.h"
#include "supervisor/os/spawn_adopt.h"
#include "supervisor/os/spawn_slots.h"
#include "worker/child.h"
#include "worker/listen_env.h"

namespace clusterd::os {

namespace {

constexpr std::size_t kStackSize = ChildMemory::kStackSize;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Hands out pieces of a ChildMemory's data area, in order.
class Carver {
 public:
  explicit Carver(char* next) : next_(next) {}
  template <typename T>
  T* take(std::size_t count) {
    next_ = reinterpret_cast<char*>(round_up(reinterpret_cast<std::uintptr_t>(next_), alignof(T)));
    T* out = reinterpret_cast<T*>(next_);
    next_ += sizeof(T) * count;
    return out;
  }
  char* copy(std::string_view text) {
    char* out = take<char>(text.size() + 1);
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    return out;
  }
  template <typename Text>
  char** copy_all(const std::vector<Text>& texts) {
    char** out = take<char*>(texts.size() + 1);
    for (std::size_t i = 0; i < texts.size(); ++i) out[i] = copy(texts[i]);
    out[texts.size()] = nullptr;
    return out;
  }

 private:
  char* next_;
};

// An upper bound of what Carver takes for `spec`, alignment included.
std::size_t data_size(const SpawnSpec& spec) {
  std::size_t bytes = sizeof(worker::ChildPlan) + 64 + spec.path.size() + spec.cwd.size() + 2;
  for (const std::string& s : spec.argv) bytes += s.size() + 1;
  for (std::string_view s : spec.env) bytes += s.size() + 1;
  bytes += (spec.argv.size() + spec.env.size() + 2) * sizeof(char*) + 2 * alignof(char*);
  bytes += spec.fds.size() * sizeof(int) + alignof(int);
  if (spec.ids) bytes += spec.ids->groups.size() * sizeof(gid_t) + alignof(gid_t);
  return bytes;
}

// struct clone_args of <linux/sched.h> up to `cgroup` (CLONE_ARGS_SIZE_VER2).
struct CloneArgs {
  std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
constexpr std::uint64_t kCloneIntoCgroup = 0x200000000ULL;
constexpr std::uint64_t kCloneClearSighand = 0x100000000ULL;

// clone3(2) whose child calls fn(arg) on the stack given in `args` and exits with its result;
// returns the child's pid, or -errno. glibc has no clone3 wrapper: like its clone(), the child's
// first instructions are ours, because it must not return into the caller's frame.
long clone3_run(CloneArgs* args, int (*fn)(void*), void* arg) {
#if defined(__x86_64__)
  long ret;
  register void* r8 __asm__("r8") = arg;  // the syscall keeps every register but rax, rcx, r11
  register int (*r9)(void*) __asm__("r9") = fn;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"  // the child: the stack given, aligned for a call
      "and $-16, %%rsp\n\t"
      "mov %%r8, %%rdi\n\t"
      "call *%%r9\n\t"
      "mov %%eax, %%edi\n\t"
      "mov $60, %%eax\n\t"  // SYS_exit
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "a"(static_cast<long>(SYS_clone3)), "D"(args), "S"(sizeof(CloneArgs)), "r"(r8), "r"(r9)
      : "rcx", "r11", "memory", "cc");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = SYS_clone3;
  register long x0 __asm__("x0") = reinterpret_cast<long>(args);
  register long x1 __asm__("x1") = sizeof(CloneArgs);
  register void* x2 __asm__("x2") = arg;
  register int (*x3)(void*) __asm__("x3") = fn;
  __asm__ volatile(
      "svc #0\n\t"
      "cbnz x0, 1f\n\t"
      "mov x0, x2\n\t"
      "blr x3\n\t"
      "mov x8, #93\n\t"  // SYS_exit
      "svc #0\n\t"
      "1:\n\t"
      : "+r"(x0)
      : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
      : "memory", "cc");
  return x0;
#else
#error "supervisor/os/process.cc: clone3 is written for x86_64 and aarch64 only"
#endif
}

}  // namespace

namespace {

std::atomic<bool> ignored_known{false};
std::atomic<std::uint64_t> ignored_mask{0};

// The signals set to SIG_IGN here (bit n-1 for signal n), read once and again only after
// signal_dispositions_changed(): 64 sigaction calls are what the child saves.
std::uint64_t ignored_signals() {
  if (!ignored_known.load(std::memory_order_acquire)) {
    std::uint64_t mask = 0;
    for (int sig = 1; sig < NSIG && sig <= 64; ++sig) {
      struct sigaction action {};
      if (sigaction(sig, nullptr, &action) == 0 && (action.sa_flags & SA_SIGINFO) == 0 &&
          action.sa_handler == SIG_IGN) {
        mask |= std::uint64_t{1} << (sig - 1);
      }
    }
    ignored_mask.store(mask, std::memory_order_relaxed);
    ignored_known.store(true, std::memory_order_release);
  }
  return ignored_mask.load(std::memory_order_relaxed);
}

}  // namespace

void signal_dispositions_changed() { ignored_known.store(false, std::memory_order_release); }

namespace {

// Starts the child that runs `plan` on `memory`'s stack, in the cgroup `cgroup_fd` (-1: ours).
// Returns its pid, with its pidfd in *pidfd. Throws std::system_error.
long start_child(worker::ChildPlan& plan, const ChildMemory& memory, int cgroup_fd, int* pidfd) {
  // The child runs on its own stack in our memory (CLONE_VM: nothing is copied, however large
  // the master is) while we go on (no CLONE_VFORK: a child that waits for a CPU under load does
  // not stall the event loop). Every signal stays blocked until the child has put its handlers
  // back to the defaults: one delivered in between would run the master's handler in the child.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = -1;
  int clone_errno = 0;
  // Where clone3 is refused (ENOSYS or EPERM from a seccomp filter: systemd's
  // RestrictNamespaces= cannot inspect clone3's flags, so it answers ENOSYS), the child joins
  // its cgroup itself before it does anything else; it is still never seen running outside it.
  static std::atomic<bool> clone3_refused{false};
  static std::atomic<bool> clear_refused{false};  // CLONE_CLEAR_SIGHAND came with Linux 5.5
  if (!clone3_refused.load(std::memory_order_relaxed)) {
    CloneArgs args{};
    args.flags = CLONE_VM | CLONE_PIDFD | CLONE_CHILD_CLEARTID |
                 (plan.unshare_below > 0 ? CLONE_FILES : 0) |
                 (cgroup_fd >= 0 ? kCloneIntoCgroup : 0);
    args.pidfd = reinterpret_cast<std::uintptr_t>(pidfd);
    args.child_tid = reinterpret_cast<std::uintptr_t>(&plan.in_use);
    args.exit_signal = SIGCHLD;
    args.stack = reinterpret_cast<std::uintptr_t>(memory.stack_top() - kStackSize);
    args.stack_size = kStackSize;
    args.cgroup = cgroup_fd >= 0 ? static_cast<std::uint64_t>(cgroup_fd) : 0;
    long r = -EINVAL;
    if (!clear_refused.load(std::memory_order_relaxed)) {
      // The kernel puts every handled signal back to SIG_DFL in the child: it resets only the
      // ignored ones itself, not all 64.
      args.flags |= kCloneClearSighand;
      plan.handlers_cleared = true;
      plan.ignored = ignored_signals();
      r = clone3_run(&args, worker::child_main, &plan);
      args.flags &= ~kCloneClearSighand;
    }
    if (r == -EINVAL) {
      plan.handlers_cleared = false;
      r = clone3_run(&args, worker::child_main, &plan);
      if (r >= 0) clear_refused.store(true, std::memory_order_relaxed);
    }
    pid = r < 0 ? -1 : r;
    clone_errno = r < 0 ? static_cast<int>(-r) : 0;
    if (pid < 0 && (clone_errno == ENOSYS || clone_errno == EPERM)) {
      clone3_refused.store(true, std::memory_order_relaxed);
    }
  }
  plan.handlers_cleared = plan.handlers_cleared && pid >= 0;
  const char* failed = cgroup_fd >= 0 ? "clone3" : "clone";
  UniqueFd cgroup_procs;
  if (cgroup_fd >= 0 && clone3_refused.load(std::memory_order_relaxed)) {
    // The child writes to an fd we close below: it gets a copy of the table instead of ours (an
    // adopting one copies all of ours once it has its filter, and we wait for that).
    plan.unshare_below = plan.adopt ? worker::kUnshareAll : 0;
    cgroup_procs.reset(openat(cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC));
    plan.cgroup_procs_fd = cgroup_procs.get();
    failed = cgroup_procs ? "clone" : "open(cgroup.procs)";
    clone_errno = errno;
  }
  if (pid < 0 && (cgroup_fd < 0 || cgroup_procs)) {
    const int flags = CLONE_VM | CLONE_PIDFD | CLONE_CHILD_CLEARTID | SIGCHLD |
                      (plan.unshare_below > 0 ? CLONE_FILES : 0);
    pid = clone(worker::child_main, memory.stack_top(), flags, &plan, pidfd, nullptr,
                reinterpret_cast<int*>(&plan.in_use));
    clone_errno = errno;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw std::system_error(clone_errno, std::system_category(), failed);
  // Before cgroup_procs closes; a child with slots keeps the spec's fds there, and its listener
  // is taken when it comes (take_adopt_listener).
  if (plan.adopt && plan.unshare_below == worker::kUnshareAll) wait_own_table(plan, *pidfd);
  return pid;
}

// The user, groups and fd limit the child takes before its exec.
void plan_credentials(const SpawnSpec& spec, Carver& carve, worker::ChildPlan& plan) {
  if (spec.ids) {
    gid_t* groups = carve.take<gid_t>(spec.ids->groups.size());
    std::copy(spec.ids->groups.begin(), spec.ids->groups.end(), groups);
    plan.set_ids = true;
    plan.uid = spec.ids->uid;
    plan.gid = spec.ids->gid;
    plan.groups = groups;
    plan.group_count = static_cast<int>(spec.ids->groups.size());
  }
  if (spec.nofile_soft && spec.nofile_hard) {
    plan.set_nofile = true;
    plan.nofile_soft = *spec.nofile_soft;
    plan.nofile_hard = *spec.nofile_hard;
  }
}

}  // namespace

Child spawn(const SpawnSpec& spec) {
  // Everything the child needs is laid out here, before the clone, and kept alive by the Child.
  ChildMemory memory(data_size(spec));
  Carver carve(memory.data());
  worker::ChildPlan& plan = *new (carve.take<worker::ChildPlan>(1)) worker::ChildPlan{};
  plan.path = carve.copy(spec.path);
  char** argv = carve.copy_all(spec.argv);
  char** envp = carve.copy_all(spec.env);
  plan.argv = argv;
  plan.envp = envp;
  for (char** entry = envp; *entry != nullptr; ++entry) {
    if (std::string_view(*entry).substr(0, worker::kListenPidPrefix.size()) ==
        worker::kListenPidPrefix) {
      plan.listen_pid = *entry + worker::kListenPidPrefix.size();
    }
  }
  int* fds = carve.take<int>(spec.fds.size());
  std::copy(spec.fds.begin(), spec.fds.end(), fds);
  plan.fds = fds;
  plan.fd_count = static_cast<int>(spec.fds.size());
  plan.cwd = spec.cwd.empty() ? nullptr : carve.copy(spec.cwd);
  plan_credentials(spec, carve, plan);
  plan.umask = spec.umask;
  plan.cpu = spec.cpu;
  plan.stdin_fd = spec.stdin_fd;
  plan.stdout_fd = spec.stdout_fd;
  plan.stderr_fd = spec.stderr_fd;
  plan.parent = getpid();

  // Where it can, the child shares our fd table and keeps only the low slots its fds are copied
  // to (spawn_slots.h): no copy of thousands of fds at clone, no closing them at exec.
  std::vector<int*> wanted{&plan.stdin_fd, &plan.stdout_fd, &plan.stderr_fd};
  for (int i = 0; i < plan.fd_count; ++i) wanted.push_back(&fds[i]);
  const SlotLease lease =
      SpawnSlots::lease(wanted.data(), static_cast<int>(wanted.size()), spec.adopt);
  plan.unshare_below = lease.limit;
  plan.released = lease.released;
  plan.wake_fd = lease.wake_fd;
  plan.adopt = spec.adopt;
  if (spec.adopt) {
    plan.no_new_privs = filter_needs_no_new_privs();
    if (plan.unshare_below == 0) {
      // No slots: the child shares our table only until it has its filter, then copies all of
      // it; spawn waits for that (wait_own_table), so the fds of the spec stay open meanwhile.
      plan.unshare_below = worker::kUnshareAll;
      plan.released = &plan.own_table;
      plan.wake_fd = -1;
    }
  }
  int pidfd = -1;
  long pid = -1;
  try {
    pid = start_child(plan, memory, spec.cgroup_fd, &pidfd);
  } catch (...) {
    SpawnSlots::cancel(lease);
    throw;
  }
  SpawnSlots::note_fd(pidfd);
  if (plan.unshare_below > 0) {
    SpawnSlots::assign(lease, static_cast<pid_t>(pid));
  } else {
    SpawnSlots::cancel(lease);  // the child has its own copy of everything already
  }
  UniqueFd adopt_listener;
  const bool pending = plan.adopt && plan.unshare_below != worker::kUnshareAll;
  if (plan.adopt && !pending) {
    adopt_listener.reset(plan.adopt_listener.load(std::memory_order_acquire));
    if (adopt_listener) SpawnSlots::note_fd(adopt_listener.get());
  }
  return Child{static_cast<pid_t>(pid), UniqueFd(pidfd), std::move(memory),
               std::move(adopt_listener), pending};
}

namespace {
const worker::ChildPlan& plan_of(const ChildMemory& memory) {
  return *std::launder(reinterpret_cast<const worker::ChildPlan*>(memory.data()));
}
}  // namespace

UniqueFd take_adopt_listener(const ChildMemory& memory) {
  if (!memory) return {};
  // Set once the seccomp() call returned, before the child wakes the slots; the fd is in this
  // process's table from then on (the child closes only its own copy, once its table is its own).
  const int fd = plan_of(memory).adopt_listener.load(std::memory_order_acquire);
  if (fd < 0) return {};
  SpawnSlots::note_fd(fd);
  return UniqueFd(fd);
}

SpawnReport spawn_report(const ChildMemory& memory) {
  SpawnReport report;
  if (!memory) {
    report.finished = true;
    return report;
  }
  const worker::ChildPlan& plan = plan_of(memory);
  report.finished = plan.in_use.load(std::memory_order_acquire) == 0;
  const int step = report.finished ? plan.failed_step.load(std::memory_order_relaxed) : 0;
  if (step != 0) {
    const int error = plan.failed_errno.load(std::memory_order_relaxed);
    report.error =
        SpawnError(std::string(worker::child_step_name(step)) + ": " + std::strerror(error), error);
  }
  return report;
}

bool wait_started(const ChildMemory& memory, int timeout_ms) {
  if (!memory) return true;
  const std::atomic<int>& word = plan_of(memory).in_use;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (word.load(std::memory_order_acquire) != 0) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    const timespec slice{
        0, static_cast<long>(
               std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(10)).count())};
    // Not FUTEX_PRIVATE: the kernel's wake at the child's exec or exit is the shared kind. A
    // slice at a time, and the word is read again either way.
    syscall(SYS_futex, &word, FUTEX_WAIT, 1, &slice, nullptr, 0);
  }
  return true;
}

bool transient_error(int error) {
  return error == EAGAIN || error == ENOMEM || error == EMFILE || error == ENFILE ||
         error == ENOBUFS;
}

std::optional<Reaped> reap_one() {
  int status = 0;
  const pid_t pid = waitpid(-1, &status, WNOHANG);
  if (pid <= 0) return std::nullopt;
  SpawnSlots::child_gone(pid);  // one that died before it took its own fd table
  return Reaped{pid, status};
}

void signal_pidfd(int pidfd, int signal) {
  if (syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) != 0 && errno != ESRCH) {
    throw std::system_error(errno, std::system_category(), "pidfd_send_signal");
  }
}

void signal_group(pid_t pgid, int signal) {
  if (pgid > 0 && kill(-pgid, signal) != 0 && errno != ESRCH) {
    throw std::system_error(errno, std::system_category(), "kill");
  }
}

void signal_session(pid_t sid, int signal, const std::function<bool(pid_t)>& skip) {
  if (sid <= 1) return;
  // Orphans go to a subreaper's first live thread, our leader: its children file is enough.
  if (std::optional<std::vector<pid_t>> queue = thread_children(getpid(), getpid())) {
    for (std::size_t i = 0; i < queue->size() && i < 1'000'000; ++i) {
      const pid_t pid = (*queue)[i];
      if (pid != sid && skip(pid)) continue;  // another worker: a session of its own
      const std::optional<ProcStat> stat = read_proc_stat(pid);
      if (!stat || stat->session != sid) continue;
      kill(pid, signal);
      if (std::optional<std::vector<pid_t>> more = children_of(pid))
        queue->insert(queue->end(), more->begin(), more->end());
    }
    return;
  }
  const ProcessTree tree = ProcessTree::scan();
  for (pid_t pid : tree.pids()) {
    const ProcStat* stat = tree.stat(pid);
    if (stat != nullptr && stat->session == sid) kill(pid, signal);
  }
}

void kill_adopted(int signal) {
  const pid_t self = getpid();
  const ProcessTree tree = ProcessTree::scan();
  for (pid_t pid : tree.pids()) {
    const ProcStat* stat = tree.stat(pid);
    if (stat != nullptr && stat->ppid == self) kill(pid, signal);
  }
}

void become_subreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    throw std::system_error(errno, std::system_category(), "prctl(PR_SET_CHILD_SUBREAPER)");
  }
}

}  // namespace clusterd::os
