// Runs a check in a child process of the test under a seccomp filter that makes one system call
// fail with ENOSYS (a kernel without it, or a sandbox that refuses it: systemd's
// RestrictNamespaces= answers clone3 so), or with another error (ENOSPC: a limit reached).
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <iterator>

namespace clusterd::test {

/// Runs `check` in a child under the filter (`nr` fails with `error`); returns the child's exit
/// code (`check`'s result), 100 when the filter could not be installed, 200 when the child did
/// not exit.
inline int with_syscall_failing(long nr, int (*check)(), int error = ENOSYS) {
  const pid_t pid = fork();
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<unsigned>(error)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
      _exit(100);
    }
    _exit(check());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

}  // namespace clusterd::test
