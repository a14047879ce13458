#include "supervisor/os/notify_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace clusterd::os {

NotifySocket open_notify_socket() {
  static unsigned long counter = 0;
  NotifySocket out;
  out.fd = UniqueFd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!out.fd) throw std::system_error(errno, std::system_category(), "socket(notify)");
  const int one = 1;
  if (setsockopt(out.fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    throw std::system_error(errno, std::system_category(), "setsockopt(SO_PASSCRED)");
  }
  const std::string abstract =
      "clusterd/" + std::to_string(getpid()) + "/" + std::to_string(++counter);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path + 1, abstract.data(), abstract.size());  // sun_path[0] = 0: abstract
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
  if (bind(out.fd.get(), reinterpret_cast<const sockaddr*>(&sun), length) != 0) {
    throw std::system_error(errno, std::system_category(), "bind(notify @" + abstract + ")");
  }
  out.name = "@" + abstract;
  return out;
}

std::optional<NotifyDatagram> read_notify(int fd) {
  char data[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
  iovec iov{data, sizeof data - 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::nullopt;
    throw std::system_error(errno, std::system_category(), "recvmsg(notify)");
  }
  NotifyDatagram out;
  out.uid = static_cast<uid_t>(-1);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out.uid = cred.uid;
      out.pid = cred.pid;
    } else if (c->cmsg_type == SCM_RIGHTS) {  // nobody may park fds with us: close them
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
        close(passed);
      }
    }
  }
  const std::size_t length =
      static_cast<std::size_t>(n) < sizeof data - 1 ? static_cast<std::size_t>(n) : sizeof data - 1;
  out.text.assign(data, length);
  return out;
}

}  // namespace clusterd::os
