#include "supervisor/os/journal.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace clusterd::os {

namespace {
constexpr int kSendBuffer = 8 << 20;  // as sd-journal's own: room for a burst of long lines
}

JournalSocket::JournalSocket(std::string path)
    : path_(std::move(path)), fd_(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
  if (fd_) {
    int size = kSendBuffer;
    if (setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
      setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
  }
}

bool JournalSocket::available() const {
  struct stat st {};
  return fd_ && stat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

JournalSocket::Result JournalSocket::send(std::string_view entry, const Sender* as) {
  if (as != nullptr && as->pid > 0 && !credentials_refused_) {
    const Result r = send_raw(entry, as);
    if (r != Result::Failed) return r;
    if (errno == EPERM) credentials_refused_ = true;  // no CAP_SYS_ADMIN: never again
    if (errno != EPERM && errno != ESRCH) return r;   // ESRCH: reaped already; this one only
  }
  if (as == nullptr || as->pid <= 0) return send_raw(entry, nullptr);
  std::string named(entry);
  named += "OBJECT_PID=" + std::to_string(as->pid) + "\n";
  return send_raw(named, nullptr);
}

JournalSocket::Result JournalSocket::send_raw(std::string_view entry, const Sender* as) {
  if (!fd_) return Result::Failed;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof address.sun_path) return Result::Failed;
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  iovec data{const_cast<char*>(entry.data()), entry.size()};
  msghdr message{};
  message.msg_name = &address;
  message.msg_namelen = sizeof address;
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))] = {};
  if (as != nullptr) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_CREDENTIALS;
    header->cmsg_len = CMSG_LEN(sizeof(ucred));
    const ucred credentials{as->pid, as->uid, as->gid};
    std::memcpy(CMSG_DATA(header), &credentials, sizeof credentials);
  }
  while (true) {
    if (sendmsg(fd_.get(), &message, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) return Result::Sent;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == ENOBUFS ? Result::Dropped : Result::Failed;
  }
}

}  // namespace clusterd::os
