// Built without sanitizers: epoll_as()'s child runs on a stack of its own in our memory.
#include "supervisor/os/adopt_epoll.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace clusterd::os {

namespace {

// What the child of epoll_as() does, and what it found.
struct Job {
  int epoll;
  int op;
  int fd;
  int ours;
  epoll_event event;
  long error;
};

// In the child (CLONE_VM, a copy of our fd table): our socket at the caller's number, then the
// epoll call. Raw system calls; the parent waits (CLONE_VFORK) with every signal blocked.
int place_and_watch(void* arg) {
  Job& job = *static_cast<Job*>(arg);
  long epoll = job.epoll;
  long r = 0;
  // The copy of the caller's epoll may have the very number: out of the way first.
  if (epoll == job.fd) r = epoll = syscall(SYS_fcntl, epoll, F_DUPFD_CLOEXEC, job.fd + 1);
  if (r >= 0 && job.ours != job.fd) r = syscall(SYS_dup3, job.ours, job.fd, 0);
  if (r >= 0) r = syscall(SYS_epoll_ctl, epoll, job.op, job.fd, &job.event);
  job.error = r < 0 ? errno : 0;
  return 0;
}

// "anon_inode:[eventpoll]"
bool is_epoll(const std::string& dir, const char* name) {
  char target[64] = {};
  const std::string link = dir + "/" + name;
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  return n > 0 && std::strcmp(target, "anon_inode:[eventpoll]") == 0;
}

// The registrations of fd `fd` (inode `inode`) in the epoll instance whose fdinfo is `path`.
void read_watches(const std::string& path, int epoll_fd, int fd, std::uint64_t inode,
                  std::vector<EpollWatch>& out) {
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    int tfd = -1;
    unsigned events = 0;
    std::uint64_t data = 0;
    std::uint64_t ino = 0;
    if (std::sscanf(line, "tfd: %d events: %x data: %" SCNx64 " pos:%*d ino:%" SCNx64, &tfd,
                    &events, &data, &ino) == 4 &&
        tfd == fd && ino == inode) {
      out.push_back({epoll_fd, events, data});
    }
  }
  std::fclose(f);
}

}  // namespace

std::vector<EpollWatch> epoll_watches(pid_t tid, int fd, std::uint64_t inode) {
  std::vector<EpollWatch> out;
  const std::string dir = "/proc/" + std::to_string(tid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  // The first kMaxScanned entries only: a program that registers its socket before it binds
  // does so at its start, with few files open; one with a million fds costs no more than this.
  constexpr int kMaxScanned = 1024;
  for (int i = 0; i < kMaxScanned; ++i) {
    const dirent* entry = readdir(d);
    if (entry == nullptr) break;
    if (entry->d_name[0] == '.' || !is_epoll(dir, entry->d_name)) continue;
    const int epoll_fd = std::atoi(entry->d_name);
    read_watches("/proc/" + std::to_string(tid) + "/fdinfo/" + entry->d_name, epoll_fd, fd, inode,
                 out);
  }
  closedir(d);
  return out;
}

int epoll_as(int epoll, bool add, int fd, int ours, std::uint32_t events, std::uint64_t data) {
  Job job{epoll, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, ours, {}, 0};
  job.event.events = events;
  job.event.data.u64 = data;
  constexpr std::size_t kStack = 16 * 1024;
  const std::unique_ptr<char[]> stack(new char[kStack]);
  // Every signal blocked: none may run one of our handlers in the child.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = clone(place_and_watch, stack.get() + kStack, CLONE_VM | CLONE_VFORK, &job);
  const int clone_error = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return clone_error;
  // No exit signal: reaped here, never seen by the master's reaper.
  while (waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
  }
  return static_cast<int>(job.error);
}

}  // namespace clusterd::os
