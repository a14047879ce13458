#include "supervisor/os/process.h"

#include <fcntl.h>
#include <grp.h>
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

}  // namespace

Child spawn(const SpawnSpec& spec) {
  // Everything the child needs is laid out here, before the clone.
  std::vector<std::string> argv = spec.argv;
  std::vector<std::string> env = spec.env;
  std::vector<char*> argv_ptrs = pointers(argv);
  std::vector<char*> env_ptrs = pointers(env);
  worker::ChildPlan plan;
  plan.path = spec.path.c_str();
  plan.argv = argv_ptrs.data();
  plan.envp = env_ptrs.data();
  for (std::string& entry : env) {
    if (entry.rfind(worker::kListenPidPrefix, 0) == 0) {
      plan.listen_pid = entry.data() + worker::kListenPidPrefix.size();
    }
  }
  plan.fds = spec.fds.data();
  plan.fd_count = static_cast<int>(spec.fds.size());
  plan.cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  if (spec.ids) {
    plan.set_ids = true;
    plan.uid = spec.ids->uid;
    plan.gid = spec.ids->gid;
    plan.groups = spec.ids->groups.data();
    plan.group_count = static_cast<int>(spec.ids->groups.size());
  }
  if (spec.nofile_soft && spec.nofile_hard) {
    plan.set_nofile = true;
    plan.nofile_soft = *spec.nofile_soft;
    plan.nofile_hard = *spec.nofile_hard;
  }
  plan.cpu = spec.cpu;
  plan.parent = getpid();

  // The child runs on a stack of its own in our memory (CLONE_VM) while we wait (CLONE_VFORK),
  // as posix_spawn does: no copy of the master's address space, however large it is. We run
  // again once the child has exec'd (its memory is then its own) or exited, having written
  // what failed into `error`.
  static void* stack = nullptr;
  constexpr std::size_t kStackSize = 256 * 1024;
  if (stack == nullptr) {
    stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
      stack = nullptr;
      throw std::system_error(errno, std::system_category(), "mmap(child stack)");
    }
  }
#if defined(__SANITIZE_ADDRESS__)
  // Each child leaves its frames' redzones poisoned on this stack (it never returns): clear them,
  // or the next child trips over them.
  ASAN_UNPOISON_MEMORY_REGION(stack, kStackSize);
#endif
  worker::ChildError error{0, 0};
  plan.error = &error;
  int pidfd = -1;
  const int pid = clone(
      [](void* arg) -> int { worker::run_child(*static_cast<const worker::ChildPlan*>(arg)); },
      static_cast<char*>(stack) + kStackSize, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan,
      &pidfd);
  if (pid < 0) throw std::system_error(errno, std::system_category(), "clone");
  Child child{static_cast<pid_t>(pid), UniqueFd(pidfd)};
  if (error.step != 0) {
    int status = 0;
    waitpid(child.pid, &status, 0);
    throw SpawnError(
        std::string(worker::child_step_name(error.step)) + ": " + std::strerror(error.error),
        error.error);
  }
  return child;
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
