// Reading and answering the calls a worker's adoption filter stops. The order of receive():
//  1. poll the listener (RECV would block until a call comes; the listener is the only waiter
//     here, so a readable listener has a call ready, or one whose caller just went away: ENOENT);
//  2. SECCOMP_IOCTL_NOTIF_RECV: the call's id, the calling thread, its arguments;
//  3. a pidfd of the caller, its bind() sockaddr out of its memory, a copy of its fd
//     (pidfd_getfd) and that fd's flags (/proc/PID/fdinfo);
//  4. SECCOMP_IOCTL_NOTIF_ID_VALID: the caller still waits in its call, so the thread id was
//     not reused meanwhile and all that was read is the caller's (seccomp_unotify(2), "TOCTOU").
// A caller's own memory may still change after that (another of its threads): what the master
// decides from it then only gives the program a socket of its own app, or its own bind.
#include "supervisor/os/adopt.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "supervisor/os/adopt_epoll.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

namespace {

constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD (Linux 6.9+)

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::system_category(), what);
}

std::string error_text(const char* what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

// The thread group of thread `tid`, from /proc/TID/status; 0 if unknown.
pid_t thread_group(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", tid);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return 0;
  char line[256];
  pid_t tgid = 0;
  while (tgid == 0 && std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "Tgid: %d", &tgid) != 1) tgid = 0;
  }
  std::fclose(f);
  return tgid;
}

// A pidfd for the calling thread: its own (a leader, or PIDFD_THREAD), else its process's (the
// fd table is the process's). -1 with errno.
int open_pidfd(pid_t tid) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, tid, 0));
  if (fd >= 0 || errno != EINVAL) return fd;
  fd = static_cast<int>(syscall(SYS_pidfd_open, tid, kPidfdThread));
  if (fd >= 0 || errno != EINVAL) return fd;
  const pid_t tgid = thread_group(tid);
  if (tgid <= 0) {
    errno = ESRCH;
    return -1;
  }
  return static_cast<int>(syscall(SYS_pidfd_open, tgid, 0));
}

// Reads `size` bytes at `address` in thread `tid`'s memory; 0 or an errno value.
int read_memory(pid_t tid, std::uint64_t address, void* out, std::size_t size) {
  iovec local{out, size};
  iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(address)), size};
  const ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(size)) return 0;
  if (n >= 0) return EFAULT;  // partly unmapped
  if (errno == ESRCH) return ESRCH;
  // A seccomp policy of our own may refuse process_vm_readv where /proc/PID/mem is allowed (the
  // same ptrace check).
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/mem", tid);
  const UniqueFd mem(open(path, O_RDONLY | O_CLOEXEC));
  if (!mem) return errno;
  const ssize_t m = pread(mem.get(), out, size, static_cast<off_t>(address));
  if (m == static_cast<ssize_t>(size)) return 0;
  return m < 0 ? errno : EFAULT;
}

// config::Address of an IPv4 or IPv6 sockaddr of `length` bytes (already read).
std::optional<config::Address> decode_address(const sockaddr_storage& storage, int length) {
  config::Address a;
  char host[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET && length >= static_cast<int>(sizeof(sockaddr_in))) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(storage);
    a.family = config::Address::Family::Ipv4;
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    a.host = host;
    a.port = ntohs(in.sin_port);
    a.text = a.host + ":" + std::to_string(a.port);
    return a;
  }
  if (storage.ss_family == AF_INET6 && length >= static_cast<int>(sizeof(sockaddr_in6))) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(storage);
    if (in6.sin6_scope_id != 0) return std::nullopt;  // link-local on one interface
    a.family = config::Address::Family::Ipv6;
    inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    a.host = host;
    a.port = ntohs(in6.sin6_port);
    a.text = "[" + a.host + "]:" + std::to_string(a.port);
    return a;
  }
  return std::nullopt;
}

// bind(fd, addr, addrlen): the sockaddr. False when the caller is gone.
bool read_bind_address(pid_t tid, const seccomp_data& data, SocketCall& call) {
  const auto length = static_cast<int>(data.args[2]);
  // Lengths the kernel refuses with EINVAL are left to it (the call proceeds).
  if (length < static_cast<int>(sizeof(sa_family_t)) ||
      length > static_cast<int>(sizeof(sockaddr_storage))) {
    return true;
  }
  sockaddr_storage storage{};
  const int error = read_memory(tid, data.args[1], &storage, static_cast<std::size_t>(length));
  if (error == ESRCH) return false;
  if (error != 0) {
    call.unseen = error_text("reading the address from its memory", error);
    return true;
  }
  call.family = storage.ss_family;
  call.address = decode_address(storage, length);
  return true;
}

int int_option(int fd, int level, int name) {
  int value = 0;
  socklen_t size = sizeof value;
  return getsockopt(fd, level, name, &value, &size) == 0 ? value : 0;
}

// FD_CLOEXEC and O_NONBLOCK of the caller's fd, from /proc/TID/fdinfo/FD ("flags:" in octal,
// with O_CLOEXEC for the fd's close-on-exec).
void read_fd_flags(pid_t tid, int fd, TargetSocket& socket) {
  char path[80];
  std::snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", tid, fd);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return;
  char line[128];
  unsigned flags = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f) != nullptr) {
    found = std::sscanf(line, "flags: %o", &flags) == 1;
  }
  std::fclose(f);
  if (found) {
    socket.cloexec = (flags & O_CLOEXEC) != 0;
    socket.nonblocking = (flags & O_NONBLOCK) != 0;
  }
}

// The socket behind the caller's fd. False when the caller is gone.
bool look_at_socket(int pidfd, pid_t tid, SocketCall& call) {
  const UniqueFd copy(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, call.fd, 0)));
  if (!copy) {
    if (errno == ESRCH) return false;
    if (call.unseen.empty()) {
      call.unseen = errno == EBADF ? "fd " + std::to_string(call.fd) + " is not open"
                                   : error_text("pidfd_getfd", errno);
    }
    return true;
  }
  struct stat st {};
  if (fstat(copy.get(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    if (call.unseen.empty()) call.unseen = "fd " + std::to_string(call.fd) + " is not a socket";
    return true;
  }
  TargetSocket socket;
  socket.inode = st.st_ino;
  socket.domain = int_option(copy.get(), SOL_SOCKET, SO_DOMAIN);
  socket.type = int_option(copy.get(), SOL_SOCKET, SO_TYPE);
  socket.protocol = int_option(copy.get(), SOL_SOCKET, SO_PROTOCOL);
  socket.ipv6 = socket.domain == AF_INET6;
  socket.tcp =
      (socket.domain == AF_INET || socket.ipv6) && socket.type == SOCK_STREAM &&
      (socket.protocol == 0 || socket.protocol == IPPROTO_TCP || socket.protocol == IPPROTO_MPTCP);
  socket.reuseaddr = int_option(copy.get(), SOL_SOCKET, SO_REUSEADDR) != 0;
  socket.reuseport = int_option(copy.get(), SOL_SOCKET, SO_REUSEPORT) != 0;
  if (socket.domain == AF_INET6) {
    socket.v6only = int_option(copy.get(), IPPROTO_IPV6, IPV6_V6ONLY) != 0;
  }
  const int status = fcntl(copy.get(), F_GETFL);
  socket.nonblocking = status >= 0 && (status & O_NONBLOCK) != 0;
  read_fd_flags(tid, call.fd, socket);
  call.socket = socket;
  return true;
}

Received gone(std::string detail) {
  Received out;
  out.status = Received::Status::Gone;
  out.detail = std::move(detail);
  return out;
}

Delivery send(int listener, const seccomp_notif_resp& response) {
  seccomp_notif_resp copy = response;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &copy) == 0) return Delivery::Answered;
  if (errno == ENOENT) return Delivery::Gone;
  fail("ioctl(SECCOMP_IOCTL_NOTIF_SEND)");
}

}  // namespace

Received receive(int listener) {
  pollfd ready{listener, POLLIN, 0};
  const int n = poll(&ready, 1, 0);
  if (n < 0 && errno != EINTR) fail("poll(seccomp listener)");
  if (n <= 0) return {};
  if ((ready.revents & POLLNVAL) != 0) {
    errno = EBADF;
    fail("poll(seccomp listener)");
  }
  if ((ready.revents & POLLIN) == 0) {
    Received out;
    if ((ready.revents & (POLLHUP | POLLERR)) != 0) out.status = Received::Status::Closed;
    return out;
  }
  seccomp_notif notification;
  std::memset(&notification, 0, sizeof notification);  // RECV refuses a buffer that is not zero
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notification) != 0) {
    if (errno == EINTR) return {};  // still waiting: the listener stays readable
    if (errno == ENOENT) return gone("the caller went away before its call");
    fail("ioctl(SECCOMP_IOCTL_NOTIF_RECV)");
  }
  Received out;
  out.status = Received::Status::Call;
  SocketCall& call = out.call;
  const seccomp_data& data = notification.data;
  call.id = notification.id;
  call.pid = static_cast<pid_t>(notification.pid);
  call.fd = static_cast<int>(data.args[0]);  // the kernel reads an int
  if (data.nr != __NR_bind && data.nr != __NR_listen) {
    // Not a call the filter stops (worker/child.cc): let it run.
    proceed(listener, call.id);
    return {};
  }
  if (data.nr == __NR_listen) {
    call.kind = SocketCall::Kind::Listen;
    call.backlog = static_cast<int>(data.args[1]);
  }
  const UniqueFd pidfd(open_pidfd(call.pid));
  if (!pidfd) {
    if (errno == ESRCH) return gone("pid " + std::to_string(call.pid) + " exited");
    call.unseen = error_text("pidfd_open", errno);
  }
  if (call.kind == SocketCall::Kind::Bind && !read_bind_address(call.pid, data, call)) {
    return gone("pid " + std::to_string(call.pid) + " exited");
  }
  if (pidfd && !look_at_socket(pidfd.get(), call.pid, call)) {
    return gone("pid " + std::to_string(call.pid) + " exited");
  }
  std::uint64_t id = call.id;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0) {
    if (errno == ENOENT) return gone("pid " + std::to_string(call.pid) + " left its call");
    const int error = errno;
    proceed(listener, call.id);  // the call gets an answer in any case
    errno = error;
    fail("ioctl(SECCOMP_IOCTL_NOTIF_ID_VALID)");
  }
  return out;
}

Delivery proceed(int listener, std::uint64_t id) {
  seccomp_notif_resp response{};
  response.id = id;
  response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  return send(listener, response);
}

Delivery succeed(int listener, std::uint64_t id) {
  seccomp_notif_resp response{};
  response.id = id;
  return send(listener, response);
}

Delivery refuse(int listener, std::uint64_t id, int error) {
  seccomp_notif_resp response{};
  response.id = id;
  response.error = -error;
  return send(listener, response);
}

Delivery replace(int listener, const SocketCall& call, int ours, const Replacement& replacement) {
  const std::uint64_t id = call.id;
  const auto refused = [&](int error, const char* what) {
    refuse(listener, id, error);  // the call gets an answer in any case
    throw std::system_error(error, std::system_category(), what);
  };
  const int status = fcntl(ours, F_GETFL);
  const int wanted = replacement.nonblocking ? status | O_NONBLOCK : status & ~O_NONBLOCK;
  if (status < 0 || (wanted != status && fcntl(ours, F_SETFL, wanted) != 0)) {
    refused(errno, "fcntl(F_SETFL) of the listener");
  }
  // The caller's epoll registrations of its socket, made again for ours (adopt_epoll.h).
  std::vector<std::pair<UniqueFd, EpollWatch>> watched;
  if (call.socket) {
    const std::vector<EpollWatch> watches = epoll_watches(call.pid, call.fd, call.socket->inode);
    const UniqueFd pidfd(watches.empty() ? -1 : open_pidfd(call.pid));
    if (!watches.empty() && !pidfd) return Delivery::Gone;
    for (const EpollWatch& w : watches) {
      UniqueFd epoll(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), w.epoll_fd, 0)));
      if (!epoll) refused(errno, "pidfd_getfd of the caller's epoll");
      const int error = epoll_as(epoll.get(), true, call.fd, ours, w.events, w.data);
      if (error != 0 && error != EEXIST) refused(error, "epoll_ctl(EPOLL_CTL_ADD) for the caller");
      watched.emplace_back(std::move(epoll), w);
    }
  }
  const auto unwatch = [&] {
    for (const auto& [epoll, w] : watched) epoll_as(epoll.get(), false, call.fd, ours, 0, 0);
  };
  seccomp_notif_addfd add{};
  add.id = id;
  add.flags = SECCOMP_ADDFD_FLAG_SETFD;
  add.srcfd = static_cast<std::uint32_t>(ours);
  add.newfd = static_cast<std::uint32_t>(call.fd);
  add.newfd_flags = replacement.cloexec ? O_CLOEXEC : 0;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0) {
    const int error = errno;
    unwatch();  // its fd is still its own socket
    // ENOENT: no such call any more; ESRCH: the caller was interrupted while we installed it.
    if (error == ENOENT || error == ESRCH) return Delivery::Gone;
    refused(error, "ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)");
  }
  return succeed(listener, id);
}

std::uint64_t socket_inode(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) fail("fstat");
  return st.st_ino;
}

bool is_filter_listener(int fd) {
  char target[64] = {};
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  return n > 0 &&
         std::string_view(target, static_cast<std::size_t>(n)) == "anon_inode:seccomp notify";
}

}  // namespace clusterd::os
