// The system calls of a live upgrade (docs/upgrade.md): the rehearsal of the new binary, the
// exec in place with the state in a sealed memfd, and reading that state back.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/os/facts.h"

namespace clusterd::os {

/// The new binary's fd in a rehearsal where it answers the old master (its handshake).
inline constexpr int kHandshakeFd = 4;

/// Runs `binary` with `argv` (argv[0] replaced by it) and `--upgrade-check` in a process group of
/// its own, with `state` in a sealed memfd at its fd 3 and a pipe at its fd kHandshakeFd, and
/// waits at most `timeout` for it to exit. The file is opened once and run through that fd, so
/// the identity returned is that of the file that ran, whatever its path names meanwhile. Sets
/// `failed` unless it exited 0: "cannot execute ...", "exit 1: <the last line it wrote on
/// stderr>", "signal SIGSEGV", "timed out after 5 s (killed)"; `handshake` is what it wrote on
/// the pipe, cut after `handshake_limit` + 1 bytes. It is killed (its whole group) and reaped on
/// every path.
Rehearsal rehearse_upgrade(const std::string& binary, const std::vector<std::string>& argv,
                           const std::string& state, std::chrono::milliseconds timeout,
                           std::size_t handshake_limit);

/// Replaces this process with `binary`, provided it is still the file `rehearsed` names (same
/// inode, same size, mtime and ctime), run through the fd that checked it, so that no other file
/// can take its place: `argv` followed by `--upgrade-from FD` (a sealed memfd holding `state`),
/// `--upgrade-fallback FD` (this binary, opened for a re-exec should the new one fail to take
/// over) and `--upgrade-binary FD` (that fd, which the new master closes). `fds` stay open across
/// the exec; every signal is blocked across it (the new master unblocks them once its handlers
/// are in place). `last` runs once every check passed, just before the exec. Returns only on
/// failure, with everything as it was (but for what `last` did), and why.
std::string exec_upgrade(const std::string& binary, const FileIdentity& rehearsed,
                         const std::vector<std::string>& argv, const std::string& state,
                         const std::vector<int>& fds, const std::function<void()>& last = {});

/// The rehearsal's side: writes `line` on fd kHandshakeFd when that is a pipe (a master that
/// reads no handshake leaves no pipe there). Errors are ignored: that master then refuses.
void send_handshake(std::string_view line);

/// Names this process (its comm) after the last part of `argv0`: a binary executed through an fd
/// is otherwise named after the fd's number by older kernels.
void name_process(const std::string& argv0);

/// The new master's way back while it takes over: the previous binary (open at `binary_fd`) takes
/// the state back, with the fds as they were handed over (copies are kept until done()), when
/// the take-over throws (hand_back()), crashes (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) or is
/// not done within `limit` (SIGALRM). `argv` is the command line to run it with, to which
/// `--upgrade-failed WHY` is added. One at a time; the handler makes only async-signal-safe calls.
class TakeOverGuard {
 public:
  TakeOverGuard(int binary_fd, const std::vector<int>& handed, std::vector<std::string> argv,
                std::chrono::seconds limit);
  ~TakeOverGuard();
  TakeOverGuard(const TakeOverGuard&) = delete;
  TakeOverGuard& operator=(const TakeOverGuard&) = delete;

  /// Execs the previous binary with `why`. Returns only when that failed, with why.
  std::string hand_back(const std::string& why);
  /// The take-over succeeded: disarms, closes the copies.
  void done();
};

/// The whole content of the state memfd at `fd` (from its start), at most 64 MiB; it must be
/// sealed against writes (no process can have changed it since it was written). Throws
/// std::system_error.
std::string read_upgrade_state(int fd);

/// Marks `fds` close-on-exec again (the new master, for what it took over).
void close_on_exec(const std::vector<int>& fds);

/// Unblocks every signal (the new master, once its handlers are in place).
void unblock_signals();

/// A pidfd for `pid` (a child of ours, still unreaped, in a live upgrade); -1 when it cannot.
int open_pidfd(int pid);

/// The highest number among the worker cgroups under `root`/workers/APP/SLOT/N (0 if none): a
/// new master numbers its cgroups above those its predecessor left.
unsigned long highest_worker_cgroup(const std::string& root);

/// The running binary's path (/proc/self/exe), or empty.
std::string own_binary();

}  // namespace clusterd::os
