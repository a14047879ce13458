#include "supervisor/control/socket_file.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace clusterd::control {

Peer peer_of(int fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  Peer peer;
  peer.uid = static_cast<uid_t>(-1);
  peer.gid = static_cast<gid_t>(-1);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0) {
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
  }
  std::vector<gid_t> groups(64);
  length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0 && errno == ERANGE) {
    groups.resize(length / sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) length = 0;
  }
  groups.resize(length / sizeof(gid_t));
  peer.groups = std::move(groups);
  return peer;
}

std::optional<SocketFile> socket_file(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return std::nullopt;
  return SocketFile{st.st_dev, st.st_ino, st.st_gid};
}

SocketFile bound_socket_file(const std::string& path, std::optional<gid_t> group) {
  const std::optional<SocketFile> file = socket_file(path);
  if (!file) throw std::system_error(errno, std::system_category(), "stat " + path);
  if (group &&
      fchownat(AT_FDCWD, path.c_str(), static_cast<uid_t>(-1), *group, AT_SYMLINK_NOFOLLOW) != 0) {
    throw std::system_error(errno, std::system_category(), "chown " + path);
  }
  return *file;
}

std::vector<std::string> set_socket_mode(const std::string& path, const SocketFile& bound,
                                         gid_t group, mode_t mode) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_dev != bound.dev ||
      st.st_ino != bound.ino) {
    return {path +
            " is no longer the socket clusterd bound; its mode and group are left as "
            "they are"};
  }
  std::vector<std::string> problems;
  if (st.st_gid != group && lchown(path.c_str(), static_cast<uid_t>(-1), group) != 0) {
    problems.push_back("cannot give " + path + " to group " + std::to_string(group) + ": " +
                       std::strerror(errno));
  }
  if ((st.st_mode & 07777) != mode && chmod(path.c_str(), mode) != 0) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    problems.push_back("cannot make " + path + " mode " + octal + ": " + std::strerror(errno));
  }
  return problems;
}

}  // namespace clusterd::control
