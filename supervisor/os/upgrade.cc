#include "supervisor/os/upgrade.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <system_error>

#include "supervisor/os/unique_fd.h"
#include "supervisor/os/upgrade_parts.h"

extern char** environ;

namespace clusterd::os {

namespace {
constexpr std::size_t kMaxState = 64 << 20;
}  // namespace

namespace upgrade_parts {

void fail(const std::string& what) { throw std::system_error(errno, std::system_category(), what); }

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

FileIdentity identity_of(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) fail("fstat the new binary");
  const auto ns = [](const timespec& t) {
    return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
  };
  return {st.st_dev, st.st_ino, st.st_size, ns(st.st_mtim), ns(st.st_ctim)};
}

}  // namespace upgrade_parts

namespace {

using namespace upgrade_parts;

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

std::string exec_upgrade(const std::string& binary, const FileIdentity& rehearsed,
                         const std::vector<std::string>& argv, const std::string& state,
                         const std::vector<int>& fds, const std::function<void()>& last) {
  UniqueFd memfd;
  FileIdentity now;
  // The fd checked is the fd executed: a file put at the path after this check is not run.
  const UniqueFd exe(open(binary.c_str(), O_PATH | O_CLOEXEC));
  if (!exe) return "cannot execute " + binary + ": " + std::strerror(errno);
  try {
    now = identity_of(exe.get());
    memfd = sealed_state(state, true);
  } catch (const std::system_error& e) {
    return e.what();
  }
  if (now != rehearsed) {
    return binary + " is not the file that rehearsed any more (replaced or changed since): retry";
  }
  const UniqueFd self(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));  // the fallback
  if (!self) return std::string("cannot keep this binary for a hand-back: ") + std::strerror(errno);
  std::vector<std::string> args =
      command_line(binary, argv,
                   {"--upgrade-from", std::to_string(memfd.get()), "--upgrade-fallback",
                    std::to_string(self.get()), "--upgrade-binary", std::to_string(exe.get())});
  std::vector<char*> c_args = c_argv(args);
  if (last) last();
  const BlockedSignals blocked;
  // Only what is handed over crosses the exec: asio accepts control and metrics connections
  // without SOCK_CLOEXEC, and a client whose connection the new master never heard of would wait
  // for its answer forever instead of seeing the connection end (and retrying).
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    return std::string("close_range: ") + std::strerror(errno);
  }
  set_cloexec(fds, false);
  // The binary's fd too: a script's interpreter opens it as /dev/fd/N after the exec.
  set_cloexec({memfd.get(), self.get(), exe.get()}, false);
  syscall(SYS_execveat, exe.get(), "", c_args.data(), environ, AT_EMPTY_PATH);
  const int error = errno;
  set_cloexec(fds, true);
  set_cloexec({memfd.get(), self.get(), exe.get()}, true);
  return "cannot execute " + binary + ": " + std::strerror(error);
}

void name_process(const std::string& argv0) {
  const std::string name = std::filesystem::path(argv0).filename().string().substr(0, 15);
  if (!name.empty()) prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
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
  constexpr int kSealed = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) fail("read the upgrade state: not a sealed memfd");
  if ((seals & kSealed) != kSealed) {
    errno = EPERM;
    fail("read the upgrade state: not sealed against writes");
  }
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
