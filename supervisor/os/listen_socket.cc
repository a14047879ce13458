#include "supervisor/os/listen_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace clusterd::os {

namespace {

[[noreturn]] void fail(const config::Address& address, const char* call) {
  throw std::system_error(errno, std::system_category(), std::string(call) + " " + address.text);
}

void set_flag(int fd, int option, const config::Address& address) {
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, option, &one, sizeof one) != 0) fail(address, "setsockopt");
}

sockaddr_un unix_address(const config::Address& address) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (address.path.size() >= sizeof sun.sun_path) {
    errno = ENAMETOOLONG;
    fail(address, "bind");
  }
  std::memcpy(sun.sun_path, address.path.c_str(), address.path.size() + 1);
  return sun;
}

// True when something accepts (or queues) connections on the Unix socket at `sun`; false when
// nobody listens there any more (ECONNREFUSED). Non-blocking: a full backlog is alive too. Any
// other answer is an error: the file is then not ours to remove.
bool unix_socket_alive(const sockaddr_un& sun, const config::Address& address) {
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) fail(address, "socket");
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0) return true;
  if (errno == EAGAIN || errno == EINPROGRESS) return true;
  if (errno == ECONNREFUSED) return false;
  fail(address, "connect (probing the socket file in the way)");
}

}  // namespace

UniqueFd bind_listener(const config::Address& address, int backlog, bool reuseport,
                       const SocketAccess& access, bool v6only) {
  using Family = config::Address::Family;
  const int domain = address.family == Family::Ipv4   ? AF_INET
                     : address.family == Family::Ipv6 ? AF_INET6
                                                      : AF_UNIX;
  UniqueFd fd(socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) fail(address, "socket");

  int rc = 0;
  if (address.family == Family::Unix) {
    const sockaddr_un sun = unix_address(address);
    struct stat st {};
    if (lstat(address.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        errno = EEXIST;
        fail(address, "bind (a file that is not a socket is in the way)");
      }
      if (unix_socket_alive(sun, address)) {
        errno = EADDRINUSE;
        fail(address, "bind");
      }
      unlink(address.path.c_str());
    }
    const mode_t old_mask = umask(~access.mode & 0777);
    rc = bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
    umask(old_mask);
    if (rc == 0 && (access.uid || access.gid) &&
        fchownat(AT_FDCWD, address.path.c_str(), access.uid.value_or(static_cast<uid_t>(-1)),
                 access.gid.value_or(static_cast<gid_t>(-1)), AT_SYMLINK_NOFOLLOW) != 0) {
      const int error = errno;
      unlink(address.path.c_str());
      errno = error;
      fail(address, "chown");
    }
  } else {
    set_flag(fd.get(), SO_REUSEADDR, address);
    if (reuseport) set_flag(fd.get(), SO_REUSEPORT, address);
    if (address.family == Family::Ipv4) {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(address.port);
      if (inet_pton(AF_INET, address.host.c_str(), &sin.sin_addr) != 1) {
        errno = EINVAL;
        fail(address, "inet_pton");
      }
      rc = bind(fd.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
    } else {
      const int only = v6only ? 1 : 0;
      // An IPv6 listener serves IPv6 only, so [::]:80 and 0.0.0.0:80 can be configured side by
      // side.
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_port = htons(address.port);
      if (inet_pton(AF_INET6, address.host.c_str(), &sin6.sin6_addr) != 1) {
        errno = EINVAL;
        fail(address, "inet_pton");
      }
      rc = bind(fd.get(), reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
    }
  }
  if (rc != 0) fail(address, "bind");
  if (address.family != Family::Unix && address.port == 0) {
    // A port the kernel picked stays the socket's only while it listens: stop_listening() would
    // give it back, and the next listen() take another. One bound by its number is kept, so
    // bind that number (both sockets have SO_REUSEADDR, and this one does not listen).
    config::Address picked = address;
    picked.port = local_port(fd.get());
    return bind_listener(picked, backlog, reuseport, access);
  }
  if (listen(fd.get(), backlog) != 0) fail(address, "listen");
  return fd;
}

void listen_again(int fd, int backlog) { listen(fd, backlog); }

// Only a socket that listens: shutdown(SHUT_RD) of one that does not (stopped already, or taken
// over in a live upgrade from a master that stopped it) marks it shut for reading for good, and
// every connection it accepts after the next listen() would then read end-of-file at once.
void stop_listening(int fd) {
  int listening = 0;
  socklen_t length = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening) {
    shutdown(fd, SHUT_RD);
  }
}

std::uint16_t local_port(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return 0;
  if (storage.ss_family == AF_INET)
    return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string socket_mismatch(int fd, const config::Address& address, bool stopped_ok) {
  int type = 0;
  int listening = 0;
  socklen_t length = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0) return "not a socket";
  if (type != SOCK_STREAM) return "not a stream socket";
  length = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0) return "not listening";
  if (!listening && !(stopped_ok && address.family != config::Address::Family::Unix)) {
    return "not listening";
  }
  sockaddr_storage storage{};
  length = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return "unnamed";
  char host[INET6_ADDRSTRLEN] = {};
  using Family = config::Address::Family;
  if (storage.ss_family == AF_UNIX) {
    const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage);
    const std::string path(sun->sun_path);
    if (address.family != Family::Unix || path != address.path) return "bound to unix:" + path;
    return {};
  }
  std::uint16_t port = 0;
  if (storage.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
    port = ntohs(sin->sin_port);
  } else if (storage.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
    port = ntohs(sin6->sin6_port);
  } else {
    return "of an unexpected address family";
  }
  const bool family_ok = (storage.ss_family == AF_INET && address.family == Family::Ipv4) ||
                         (storage.ss_family == AF_INET6 && address.family == Family::Ipv6);
  // Compare numerically: "::1" and "0::1" are the same host.
  unsigned char want[16] = {};
  unsigned char have[16] = {};
  const int af = storage.ss_family;
  const bool host_ok = family_ok && inet_pton(af, address.host.c_str(), want) == 1 &&
                       inet_pton(af, host, have) == 1 &&
                       std::memcmp(want, have, af == AF_INET ? 4 : 16) == 0;
  if (!host_ok || (address.port != 0 && port != address.port)) {
    return std::string("bound to ") + (af == AF_INET6 ? "[" : "") + host +
           (af == AF_INET6 ? "]" : "") + ":" + std::to_string(port);
  }
  return {};
}

bool enable_reuseport(int fd) {
  int on = 0;
  socklen_t length = sizeof on;
  if (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &length) == 0 && on) return true;
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::system_error(errno, std::system_category(), "setsockopt(SO_REUSEPORT)");
  }
  return false;
}

void remove_socket_file(const config::Address& address) {
  if (address.family == config::Address::Family::Unix) unlink(address.path.c_str());
}

std::optional<AcceptQueue> accept_queue(int fd) {
  tcp_info info{};
  socklen_t size = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0 || info.tcpi_state != TCP_LISTEN) {
    return std::nullopt;
  }
  return AcceptQueue{info.tcpi_unacked, info.tcpi_sacked};
}

}  // namespace clusterd::os
