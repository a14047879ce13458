#include "supervisor/os/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "worker/child.h"
#include "worker/listen_env.h"

namespace clusterd::os {

namespace {

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

constexpr std::size_t kGuardSize = 4096;
constexpr std::size_t kStackSize = 64 * 1024;

}  // namespace

// Everything a starting child reads, and the stack it runs on: ours, in our memory, untouched by
// us until the child has exec'd or exited.
struct ChildMemory {
  std::string path;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::vector<char*> argv_ptrs;
  std::vector<char*> env_ptrs;
  std::vector<int> fds;
  std::vector<gid_t> groups;
  std::string cwd;
  worker::ChildPlan plan;
  void* stack = MAP_FAILED;  // kGuardSize of PROT_NONE below kStackSize of stack

  ChildMemory() = default;
  ChildMemory(const ChildMemory&) = delete;
  ChildMemory& operator=(const ChildMemory&) = delete;
  ~ChildMemory() {
    if (stack == MAP_FAILED) return;
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(stack, kGuardSize + kStackSize);
#endif
    munmap(stack, kGuardSize + kStackSize);
  }
};

Child spawn(const SpawnSpec& spec) {
  // Everything the child needs is laid out here, before the clone, and kept alive by the Child.
  auto memory = std::make_shared<ChildMemory>();
  ChildMemory& m = *memory;
  m.path = spec.path;
  m.argv = spec.argv;
  m.env = spec.env;
  m.argv_ptrs = pointers(m.argv);
  m.env_ptrs = pointers(m.env);
  m.fds = spec.fds;
  m.cwd = spec.cwd;
  worker::ChildPlan& plan = m.plan;
  plan.path = m.path.c_str();
  plan.argv = m.argv_ptrs.data();
  plan.envp = m.env_ptrs.data();
  for (std::string& entry : m.env) {
    if (entry.rfind(worker::kListenPidPrefix, 0) == 0) {
      plan.listen_pid = entry.data() + worker::kListenPidPrefix.size();
    }
  }
  plan.fds = m.fds.data();
  plan.fd_count = static_cast<int>(m.fds.size());
  plan.cwd = m.cwd.empty() ? nullptr : m.cwd.c_str();
  if (spec.ids) {
    m.groups = spec.ids->groups;
    plan.set_ids = true;
    plan.uid = spec.ids->uid;
    plan.gid = spec.ids->gid;
    plan.groups = m.groups.data();
    plan.group_count = static_cast<int>(m.groups.size());
  }
  if (spec.nofile_soft && spec.nofile_hard) {
    plan.set_nofile = true;
    plan.nofile_soft = *spec.nofile_soft;
    plan.nofile_hard = *spec.nofile_hard;
  }
  plan.cpu = spec.cpu;
  plan.parent = getpid();

  // The child runs on a stack of its own in our memory (CLONE_VM: nothing is copied, however
  // large the master is) while we go on (no CLONE_VFORK: a child that waits for a CPU under load
  // does not stall the event loop). A guard page below the stack turns an overflow into a
  // crash of the child rather than a write into our heap.
  m.stack = mmap(nullptr, kGuardSize + kStackSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (m.stack == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap");
  if (mprotect(m.stack, kGuardSize, PROT_NONE) != 0) {
    throw std::system_error(errno, std::system_category(), "mprotect");
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  UniqueFd errors(pipe_fds[0]);
  const UniqueFd error_write(pipe_fds[1]);
  plan.error_fd = error_write.get();
  // Every signal stays blocked until the child has put its handlers back to the defaults: one
  // delivered in between would run the master's handler in the child.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  const int pid = clone(worker::child_main, static_cast<char*>(m.stack) + kGuardSize + kStackSize,
                        CLONE_VM | CLONE_PIDFD | SIGCHLD, &plan, &pidfd);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw std::system_error(clone_errno, std::system_category(), "clone");
  return Child{static_cast<pid_t>(pid), UniqueFd(pidfd), std::move(errors), std::move(memory)};
}

SpawnReport read_spawn_report(int errors_fd) {
  SpawnReport report;
  while (true) {
    worker::ChildError error{0, 0};
    const ssize_t n = read(errors_fd, &error, sizeof error);
    if (n == 0) {
      report.finished = true;
      return report;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      report.finished = errno != EAGAIN;  // EAGAIN: still running; anything else: give up on it
      return report;
    }
    if (n == static_cast<ssize_t>(sizeof error) && error.step != 0) {
      report.error = SpawnError(
          std::string(worker::child_step_name(error.step)) + ": " + std::strerror(error.error),
          error.error);
    }
  }
}

Ids resolve_ids(const std::string& user, const std::string& group) {
  Ids ids{getuid(), getgid(), {}};
  std::vector<char> buffer(16384);
  if (!user.empty()) {
    passwd pw{};
    passwd* found = nullptr;
    const int rc = getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
      throw std::runtime_error("user '" + user + "' " +
                               (rc != 0 ? std::strerror(rc) : "does not exist"));
    }
    ids.uid = pw.pw_uid;
    ids.gid = pw.pw_gid;
    int count = 64;
    ids.groups.resize(static_cast<std::size_t>(count));
    if (getgrouplist(user.c_str(), pw.pw_gid, ids.groups.data(), &count) < 0) {
      ids.groups.resize(static_cast<std::size_t>(count));
      getgrouplist(user.c_str(), pw.pw_gid, ids.groups.data(), &count);
    }
    ids.groups.resize(static_cast<std::size_t>(count));
  }
  if (!group.empty()) {
    struct group gr {};
    struct group* found = nullptr;
    const int rc = getgrnam_r(group.c_str(), &gr, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
      throw std::runtime_error("group '" + group + "' " +
                               (rc != 0 ? std::strerror(rc) : "does not exist"));
    }
    ids.gid = gr.gr_gid;
    if (user.empty()) ids.groups = {gr.gr_gid};
  }
  return ids;
}

bool transient_error(int error) {
  return error == EAGAIN || error == ENOMEM || error == EMFILE || error == ENFILE ||
         error == ENOBUFS;
}

std::optional<Reaped> reap_one() {
  int status = 0;
  const pid_t pid = waitpid(-1, &status, WNOHANG);
  if (pid <= 0) return std::nullopt;
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

void become_subreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    throw std::system_error(errno, std::system_category(), "prctl(PR_SET_CHILD_SUBREAPER)");
  }
}

}  // namespace clusterd::os
