#include "supervisor/os/listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

// True when something accepts connections on the Unix socket at `sun`.
bool unix_socket_alive(const sockaddr_un& sun) {
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return connect(probe.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0;
}

}  // namespace

UniqueFd bind_listener(const config::Address& address, int backlog, bool reuseport) {
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
      if (unix_socket_alive(sun)) {
        errno = EADDRINUSE;
        fail(address, "bind");
      }
      unlink(address.path.c_str());
    }
    rc = bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
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
      const int one = 1;
      // An IPv6 listener serves IPv6 only, so [::]:80 and 0.0.0.0:80 can be configured side by
      // side.
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
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
  if (listen(fd.get(), backlog) != 0) fail(address, "listen");
  return fd;
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

void remove_socket_file(const config::Address& address) {
  if (address.family == config::Address::Family::Unix) unlink(address.path.c_str());
}

}  // namespace clusterd::os
