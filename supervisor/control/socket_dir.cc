#include "supervisor/control/socket_dir.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace clusterd::control {

namespace {

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool owned_by_us_or_root(const struct stat& st) { return st.st_uid == 0 || st.st_uid == geteuid(); }

// Why a directory cannot be trusted to hold our socket; empty when it can.
std::string distrust_dir(const std::string& dir, const struct stat* socket_file) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return dir + ": " + std::strerror(errno);
  if (S_ISLNK(st.st_mode)) return dir + " is a symbolic link";
  if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
  if (!owned_by_us_or_root(st)) return dir + " belongs to uid " + std::to_string(st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return {};
  const bool sticky = (st.st_mode & S_ISVTX) != 0;
  if (sticky && (socket_file == nullptr || owned_by_us_or_root(*socket_file))) return {};
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return dir + " is writable by other users (mode " + mode + ")";
}

void make_dirs(const std::string& dir, mode_t mode) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) == 0) return;
  if (errno != ENOENT) throw std::runtime_error(dir + ": " + std::strerror(errno));
  make_dirs(parent_of(dir), 0755);
  // mkdir() only ever removes bits through the umask, so `mode` is the most the directory gets.
  if (mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    throw std::runtime_error("creating " + dir + ": " + std::strerror(errno));
  }
}

// True when a daemon accepts (or queues) connections on the socket at `path`. Non-blocking: a
// full backlog (EAGAIN) is a live daemon too, not a reason to wait.
bool live_socket(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  const int rc = connect(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
  const int error = errno;
  close(fd);
  if (rc == 0 || error == EAGAIN || error == EINPROGRESS) return true;
  if (error == ECONNREFUSED) return false;
  throw std::runtime_error("probing control socket " + path + ": " + std::strerror(error) +
                           "; not replacing it");
}

}  // namespace

std::string socket_dir_of(const std::string& path) { return parent_of(path); }

void prepare_socket_dir(const std::string& dir) {
  make_dirs(dir, 0711);
  if (std::string why = distrust_dir(dir, nullptr); !why.empty()) {
    throw std::runtime_error("control socket directory not safe: " + why);
  }
}

void prepare_socket_path(const std::string& path) {
  sockaddr_un sun{};
  if (path.empty() || path.size() >= sizeof sun.sun_path) {
    throw std::runtime_error("control socket path '" + path + "' is empty or too long");
  }
  const std::string dir = parent_of(path);
  make_dirs(dir, 0711);
  struct stat st {};
  const bool exists = lstat(path.c_str(), &st) == 0;
  if (std::string why = distrust_dir(dir, exists ? &st : nullptr); !why.empty()) {
    throw std::runtime_error("control socket directory not safe: " + why);
  }
  if (!exists) return;
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error("control socket " + path +
                             " exists and is not a socket; refusing to replace it");
  }
  if (live_socket(path)) {
    throw std::runtime_error("another clusterd is running on control socket " + path +
                             "; refusing to start");
  }
  unlink(path.c_str());  // stale: its daemon is gone
}

std::optional<std::string> distrust_socket(const std::string& path) {
  struct stat st {};
  const bool exists = lstat(path.c_str(), &st) == 0;
  if (exists && !S_ISSOCK(st.st_mode)) return path + " is not a socket";
  if (exists && !owned_by_us_or_root(st)) {
    return path + " belongs to uid " + std::to_string(st.st_uid);
  }
  std::string why = distrust_dir(parent_of(path), exists ? &st : nullptr);
  if (why.empty()) return std::nullopt;
  return why;
}

}  // namespace clusterd::control
