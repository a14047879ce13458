#include "supervisor/os/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>

#include "worker/child.h"
#include "worker/listen_env.h"

namespace clusterd::os {

namespace {

constexpr std::size_t kPageSize = 4096;
constexpr std::size_t kStackSize = 64 * 1024;

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
  char* copy(const std::string& text) {
    char* out = take<char>(text.size() + 1);
    std::memcpy(out, text.c_str(), text.size() + 1);
    return out;
  }
  char** copy_all(const std::vector<std::string>& texts) {
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
  for (const auto* list : {&spec.argv, &spec.env}) {
    bytes += (list->size() + 1) * sizeof(char*) + alignof(char*);
    for (const std::string& s : *list) bytes += s.size() + 1;
  }
  bytes += spec.fds.size() * sizeof(int) + alignof(int);
  if (spec.ids) bytes += spec.ids->groups.size() * sizeof(gid_t) + alignof(gid_t);
  return bytes;
}

}  // namespace

//   [guard page, PROT_NONE][stack, grows down towards the guard][ChildPlan, argv, env, ...]
ChildMemory::ChildMemory(std::size_t data_bytes)
    : size_(kPageSize + kStackSize + round_up(data_bytes, kPageSize)) {
  void* base =
      mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap");
  base_ = static_cast<char*>(base);
  if (mprotect(base_, kPageSize, PROT_NONE) != 0) {
    const int error = errno;
    reset();
    throw std::system_error(error, std::system_category(), "mprotect");
  }
}

ChildMemory& ChildMemory::operator=(ChildMemory&& other) noexcept {
  if (this != &other) {
    reset();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void ChildMemory::reset() {
  if (base_ != nullptr) munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

char* ChildMemory::stack_top() const { return base_ + kPageSize + kStackSize; }

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
  plan.cpu = spec.cpu;
  plan.parent = getpid();

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  UniqueFd errors(pipe_fds[0]);
  const UniqueFd error_write(pipe_fds[1]);
  plan.error_fd = error_write.get();
  // The child runs on its own stack in our memory (CLONE_VM: nothing is copied, however large
  // the master is) while we go on (no CLONE_VFORK: a child that waits for a CPU under load does
  // not stall the event loop). Every signal stays blocked until the child has put its handlers
  // back to the defaults: one delivered in between would run the master's handler in the child.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  const int pid = clone(worker::child_main, memory.stack_top(), CLONE_VM | CLONE_PIDFD | SIGCHLD,
                        &plan, &pidfd);
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
