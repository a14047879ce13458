#include "supervisor/os/notify_socket.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "supervisor/os/procfs.h"

namespace clusterd::os {

namespace {

// From <linux/socket.h> and <linux/pidfd.h> (Linux 6.5 and 6.13+); glibc 2.36 has neither.
constexpr int kSoPassPidfd = 76;
constexpr int kScmPidfd = 0x04;
struct PidfdInfo {
  std::uint64_t mask;
  std::uint64_t cgroupid;
  std::uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  std::int32_t exit_code;
  std::uint32_t coredump_mask, spare;
};
constexpr std::uint64_t kInfoCgroupId = 1UL << 2;
constexpr std::uint64_t kInfoExit = 1UL << 3;
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
constexpr long kPidfsMagic = 0x50494446;  // PID_FS_MAGIC, <linux/magic.h> of Linux 6.9

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::system_category(), what);
}

std::string random_name() {
  unsigned char bytes[8];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) fail("getrandom");
  char name[17];
  for (std::size_t i = 0; i < sizeof bytes; ++i) std::snprintf(name + 2 * i, 3, "%02x", bytes[i]);
  return name;
}

bool alive(int pidfd) { return syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; }

// Whether two pidfds are the same process, alive or not: on pidfs (Linux 6.9+) a process has one
// inode for all its pidfds; before, every pidfd shares one anonymous inode and nothing can be
// told from it.
bool same_process(int a, int b) {
  if (a < 0 || b < 0) return false;
  struct stat sa {};
  struct stat sb {};
  if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return false;
  if (sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino) return false;
  struct statfs fs {};
  return fstatfs(a, &fs) == 0 && fs.f_type == kPidfsMagic;
}

// Where the process behind `pidfd` (pid `pid`) stands to the worker: in its session, else below
// it (up to the master); false when the process is gone. /proc is read by pid; a read counts only
// when the pidfd says afterwards that the process is still there (its pid cannot have been
// reused then). A parent's pidfd is opened, then the child is read again: still its child, that
// pidfd is its parent (a parent that dies hands its children to another, whose pid is not the
// dead one's), and the next link is read through it. A process handed to the master as
// subreaper has the master as its parent: the walk ends there, whichever worker it came from.
bool lineage(int pidfd, pid_t pid, const NotifyOwner& worker, NotifySender& sender) {
  const std::optional<ProcStat> stat = read_proc_stat(pid);
  if (!stat || !alive(pidfd)) return false;
  sender.session = stat->session;
  sender.in_session = worker.pid > 0 && stat->session == worker.pid;
  // No walk when it is in the worker's session (enough), or when the worker's pid may be anyone's.
  if (sender.in_session || worker.pid <= 0 || worker.reaped) return true;
  const pid_t self = getpid();
  UniqueFd held;
  int child_fd = pidfd;
  pid_t child = pid;
  pid_t parent = stat->ppid;
  for (int depth = 0; parent > 1 && parent != self && depth < 64; ++depth) {
    UniqueFd parent_fd(static_cast<int>(syscall(SYS_pidfd_open, parent, 0)));
    if (!parent_fd) break;
    const std::optional<ProcStat> again = read_proc_stat(child);
    if (!again || again->ppid != parent || !alive(child_fd)) break;
    if (parent == worker.pid) {
      sender.below = true;
      break;
    }
    const std::optional<ProcStat> up = read_proc_stat(parent);
    if (!up || !alive(parent_fd.get())) break;
    held = std::move(parent_fd);
    child_fd = held.get();
    child = parent;
    parent = up->ppid;
  }
  return true;
}

// What the pidfd of a sender says about it: the worker itself or not, alive or not, its cgroup,
// where it stands to the worker.
void describe(int pidfd, const NotifyOwner& worker, NotifySender& sender) {
  sender.pidfd = true;
  PidfdInfo info{};
  info.mask = kInfoCgroupId | kInfoExit;
  if (ioctl(pidfd, kPidfdGetInfo, &info) == 0 && (info.mask & kInfoCgroupId) != 0) {
    sender.cgroup = info.cgroupid;
  }
  if (same_process(pidfd, worker.pidfd)) {
    sender.worker = true;
    sender.alive = alive(pidfd);
    return;
  }
  if (sender.pid <= 0) return;
  if (sender.pid == worker.pid && !worker.reaped) {
    // The unreaped worker's pid is the worker's. It leads its own session (setsid before its
    // exec; a session leader cannot leave it).
    if (!alive(pidfd)) return;
    sender.worker = true;
    sender.alive = true;
    sender.session = worker.pid;
    sender.in_session = true;
    return;
  }
  sender.alive = lineage(pidfd, sender.pid, worker, sender);
}

}  // namespace

NotifyDir::NotifyDir(const std::string& parent) {
  // Named after the master: one left behind by a master that was killed says whose it was.
  std::string pattern = parent + "/notify." + std::to_string(getpid()) + ".XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) fail("mkdtemp " + pattern);
  path_ = pattern;
  // Others may pass through (a worker running as another user must reach its socket) but not
  // list it: the names are the secret, the sockets' own mode the lock.
  if (chmod(path_.c_str(), 0711) != 0) fail("chmod " + path_);
  sockaddr_un sun{};
  if (path_.size() + 1 + 16 >= sizeof sun.sun_path) {
    errno = ENAMETOOLONG;
    fail("notify socket directory " + path_ + " (socket paths must stay under 108 bytes)");
  }
}

NotifyDir::~NotifyDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

NotifyDir::NotifyDir(Existing, const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) fail("notify socket directory " + path);
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    errno = EPERM;
    fail("notify socket directory " + path + " (not a private directory of the master's)");
  }
  path_ = path;
}

NotifySocket NotifyDir::open(uid_t uid) const {
  NotifySocket out;
  out.fd = UniqueFd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!out.fd) fail("socket(notify)");
  const int one = 1;
  if (setsockopt(out.fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    fail("setsockopt(SO_PASSCRED)");
  }
  setsockopt(out.fd.get(), SOL_SOCKET, kSoPassPidfd, &one, sizeof one);  // Linux 6.5+
  out.path = path_ + "/" + random_name();
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, out.path.c_str(), out.path.size() + 1);
  const mode_t old_mask = umask(0177);  // created 0600: no window where others may connect
  const int rc = bind(out.fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
  umask(old_mask);
  if (rc != 0) fail("bind(notify " + out.path + ")");
  if (uid != geteuid() &&
      fchownat(AT_FDCWD, out.path.c_str(), uid, static_cast<gid_t>(-1), AT_SYMLINK_NOFOLLOW) != 0) {
    const int error = errno;
    unlink(out.path.c_str());
    errno = error;
    fail("chown(notify " + out.path + ")");
  }
  return out;
}

bool notify_pidfds_supported() {
  const UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  return fd && setsockopt(fd.get(), SOL_SOCKET, kSoPassPidfd, &one, sizeof one) == 0;
}

std::optional<NotifyDatagram> read_notify(int fd, const NotifyOwner& worker) {
  char data[4096];
  alignas(cmsghdr) char
      control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(int) * 16)];
  iovec iov{data, sizeof data - 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::nullopt;
    fail("recvmsg(notify)");
  }
  NotifyDatagram out;
  UniqueFd pidfd;
  // Nobody may park fds with us: those passed along are closed, but only once the sender has
  // been looked at. One may be a barrier its sender waits on (sd_notify_barrier(), BARRIER=1 of
  // systemd-notify): closed first, it would let the sender exit before it is placed.
  std::vector<UniqueFd> passed_fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out.sender.uid = cred.uid;
      out.sender.pid = cred.pid;
    } else if (c->cmsg_type == kScmPidfd) {
      int passed = -1;  // Linux 6.5 to 6.15: minus an errno for a sender already reaped
      std::memcpy(&passed, CMSG_DATA(c), sizeof passed);
      if (passed >= 0) pidfd.reset(passed);
    } else if (c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
        passed_fds.emplace_back(passed);
      }
    }
  }
  // Whether the kernel was asked for a pidfd: then a datagram without one is from a sender it
  // could not give one of (reaped first, before Linux 6.16), not from a kernel that cannot.
  int asked = 0;
  socklen_t size = sizeof asked;
  out.sender.pidfds = getsockopt(fd, SOL_SOCKET, kSoPassPidfd, &asked, &size) == 0 && asked != 0;
  if (pidfd) describe(pidfd.get(), worker, out.sender);
  const std::size_t length =
      static_cast<std::size_t>(n) < sizeof data - 1 ? static_cast<std::size_t>(n) : sizeof data - 1;
  out.text.assign(data, length);
  return out;
}

}  // namespace clusterd::os
