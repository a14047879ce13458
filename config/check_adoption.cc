// Whether this kernel, in this sandbox, can adopt a worker's own bind() (docs/adoption.md): a
// seccomp filter with a listener (seccomp user notification, Linux 5.0+), and a socket installed
// in the caller's place at a number of the master's choosing (SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SETFD, Linux 5.9+), and a look at the socket behind a caller's fd
// (pidfd_getfd(2), which a SystemCallFilter=@system-service refuses). Asked of a child of ours,
// which a filter would bind for good: it answers in a pipe and exits.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "config/check.h"

namespace clusterd::config {

namespace {

// What the child found: the step that failed and its errno (0, 0: all there).
struct ProbeResult {
  int step = 0;  // 1 prctl, 2 seccomp, 3 the ADDFD ioctl, 4 pidfd_getfd
  int error = 0;
};

[[noreturn]] void answer(int fd, int step, int error) {
  const ProbeResult result{step, error};
  [[maybe_unused]] const ssize_t n = write(fd, &result, sizeof result);
  _exit(0);
}

// In the child: async-signal-safe calls only (the parent may have threads).
[[noreturn]] void probe_child(int fd) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) answer(fd, 1, errno);
  sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  const sock_fprog program{1, allow};
  const long listener =
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
  if (listener < 0) answer(fd, 2, errno);
  seccomp_notif_addfd add{};
  add.id = ~std::uint64_t{0};  // no such call
  add.flags = SECCOMP_ADDFD_FLAG_SETFD;
  add.srcfd = static_cast<std::uint32_t>(listener);
  add.newfd = static_cast<std::uint32_t>(listener);
  if (ioctl(static_cast<int>(listener), SECCOMP_IOCTL_NOTIF_ADDFD, &add) == 0) answer(fd, 3, 0);
  if (errno != ENOENT) answer(fd, 3, errno);
  const long self = syscall(SYS_pidfd_open, getpid(), 0);
  if (self < 0 || syscall(SYS_pidfd_getfd, self, listener, 0) < 0) answer(fd, 4, errno);
  answer(fd, 0, 0);
}

std::string describe(const ProbeResult& result) {
  const std::string error = result.error != 0 ? std::strerror(result.error) : "no error";
  switch (result.step) {
    case 1:
      return "prctl(PR_SET_NO_NEW_PRIVS) failed: " + error;
    case 2:
      if (result.error == EBUSY) {
        return "clusterd already runs under a seccomp filter with a listener (a sandbox that "
               "answers system calls itself), and the kernel allows one per process";
      }
      return "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER) failed: " + error +
             (result.error == EPERM ? " (a SystemCallFilter= without seccomp?)" : "");
    case 3:
      return "SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD is refused: " + error;
    case 4:
      return "pidfd_getfd(2), which looks at the socket a worker binds, failed: " + error +
             (result.error == EPERM ? " (a SystemCallFilter= without pidfd_getfd?)" : "");
  }
  return "the probe failed: " + error;
}

}  // namespace

std::string adoption_unsupported() {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  // Every signal blocked in the child: a handler of ours must not run there.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    probe_child(pipe_fds[1]);
  }
  const int fork_error = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(pipe_fds[1]);
  if (pid < 0) {
    close(pipe_fds[0]);
    return std::string("fork: ") + std::strerror(fork_error);
  }
  ProbeResult result{};
  ssize_t n;
  do {
    n = read(pipe_fds[0], &result, sizeof result);
  } while (n < 0 && errno == EINTR);
  close(pipe_fds[0]);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof result)) return "the probe child died before it answered";
  return result.step == 0 ? std::string() : describe(result);
}

}  // namespace clusterd::config
