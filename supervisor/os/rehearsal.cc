// The rehearsal of a live upgrade (docs/upgrade.md): the new binary runs with the state and
// answers on a pipe, the old master waits for it (bounded) and reads what it said.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "supervisor/os/unique_fd.h"
#include "supervisor/os/upgrade.h"
#include "supervisor/os/upgrade_parts.h"

extern char** environ;

namespace clusterd::os {

namespace {

using namespace upgrade_parts;

// The last line of what the rehearsal wrote on stderr (its reason for refusing).
std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const std::size_t nl = text.rfind('\n');
  if (nl != std::string::npos) text.erase(0, nl + 1);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // from the new binary
  }
  return text.substr(0, 300);
}

// `fd` moved to a number above the ones a rehearsal's fds are put at (0-5), close-on-exec, so
// that no dup2 onto them overwrites another source.
UniqueFd above_rehearsal_fds(UniqueFd fd) {
  if (!fd || fd.get() > 5) return fd;
  UniqueFd moved(fcntl(fd.get(), F_DUPFD_CLOEXEC, 6));
  if (!moved) fail("fcntl F_DUPFD_CLOEXEC");
  return moved;
}

struct Pipe {
  UniqueFd read;  // non-blocking
  UniqueFd write;
};
Pipe pipe_for_child() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) fail("pipe");
  Pipe p{UniqueFd(fds[0]), above_rehearsal_fds(UniqueFd(fds[1]))};
  fcntl(p.read.get(), F_SETFL, O_NONBLOCK);
  return p;
}

// Reads what `from` holds now into `into`, keeping at most `keep` bytes of it (the rest is read
// and dropped, so that the writer never blocks on us), at most `reads` reads; at its end, closes
// it.
void take(UniqueFd& from, std::string& into, std::size_t keep, int reads) {
  std::array<char, 4096> buffer{};
  for (int i = 0; from && i < reads; ++i) {
    const ssize_t n = read(from.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      from.reset();
      return;
    }
    into.append(buffer.data(),
                std::min(static_cast<std::size_t>(n), keep - std::min(keep, into.size())));
  }
}

// What the rehearsal child gets: /dev/null as stdin and stdout, `err` as stderr, the state at 3,
// the handshake pipe at 4, the binary at 5 (run as /proc/self/fd/5: the file opened, not what
// its path names by then), nothing else; signals as a fresh process has them, a group of its own.
std::optional<int> spawn_rehearsal(int binary, int memfd, int err, int handshake,
                                   std::vector<std::string> args) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err, 2);
  posix_spawn_file_actions_adddup2(&actions, memfd, 3);
  posix_spawn_file_actions_adddup2(&actions, handshake, kHandshakeFd);
  posix_spawn_file_actions_adddup2(&actions, binary, 5);
  posix_spawn_file_actions_addclosefrom_np(&actions, 6);  // asio's accepted sockets lack CLOEXEC
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> argv = c_argv(args);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/fd/5", &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    return std::nullopt;
  }
  return pid;
}

}  // namespace

Rehearsal rehearse_upgrade(const std::string& binary, const std::vector<std::string>& argv_in,
                           const std::string& state, std::chrono::milliseconds timeout,
                           std::size_t handshake_limit) {
  Rehearsal out;
  UniqueFd exe(open(binary.c_str(), O_PATH | O_CLOEXEC));
  if (!exe) {
    out.failed = "cannot execute " + binary + ": " + std::strerror(errno);
    return out;
  }
  exe = above_rehearsal_fds(std::move(exe));
  out.binary = identity_of(exe.get());
  const UniqueFd memfd = above_rehearsal_fds(sealed_state(state, true));
  Pipe err = pipe_for_child();
  Pipe shake = pipe_for_child();
  // The command line the exec will have: an option the new binary no longer knows fails here.
  const std::optional<int> spawned =
      spawn_rehearsal(exe.get(), memfd.get(), err.write.get(), shake.write.get(),
                      command_line(binary, argv_in, {"--upgrade-check"}));
  if (!spawned) {
    out.failed = "cannot execute " + binary + ": " + std::strerror(errno);
    return out;
  }
  const pid_t pid = *spawned;
  err.write.reset();
  shake.write.reset();
  UniqueFd pidfd(open_pidfd(pid));
  std::string said;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool exited = false;
  while (!exited) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::array<pollfd, 3> fds{{{pidfd.get(), POLLIN, 0},
                               {err.read ? err.read.get() : -1, POLLIN, 0},
                               {shake.read ? shake.read.get() : -1, POLLIN, 0}}};
    if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) take(err.read, said, 64 * 1024, 1);
    if ((fds[2].revents & (POLLIN | POLLHUP)) != 0) {
      take(shake.read, out.handshake, handshake_limit + 1, 1);
    }
    exited = (fds[0].revents & POLLIN) != 0;
  }
  if (!exited) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);  // also if it left its group: our unreaped child, never another process
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  kill(-pid, SIGKILL);  // whatever it left in its group goes with it
  // What it wrote just before it ended is still in the pipes (bounded: a descendant that left
  // the group may hold them open and write on).
  take(err.read, said, 64 * 1024, 64);
  take(shake.read, out.handshake, handshake_limit + 1, 64);
  if (!exited) {
    out.failed = "timed out after " + std::to_string(timeout.count() / 1000) + " s (killed)";
  } else if (WIFSIGNALED(status)) {
    out.failed = "signal " + signal_text(WTERMSIG(status));
  } else if (WEXITSTATUS(status) != 0) {
    const std::string why = last_line(said);
    out.failed = "exit " + std::to_string(WEXITSTATUS(status)) + (why.empty() ? "" : ": " + why);
  }
  return out;
}

void send_handshake(std::string_view line) {
  struct stat st {};
  if (fstat(kHandshakeFd, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
  while (!line.empty()) {
    const ssize_t n = write(kHandshakeFd, line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    line.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace clusterd::os
