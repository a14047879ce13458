// The least work the kernel allows for what clusterd does, measured on the same machine in the
// same run, so that clusterd's figures can be judged as ratios (no clusterd code here).
//
//   baseline status ROUNDS PID...   reads what a `clusterctl status` reads for those workers
//                                   without per-worker cgroups: every /proc/N/stat (the scan that
//                                   finds each tree), then each worker's statm and CPU affinity;
//                                   prints the median microseconds of one round
//   baseline cgroups ROUNDS DIR...  the same with a cgroup per worker: each DIR's cgroup.procs,
//                                   then each member's stat and statm and the first one's
//                                   (the worker's) affinity; the median microseconds of a round
//   baseline spawn N PATH [ARG...]  starts N copies of PATH twice: with clone(CLONE_VM) on a
//                                   stack each, not waiting for any exec (as clusterd does), and
//                                   with posix_spawn (each returns once its child has exec'd);
//                                   prints the milliseconds until the last has exec'd for each,
//                                   "PARALLEL SERIAL"; kills and reaps after each
//   baseline respawn KILLS WORKER   what a respawn needs at least: this process holds a reuseport
//                                   listener (127.0.0.1, ephemeral port) and a notify socket and
//                                   runs WORKER (hello-worker) with the listener at fd 3
//                                   (LISTEN_FDS) and NOTIFY_SOCKET. KILLS times: SIGKILL it, a
//                                   client thread connects right away and sends a request while
//                                   this thread reaps (waitpid) and forks+execs the replacement;
//                                   prints the median ms from the kill until the client's answer
//                                   ("served") and until READY=1 arrives ("ready"): "SERVED READY"
//
// Build: g++ -O2 -std=c++20 bench/baseline.cc -o baseline (bench/baseline-ratios.sh does).
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// One read of a small /proc file into `buffer`, as clusterd reads them; returns bytes read.
ssize_t read_small(int dir, const char* path, char* buffer, std::size_t size) {
  const int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const ssize_t n = read(fd, buffer, size);
  close(fd);
  return n;
}

long status_round(const std::vector<pid_t>& pids) {
  char buffer[1024];
  long bytes = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  const int proc_fd = dirfd(proc);
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    char path[sizeof entry->d_name + 8];
    std::snprintf(path, sizeof path, "%s/stat", entry->d_name);
    bytes += read_small(proc_fd, path, buffer, sizeof buffer);
  }
  closedir(proc);
  for (pid_t pid : pids) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
    bytes += read_small(AT_FDCWD, path, buffer, sizeof buffer);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(pid, sizeof set, &set) == 0) bytes += CPU_COUNT(&set);
  }
  return bytes;
}

long cgroups_round(const std::vector<std::string>& dirs) {
  char buffer[1024];
  char members[16384];
  long bytes = 0;
  for (const std::string& dir : dirs) {
    const ssize_t n =
        read_small(AT_FDCWD, (dir + "/cgroup.procs").c_str(), members, sizeof members - 1);
    if (n < 0) return -1;
    members[n] = 0;
    bool first = true;
    for (char* p = members; *p != 0;) {
      const long pid = std::strtol(p, &p, 10);
      if (pid <= 0) break;
      char path[64];
      std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
      bytes += read_small(AT_FDCWD, path, buffer, sizeof buffer);
      std::snprintf(path, sizeof path, "/proc/%ld/statm", pid);
      bytes += read_small(AT_FDCWD, path, buffer, sizeof buffer);
      if (first) {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(static_cast<pid_t>(pid), sizeof set, &set) == 0)
          bytes += CPU_COUNT(&set);
        first = false;
      }
    }
  }
  return bytes;
}

// Runs `round` `rounds` times and prints the median microseconds of one; 1 if a round failed.
template <typename F>
int median_round(int rounds, F round) {
  std::vector<double> us;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    if (round() < 0) return 1;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  if (us.empty()) return 1;
  std::sort(us.begin(), us.end());
  std::printf("%.0f\n", us[us.size() / 2]);
  return 0;
}

int cgroups(int argc, char** argv) {
  const std::vector<std::string> dirs(argv + 3, argv + argc);
  return median_round(std::atoi(argv[2]), [&] { return cgroups_round(dirs); });
}

int status(int argc, char** argv) {
  std::vector<pid_t> pids;
  for (int i = 3; i < argc; ++i) pids.push_back(static_cast<pid_t>(std::atoi(argv[i])));
  return median_round(std::atoi(argv[2]), [&] { return status_round(pids); });
}

// A child of spawn_parallel: on a stack of its own in our memory, it execs at once.
struct ParallelChild {
  const char* path;
  char* const* argv;
};
int exec_child(void* arg) {
  const auto* c = static_cast<const ParallelChild*>(arg);
  execve(c->path, c->argv, environ);
  _exit(127);
}

// clone(CLONE_VM) without CLONE_VFORK, as clusterd starts workers: each returns before its child
// has exec'd, so the children run side by side with the next clones. Every child inherits the
// write end of one close-on-exec pipe; end of file on it: all N have exec'd.
double spawn_parallel(int n, char** argv) {
  constexpr std::size_t kStack = 64 * 1024;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  const ParallelChild child{argv[3], argv + 3};
  std::vector<pid_t> children;
  std::vector<void*> stacks;
  bool failed = false;
  const auto t0 = Clock::now();
  for (int i = 0; i < n && !failed; ++i) {
    void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    failed = stack == MAP_FAILED;
    if (failed) break;
    stacks.push_back(stack);
    const pid_t pid = clone(exec_child, static_cast<char*>(stack) + kStack, CLONE_VM | SIGCHLD,
                            const_cast<ParallelChild*>(&child));
    failed = pid < 0;
    if (!failed) children.push_back(pid);
  }
  close(pipe_fds[1]);
  char byte;
  while (read(pipe_fds[0], &byte, 1) > 0) {
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  close(pipe_fds[0]);
  // Every child goes, whatever happened: none is left running `sleep 3600`.
  for (pid_t pid : children) kill(pid, SIGKILL);
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
  for (void* stack : stacks) munmap(stack, kStack);
  return failed ? -1 : ms;
}

// glibc's posix_spawn (clone with CLONE_VFORK) returns once the child has exec'd.
double spawn_serial(int n, char** argv) {
  std::vector<pid_t> children;
  bool failed = false;
  const auto t0 = Clock::now();
  for (int i = 0; i < n && !failed; ++i) {
    pid_t pid = 0;
    failed = posix_spawn(&pid, argv[3], nullptr, nullptr, argv + 3, environ) != 0;
    if (!failed) children.push_back(pid);
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  for (pid_t pid : children) kill(pid, SIGKILL);
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
  return failed ? -1 : ms;
}

int spawn(char** argv) {
  const int n = std::atoi(argv[2]);
  const double parallel = spawn_parallel(n, argv);
  const double serial = spawn_serial(n, argv);
  if (parallel < 0 || serial < 0) return 1;
  std::printf("%.1f %.1f\n", parallel, serial);
  return 0;
}

// ---- respawn ----

struct RespawnSetup {
  int listener = -1;
  int notify = -1;
  int port = 0;
  std::string notify_path;
  const char* worker = nullptr;
};

pid_t start_worker(const RespawnSetup& s) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  if (s.listener == 3)
    fcntl(3, F_SETFD, 0);
  else
    dup2(s.listener, 3);  // clears CLOEXEC on 3
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(null, 0);
  dup2(null, 1);
  if (std::getenv("BASELINE_DEBUG") == nullptr) dup2(null, 2);
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_FDNAMES", "http", 1);
  setenv("NOTIFY_SOCKET", s.notify_path.c_str(), 1);
  char* args[] = {const_cast<char*>(s.worker), nullptr};
  execv(s.worker, args);
  _exit(127);
}

// Waits (up to 5 s) for a datagram holding READY=1 on the notify socket.
bool wait_ready(int notify) {
  char buffer[4096];
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    pollfd p{notify, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(notify, buffer, sizeof buffer - 1, 0);
    if (n <= 0) continue;
    buffer[n] = 0;
    if (std::string(buffer, static_cast<std::size_t>(n)).find("READY=1") != std::string::npos)
      return true;
  }
  return false;
}

// A client: connect, send a request, read the status line; true on "HTTP/1.1 200".
bool request(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  static const char req[] = "GET /read HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
  ok = ok && send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1);
  char buffer[64];
  const ssize_t n = ok ? recv(fd, buffer, sizeof buffer, 0) : -1;
  close(fd);
  return n >= 12 && std::string(buffer, 12) == "HTTP/1.1 200";
}

bool respawn_setup(RespawnSetup& s) {
  s.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(s.listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s.listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(s.listener, 1024) != 0 ||
      getsockname(s.listener, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return false;
  }
  s.port = ntohs(a.sin_port);
  char dir[] = "/tmp/baseline-notify.XXXXXX";
  if (mkdtemp(dir) == nullptr) return false;
  s.notify_path = std::string(dir) + "/n.sock";
  s.notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un u{};
  u.sun_family = AF_UNIX;
  std::snprintf(u.sun_path, sizeof u.sun_path, "%s", s.notify_path.c_str());
  return bind(s.notify, reinterpret_cast<sockaddr*>(&u), sizeof u) == 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int respawn(char** argv) {
  const int kills = std::atoi(argv[2]);
  RespawnSetup s;
  s.worker = argv[3];
  if (!respawn_setup(s)) {
    std::perror("baseline respawn: listener or notify socket");
    return 1;
  }
  pid_t pid = start_worker(s);
  if (!wait_ready(s.notify) || !request(s.port)) {
    std::fprintf(stderr, "baseline respawn: %s did not start and answer\n", s.worker);
    kill(pid, SIGKILL);
    return 1;
  }
  std::vector<double> served, ready;
  int failed = 0;
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // as respawn-latency.sh
    const auto t0 = Clock::now();
    kill(pid, SIGKILL);
    double served_ms = -1;
    std::thread client([&] {
      if (request(s.port))
        served_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    });
    waitpid(pid, nullptr, 0);
    pid = start_worker(s);
    const bool up = wait_ready(s.notify);
    const double ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    client.join();
    if (!up || served_ms < 0) {
      ++failed;
      continue;
    }
    served.push_back(served_ms);
    ready.push_back(ready_ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  unlink(s.notify_path.c_str());
  rmdir(s.notify_path.substr(0, s.notify_path.rfind('/')).c_str());
  // A client can reach the old worker in the instant before SIGKILL lands (then: reset); a few
  // such are not the floor's business, all of them are a failure.
  if (failed > 0) std::fprintf(stderr, "baseline respawn: %d of %d got no answer\n", failed, kills);
  std::printf("%.3f %.3f\n", median(served), median(ready));
  return served.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "status" && argc >= 3) return status(argc, argv);
  if (mode == "spawn" && argc >= 4) return spawn(argv);
  if (mode == "respawn" && argc == 4) return respawn(argv);
  if (mode == "cgroups" && argc >= 3) return cgroups(argc, argv);
  std::fprintf(stderr,
               "usage: baseline status ROUNDS PID... | baseline cgroups ROUNDS DIR... | "
               "baseline spawn N PATH [ARG...] | "
               "baseline respawn KILLS WORKER\n");
  return 2;
}
