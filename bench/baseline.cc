// The least work the kernel allows for what clusterd does, measured on the same machine in the
// same run, so that clusterd's figures can be judged as ratios (no clusterd code here).
//
//   baseline status ROUNDS PID...   reads what a `clusterctl status` reads for those workers
//                                   without per-worker cgroups: every /proc/N/stat (the scan that
//                                   finds each tree), then each worker's statm and CPU affinity;
//                                   prints the median microseconds of one round
//   baseline spawn N PATH [ARG...]  starts N copies of PATH with posix_spawn (each returns once
//                                   the child has exec'd), all before waiting for any; prints the
//                                   milliseconds until the last has exec'd; then kills and reaps
//
// Build: g++ -O2 -std=c++20 bench/baseline.cc -o baseline (bench/baseline-ratios.sh does).
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
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

int status(int argc, char** argv) {
  const int rounds = std::atoi(argv[2]);
  std::vector<pid_t> pids;
  for (int i = 3; i < argc; ++i) pids.push_back(static_cast<pid_t>(std::atoi(argv[i])));
  std::vector<double> us;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    if (status_round(pids) < 0) return 1;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("%.0f\n", us[us.size() / 2]);
  return 0;
}

int spawn(char** argv) {
  const int n = std::atoi(argv[2]);
  std::vector<pid_t> children;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    pid_t pid = 0;
    // glibc's posix_spawn (clone with CLONE_VFORK) returns once the child has exec'd.
    if (posix_spawn(&pid, argv[3], nullptr, nullptr, argv + 3, environ) != 0) return 1;
    children.push_back(pid);
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  for (pid_t pid : children) kill(pid, SIGKILL);
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
  std::printf("%.1f\n", ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "status" && argc >= 3) return status(argc, argv);
  if (mode == "spawn" && argc >= 4) return spawn(argv);
  std::fprintf(stderr, "usage: baseline status ROUNDS PID... | baseline spawn N PATH [ARG...]\n");
  return 2;
}
