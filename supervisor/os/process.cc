#include "supervisor/os/process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <pwd.h>
#include <signal.h>
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

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  UniqueFd error_read(pipe_fds[0]);
  UniqueFd error_write(pipe_fds[1]);
  plan.error_fd = error_write.get();

  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD | CLONE_VFORK;
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  const long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) throw std::system_error(errno, std::system_category(), "clone3");
  if (pid == 0) worker::run_child(plan);

  // CLONE_VFORK: we run again only once the child has exec'd or exited.
  Child child{static_cast<pid_t>(pid), UniqueFd(pidfd)};
  error_write.reset();
  worker::ChildError error;
  const ssize_t n = read(error_read.get(), &error, sizeof error);
  if (n == static_cast<ssize_t>(sizeof error)) {
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
