// os::spawn with real child processes: what a child that exec'd and one that failed before it
// could leave in their memory, and many children starting at once in our memory.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>

#include "failing_syscall.h"
#include "supervisor/os/process.h"
#include "supervisor/os/spawn_slots.h"

using namespace clusterd::os;
using clusterd::test::with_syscall_failing;

namespace {

SpawnSpec spec_for(std::string path, std::vector<std::string> argv) {
  SpawnSpec spec;
  spec.path = std::move(path);
  spec.argv = std::move(argv);
  spec.env = {"PATH=/usr/bin:/bin"};
  return spec;
}

// Waits (bounded) for the child to exit, reaps it as os::reap_one() does (a spawn slot it held
// is freed) and returns its wait status.
int wait_exit(const Child& child) {
  pollfd pfd{child.pidfd.get(), POLLIN, 0};
  REQUIRE(poll(&pfd, 1, 10000) == 1);
  int status = 0;
  REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  SpawnSlots::child_gone(child.pid);
  return status;
}

}  // namespace

TEST_CASE("a child that execs lets go of its memory and reports no error") {
  const Child child = spawn(spec_for("/bin/sh", {"sh", "-c", "exit 3"}));
  REQUIRE(child.pid > 0);
  const int status = wait_exit(child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  const SpawnReport report = spawn_report(child.memory);
  CHECK(report.finished);
  CHECK_FALSE(report.error.has_value());
}

TEST_CASE("a child's memory is free once it has exec'd, while its program still runs") {
  const Child child = spawn(spec_for("/bin/sleep", {"sleep", "30"}));
  REQUIRE(child.pid > 0);
  CHECK(wait_started(child.memory, 10000));
  const SpawnReport report = spawn_report(child.memory);
  CHECK(report.finished);
  CHECK_FALSE(report.error.has_value());
  // The word is cleared as the exec switches memory; the new name follows a moment later.
  const std::string comm_path = "/proc/" + std::to_string(child.pid) + "/comm";
  std::string comm;
  for (int i = 0; i < 10000 && comm != "sleep\n"; ++i) {
    char text[32] = {};
    const int fd = open(comm_path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK(read(fd, text, sizeof text - 1) > 0);
    close(fd);
    comm = text;
    if (comm != "sleep\n") usleep(1000);
  }
  CHECK(comm == "sleep\n");
  CHECK(waitpid(child.pid, nullptr, WNOHANG) == 0);
  kill(child.pid, SIGKILL);
  wait_exit(child);
}

TEST_CASE("an empty child memory counts as finished") {
  const ChildMemory none;
  CHECK(spawn_report(none).finished);
  CHECK_FALSE(spawn_report(none).error.has_value());
  CHECK(wait_started(none, 0));
}

TEST_CASE("a child whose exec fails reports the step and errno in its memory") {
  const Child child = spawn(spec_for("/nonexistent/worker", {"worker"}));
  const int status = wait_exit(child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 127);
  const SpawnReport report = spawn_report(child.memory);
  CHECK(report.finished);
  const std::optional<SpawnError>& error = report.error;
  REQUIRE(error.has_value());
  CHECK(error->error() == ENOENT);
  CHECK(std::string(error->what()) == "execve: No such file or directory");
  CHECK_FALSE(transient_error(error->error()));
}

TEST_CASE("a child that cannot enter its working directory reports chdir") {
  SpawnSpec spec = spec_for("/bin/true", {"true"});
  spec.cwd = "/nonexistent/dir";
  const Child child = spawn(spec);
  wait_exit(child);
  const std::optional<SpawnError> error = spawn_report(child.memory).error;
  REQUIRE(error.has_value());
  CHECK(std::string(error->what()) == "chdir: No such file or directory");
}

TEST_CASE("the child gets the slot sockets at 3 and up and default signal handling") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  SpawnSpec spec = spec_for(
      "/bin/sh",
      {"sh", "-c", "echo hello >&3 && grep -q '^SigBlk:[[:space:]]*0*$' /proc/self/status"});
  spec.fds = {fds[1]};
  // A blocked signal in the parent must not stay blocked in the worker.
  sigset_t term;
  sigset_t old;
  sigemptyset(&term);
  sigaddset(&term, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  const Child child = spawn(spec);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(fds[1]);
  const int status = wait_exit(child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  char text[16] = {};
  CHECK(read(fds[0], text, sizeof text - 1) == 6);
  CHECK(std::string(text) == "hello\n");
  close(fds[0]);
}

TEST_CASE("many children start side by side, each on its own stack and plan") {
  constexpr int kChildren = 64;
  std::vector<Child> children;
  for (int i = 0; i < kChildren; ++i) {
    // Odd ones fail in the child (a missing directory), even ones exec and exit with their index.
    SpawnSpec spec = spec_for("/bin/sh", {"sh", "-c", "exit " + std::to_string(i)});
    if (i % 2 == 1) spec.cwd = "/nonexistent/" + std::to_string(i);
    children.push_back(spawn(spec));
  }
  std::vector<int> statuses;
  for (int i = 0; i < kChildren; ++i) statuses.push_back(wait_exit(children[i]));
  for (int i = 0; i < kChildren; ++i) {
    const int status = statuses[i];
    REQUIRE(WIFEXITED(status));
    const SpawnReport report = spawn_report(children[i].memory);
    CHECK(report.finished);
    if (i % 2 == 1) {
      CHECK(WEXITSTATUS(status) == 127);
      REQUIRE(report.error.has_value());
      CHECK(std::string(report.error->what()) == "chdir: No such file or directory");
    } else {
      CHECK(WEXITSTATUS(status) == i);
      CHECK_FALSE(report.error.has_value());
    }
  }
}

namespace {
// The program's own /proc/self/status says which signals it ignores: none of the parent's.
const char* kNothingIgnored = "grep -q '^SigIgn:[[:space:]]*0*$' /proc/self/status";

// Spawns `spec`, waits for its exit and returns its exit code (-1: killed).
int exit_code(const SpawnSpec& spec) {
  const Child child = spawn(spec);
  const int status = wait_exit(child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("a signal the parent ignores or handles is back to its default in the child") {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction handle {};
  handle.sa_handler = [](int) {};
  struct sigaction old_usr1 {};
  struct sigaction old_usr2 {};
  struct sigaction old_winch {};
  sigaction(SIGUSR1, &handle, &old_usr1);
  sigaction(SIGUSR2, &ignore, &old_usr2);
  sigaction(SIGWINCH, &ignore, &old_winch);
  signal_dispositions_changed();
  const int code = exit_code(spec_for("/bin/sh", {"sh", "-c", kNothingIgnored}));
  sigaction(SIGUSR1, &old_usr1, nullptr);
  sigaction(SIGUSR2, &old_usr2, nullptr);
  sigaction(SIGWINCH, &old_winch, nullptr);
  signal_dispositions_changed();
  CHECK(code == 0);
}

TEST_CASE("the child gets the umask of its spec, not the parent's") {
  const mode_t saved = umask(0);
  for (const auto& [mask, text] : {std::pair{022u, "0022"}, std::pair{027u, "0027"}}) {
    SpawnSpec spec =
        spec_for("/bin/sh", {"sh", "-c", std::string("[ \"$(umask)\" = ") + text + " ]"});
    spec.umask = mask;
    const int status = wait_exit(spawn(spec));
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(umask(saved) == 0);  // the parent's own is untouched
}

TEST_CASE("a large environment and many arguments reach the program intact") {
  SpawnSpec spec = spec_for("/bin/sh", {"sh", "-c",
                                        "test ${#BIG} -eq 100000 && test $# -eq 500 && "
                                        "test \"$1\" = a1 && test \"${500}\" = a500",
                                        "sh"});
  for (int i = 1; i <= 500; ++i) {
    std::string arg = std::to_string(i);
    arg.insert(arg.begin(), 'a');  // not "a" + ...: g++ 12 -O2 warns falsely about that
    spec.argv.push_back(arg);
  }
  std::string big = "BIG=";
  big.append(100000, 'x');
  spec.env.push_back(big);
  const Child child = spawn(spec);
  const int status = wait_exit(child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(spawn_report(child.memory).error.has_value());
}

TEST_CASE("where clone3 is refused, the child still resets every ignored signal itself") {
  const int result = with_syscall_failing(SYS_clone3, [] {
    signal(SIGUSR2, SIG_IGN);
    signal(SIGWINCH, SIG_IGN);
    signal_dispositions_changed();
    return exit_code(spec_for("/bin/sh", {"sh", "-c", kNothingIgnored}));
  });
  CHECK(result == 0);
}

TEST_CASE("a child that cannot mark the master's fds close-on-exec fails instead of leaking them") {
  const int result = with_syscall_failing(SYS_close_range, [] {
    const Child child = spawn(spec_for("/bin/true", {"true"}));
    pollfd pfd{child.pidfd.get(), POLLIN, 0};
    if (poll(&pfd, 1, 10000) != 1) return 1;
    int status = 0;
    waitpid(child.pid, &status, 0);
    SpawnSlots::child_gone(child.pid);
    const SpawnReport report = spawn_report(child.memory);
    if (!report.error) return 2;  // it ran /bin/true with every fd of ours open
    // The step that refused: marking the fds (a copied table), or taking a table of its own
    // (a child sharing ours through the spawn slots, after an earlier test made it large).
    const std::string what = report.error->what();
    return what == "close_range(CLOSE_RANGE_CLOEXEC): Function not implemented" ||
                   what == "close_range(CLOSE_RANGE_UNSHARE): Function not implemented"
               ? 0
               : 3;
  });
  CHECK(result == 0);
}

TEST_CASE("where clone3 is refused, a worker still starts inside its cgroup") {
  // A cgroup of this test's own under the v2 hierarchy; where there is none to write to (no
  // cgroup v2, not root), there is nothing to check.
  const std::string base = access("/sys/fs/cgroup/unified/cgroup.procs", W_OK) == 0
                               ? "/sys/fs/cgroup/unified"
                               : "/sys/fs/cgroup";
  static std::string path;
  path = base + "/clusterd-spawn-test-" + std::to_string(getpid());
  if (mkdir(path.c_str(), 0755) != 0) {
    WARN("no cgroup v2 directory to create under " << base << ": not checked");
    return;
  }
  const int result = with_syscall_failing(SYS_clone3, [] {
    const int dir = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return 1;
    SpawnSpec spec = spec_for("/bin/sleep", {"sleep", "10"});
    spec.cgroup_fd = dir;
    const Child child = spawn(spec);
    if (!wait_started(child.memory, 10000) || spawn_report(child.memory).error) return 2;
    char line[512] = {};
    const int proc = open(("/proc/" + std::to_string(child.pid) + "/cgroup").c_str(), O_RDONLY);
    const ssize_t n = proc < 0 ? -1 : read(proc, line, sizeof line - 1);
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    if (n <= 0) return 3;
    const std::string where(line, static_cast<std::size_t>(n));
    const std::string name = path.substr(path.rfind('/'));
    return where.find(name + "\n") != std::string::npos ? 0 : 4;
  });
  rmdir(path.c_str());
  CHECK(result == 0);
}
