#include "supervisor/control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace clusterd::control {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

std::string call(const std::string& path, const std::string& request_line,
                 std::chrono::milliseconds timeout,
                 const std::function<bool(const std::string&)>& is_final) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) throw Unreachable(path + ": path too long");
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  Fd sock{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) throw Unreachable(std::string("socket: ") + std::strerror(errno));
  if (connect(sock.fd, reinterpret_cast<const sockaddr*>(&sun), sizeof sun) != 0) {
    if (errno == EACCES || errno == EPERM) {  // a daemon may be there; we may not talk to it
      throw std::runtime_error(std::string("permission denied connecting to the control socket"));
    }
    throw Unreachable(path + ": " + std::strerror(errno));
  }
  std::size_t sent = 0;
  while (sent < request_line.size()) {
    const ssize_t n =
        send(sock.fd, request_line.data() + sent, request_line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The daemon may have refused us (permission, too many clients) and hung up before reading;
      // its reply is still waiting to be read.
      if (errno == EPIPE || errno == ECONNRESET) break;
      throw std::runtime_error(std::string("sending the request: ") + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buffer[65536];
  while (true) {
    pollfd pfd{sock.fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout.count() <= 0 ? -1 : remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) throw std::runtime_error("no reply from the daemon within the timeout");
    const ssize_t n = recv(sock.fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) {  // closed with our request unread
        throw ClosedWithoutReply("the daemon closed the connection without a reply");
      }
      throw std::runtime_error(std::string("reading the reply: ") + std::strerror(errno));
    }
    if (n == 0) throw ClosedWithoutReply("the daemon closed the connection without a reply");
    reply.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t newline = reply.find('\n'); newline != std::string::npos;
         newline = reply.find('\n')) {
      std::string line = reply.substr(0, newline);
      reply.erase(0, newline + 1);
      if (!is_final || is_final(line)) return line;
      deadline = std::chrono::steady_clock::now() + timeout;  // progress: the daemon is alive
    }
  }
}

}  // namespace clusterd::control
