#include "supervisor/os/upgrade.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <system_error>

#include "supervisor/os/unique_fd.h"

extern char** environ;

namespace clusterd::os {

namespace {

constexpr std::size_t kMaxState = 64 << 20;

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::system_category(), what);
}

// The state in a memfd nobody can change any more (F_SEAL_*): what the rehearsal accepted is
// what the take-over reads.
UniqueFd sealed_state(const std::string& state, bool cloexec) {
  UniqueFd fd(
      memfd_create("clusterd-upgrade-state", MFD_ALLOW_SEALING | (cloexec ? MFD_CLOEXEC : 0U)));
  if (!fd) fail("memfd_create");
  for (std::size_t done = 0; done < state.size();) {
    const ssize_t n = write(fd.get(), state.data() + done, state.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write the upgrade state");
    done += static_cast<std::size_t>(n);
  }
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    fail("seal the upgrade state");
  }
  lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (std::string& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// The master's command line `argv` as `binary` runs it: argv[0] replaced, `extra` appended.
std::vector<std::string> command_line(const std::string& binary, std::vector<std::string> argv,
                                      std::initializer_list<std::string> extra) {
  if (argv.empty()) argv.emplace_back();
  argv[0] = binary;
  argv.insert(argv.end(), extra);
  return argv;
}

std::string signal_text(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

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

void set_cloexec(const std::vector<int>& fds, bool on) {
  for (int fd : fds) {
    const int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
  }
}

class BlockedSignals {
 public:
  BlockedSignals() {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old_);
  }
  ~BlockedSignals() { sigprocmask(SIG_SETMASK, &old_, nullptr); }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;

 private:
  sigset_t old_{};
};

}  // namespace

std::optional<std::string> rehearse_upgrade(const std::string& binary,
                                            const std::vector<std::string>& argv_in,
                                            const std::string& state,
                                            std::chrono::milliseconds timeout) {
  const UniqueFd memfd = sealed_state(state, true);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) fail("pipe");
  UniqueFd err_read(err_pipe[0]);
  UniqueFd err_write(err_pipe[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  posix_spawn_file_actions_adddup2(&actions, memfd.get(), 3);
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);  // asio's accepted sockets lack CLOEXEC
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
  // The command line the exec will have: an option the new binary no longer knows fails here.
  std::vector<std::string> args = command_line(binary, argv_in, {"--upgrade-check"});
  std::vector<char*> argv = c_argv(args);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return "cannot execute " + binary + ": " + std::strerror(rc);
  err_write.reset();
  UniqueFd pidfd(open_pidfd(pid));
  std::string said;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool exited = false;
  while (!exited) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::array<pollfd, 2> fds{{{pidfd.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}}};
    if (poll(fds.data(), err_read ? 2 : 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      break;
    }
    if (err_read && (fds[1].revents & (POLLIN | POLLHUP)) != 0) {
      std::array<char, 4096> buffer{};
      const ssize_t n = read(err_read.get(), buffer.data(), buffer.size());
      if (n > 0 && said.size() < 64 * 1024) said.append(buffer.data(), static_cast<std::size_t>(n));
      if (n == 0) err_read.reset();
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
  if (!exited) return "timed out after " + std::to_string(timeout.count() / 1000) + " s (killed)";
  if (WIFSIGNALED(status)) return "signal " + signal_text(WTERMSIG(status));
  if (WEXITSTATUS(status) == 0) return std::nullopt;
  const std::string why = last_line(said);
  return "exit " + std::to_string(WEXITSTATUS(status)) + (why.empty() ? "" : ": " + why);
}

std::string exec_upgrade(const std::string& binary, const std::vector<std::string>& argv,
                         const std::string& state, const std::vector<int>& fds) {
  UniqueFd memfd;
  try {
    memfd = sealed_state(state, false);
  } catch (const std::system_error& e) {
    return e.what();
  }
  const UniqueFd self(open("/proc/self/exe", O_RDONLY));  // inherited: the fallback
  if (!self) return std::string("cannot keep this binary for a hand-back: ") + std::strerror(errno);
  std::vector<std::string> args = command_line(binary, argv,
                                               {"--upgrade-from", std::to_string(memfd.get()),
                                                "--upgrade-fallback", std::to_string(self.get())});
  std::vector<char*> c_args = c_argv(args);
  const BlockedSignals blocked;
  // Only what is handed over crosses the exec: asio accepts control and metrics connections
  // without SOCK_CLOEXEC, and a client whose connection the new master never heard of would wait
  // for its answer forever instead of seeing the connection end (and retrying).
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    return std::string("close_range: ") + std::strerror(errno);
  }
  set_cloexec(fds, false);
  set_cloexec({memfd.get(), self.get()}, false);
  execve(binary.c_str(), c_args.data(), environ);
  const int error = errno;
  set_cloexec(fds, true);
  return "cannot execute " + binary + ": " + std::strerror(error);
}

namespace {

// What the crash handler needs, built before it can run: the fds to restore and, per signal, the
// whole argv of the previous binary with its reason.
struct Guard {
  int binary_fd = -1;
  std::vector<std::pair<int, int>> copies;  // (handed fd, its copy)
  std::vector<std::string> argv;
  std::array<std::vector<std::string>, 32> crash_args;
  std::array<std::vector<char*>, 32> crash_argv;
};
Guard* guard = nullptr;
constexpr std::array<int, 6> kGuarded = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM};

void restore_and_exec(char* const* argv) {
  for (const auto& [fd, copy] : guard->copies) dup2(copy, fd);
  // The previous binary is not told this fd (it cannot hand back again): gone with the exec.
  fcntl(guard->binary_fd, F_SETFD, FD_CLOEXEC);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  syscall(SYS_execveat, guard->binary_fd, "", argv, environ, AT_EMPTY_PATH);
}

extern "C" void take_over_crashed(int sig) {
  if (guard != nullptr && sig >= 0 && sig < 32 && !guard->crash_argv[sig].empty()) {
    restore_and_exec(guard->crash_argv[sig].data());
  }
  _exit(70);  // nothing left to hand back to
}

std::vector<std::string> with_reason(const std::vector<std::string>& argv, const std::string& why) {
  std::vector<std::string> out = argv;
  out.insert(out.end(), {"--upgrade-failed", why.substr(0, 1000)});
  return out;
}

}  // namespace

TakeOverGuard::TakeOverGuard(int binary_fd, const std::vector<int>& handed,
                             std::vector<std::string> argv, std::chrono::seconds limit) {
  auto g = std::make_unique<Guard>();
  g->binary_fd = binary_fd;
  for (const int fd : handed) g->copies.emplace_back(fd, fcntl(fd, F_DUPFD_CLOEXEC, 0));
  g->argv = std::move(argv);
  for (const int sig : kGuarded) {
    const std::string why =
        sig == SIGALRM
            ? "the take-over did not finish within " + std::to_string(limit.count()) + " s"
            : "the new master crashed while taking over (" + signal_text(sig) + ")";
    g->crash_args[sig] = with_reason(g->argv, why);
    g->crash_argv[sig] = c_argv(g->crash_args[sig]);
  }
  guard = g.release();
  // A stack of its own: a SIGSEGV from a stack overflow must still hand back.
  static std::array<char, 64 * 1024> alternate;
  stack_t stack{};
  stack.ss_sp = alternate.data();
  stack.ss_size = alternate.size();
  sigaltstack(&stack, nullptr);
  struct sigaction action {};
  action.sa_handler = take_over_crashed;
  action.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
  sigset_t guarded;
  sigemptyset(&guarded);
  for (const int sig : kGuarded) {
    sigaction(sig, &action, nullptr);
    sigaddset(&guarded, sig);
  }
  sigprocmask(SIG_UNBLOCK, &guarded, nullptr);  // blocked across the exec
  alarm(static_cast<unsigned>(limit.count()));
}

TakeOverGuard::~TakeOverGuard() { done(); }

std::string TakeOverGuard::hand_back(const std::string& why) {
  if (guard == nullptr || guard->binary_fd < 0) return "the previous binary is not at hand";
  std::vector<std::string> args = with_reason(guard->argv, why);
  std::vector<char*> argv = c_argv(args);
  alarm(0);
  restore_and_exec(argv.data());
  return std::string("cannot execute the previous binary: ") + std::strerror(errno);
}

void TakeOverGuard::done() {
  if (guard == nullptr) return;
  alarm(0);
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  for (const int sig : kGuarded) sigaction(sig, &action, nullptr);
  for (const auto& [fd, copy] : guard->copies) close(copy);
  delete guard;
  guard = nullptr;
}

std::string read_upgrade_state(int fd) {
  std::string out;
  std::array<char, 64 * 1024> buffer{};
  for (off_t at = 0;;) {
    const ssize_t n = pread(fd, buffer.data(), buffer.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read the upgrade state");
    if (n == 0) break;
    out.append(buffer.data(), static_cast<std::size_t>(n));
    at += n;
    if (out.size() > kMaxState) {
      errno = EFBIG;
      fail("read the upgrade state");
    }
  }
  return out;
}

void close_on_exec(const std::vector<int>& fds) { set_cloexec(fds, true); }

void unblock_signals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

int open_pidfd(int pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

unsigned long highest_worker_cgroup(const std::string& root) {
  unsigned long highest = 0;
  std::error_code ec;
  for (const auto& app : std::filesystem::directory_iterator(root + "/workers", ec)) {
    if (!app.is_directory(ec)) continue;
    for (const auto& slot : std::filesystem::directory_iterator(app.path(), ec)) {
      if (!slot.is_directory(ec)) continue;
      for (const auto& leaf : std::filesystem::directory_iterator(slot.path(), ec)) {
        const std::string name = leaf.path().filename().string();
        if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos &&
            name.size() < 19) {
          highest = std::max(highest, std::stoul(name));
        }
      }
    }
  }
  return highest;
}

std::string own_binary() {
  // The path it was executed by, not where symlinks lead (/usr/sbin/clusterd, not
  // /opt/clusterd-0.1/bin/clusterd): after the link moves, an upgrade runs what it names now.
  if (const auto* execfn = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
      execfn != nullptr && execfn[0] != '\0' && std::strchr(execfn, '/') != nullptr) {
    if (execfn[0] == '/') return execfn;
    std::error_code ec;
    const std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (!ec) return (cwd / execfn).lexically_normal().string();
  }
  std::array<char, 4096> path{};
  const ssize_t n = readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return {};
  std::string out(path.data(), static_cast<std::size_t>(n));
  // Replaced on disk since it started (a package upgrade): the path names the new file.
  constexpr std::string_view kDeleted = " (deleted)";
  if (out.size() > kDeleted.size() && out.ends_with(kDeleted))
    out.resize(out.size() - kDeleted.size());
  return out;
}

}  // namespace clusterd::os
