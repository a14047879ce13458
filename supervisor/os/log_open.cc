#include "supervisor/os/log_open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>

namespace clusterd::os {

namespace {

constexpr int kMaxLinks = 40;  // as the kernel's own walk
constexpr int kFileFlags =
    O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC;

// Cleared at the first ENOSYS: the kernel has no openat2, every later open takes the fallback.
std::atomic<bool> kernel_openat2{true};

bool ours(uid_t uid) { return uid == 0 || uid == geteuid(); }

std::string octal(mode_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(start, slash - start);
    if (!part.empty() && part != ".") out.push_back(std::move(part));
    start = slash + 1;
  }
  return out;
}

struct stat stat_of(int fd, const std::string& shown) {
  struct stat st {};
  if (fstat(fd, &st) != 0) throw LogRefused(shown + ": " + std::strerror(errno));
  return st;
}

UniqueFd open_root(bool absolute, const std::string& shown) {
  UniqueFd fd(open(absolute ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw LogRefused(shown + ": " + std::strerror(errno));
  return fd;
}

// Why a symbolic link found in a directory may not be followed ("" when it may): anyone but
// root and us who may write to that directory could have made it point anywhere.
std::string distrust_link(const struct stat& dir, const struct stat& link) {
  if (!ours(dir.st_uid)) return "its directory belongs to uid " + std::to_string(dir.st_uid);
  if ((dir.st_mode & (S_IWGRP | S_IWOTH)) == 0) return {};
  if ((dir.st_mode & S_ISVTX) != 0 && ours(link.st_uid)) return {};
  return "its directory is writable by other users (mode " + octal(dir.st_mode) + ")";
}

std::string read_link(int fd, const std::string& shown) {
  char target[4096];
  const ssize_t n = readlinkat(fd, "", target, sizeof target);
  if (n < 0) throw LogRefused(shown + ": " + std::strerror(errno));
  if (n == 0 || static_cast<std::size_t>(n) == sizeof target) {
    throw LogRefused(shown + ": a symbolic link with an empty or too long target");
  }
  return {target, static_cast<std::size_t>(n)};
}

// A failed open of a log file, explained by what is in the way.
[[noreturn]] void refuse_open(int dir, const std::string& name, const std::string& shown,
                              int error) {
  struct stat st {};
  const bool seen = fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (seen && !S_ISREG(st.st_mode) &&
      (error == ELOOP || error == ENXIO || error == EISDIR || error == EXDEV ||
       error == EOPNOTSUPP)) {
    throw LogRefused(shown + " is " + kind_of(st.st_mode) + ": only a regular file is written");
  }
  if (error == EXDEV) throw LogRefused(shown + " is a mount point: not written");
  if (error == EWOULDBLOCK) {
    throw LogRefused(shown + " is leased by another process (it would block): not written now");
  }
  throw LogRefused("opening " + shown + ": " + std::strerror(error));
}

}  // namespace

LogPath split_log_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  LogPath out;
  out.name = slash == std::string::npos ? path : path.substr(slash + 1);
  out.dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (out.name.empty() || out.name == "." || out.name == "..") {
    throw LogRefused("'" + path + "' does not name a file");
  }
  return out;
}

UniqueFd open_log_dir(const std::string& dir) {
  const bool absolute = !dir.empty() && dir.front() == '/';
  std::deque<std::string> todo = components(dir);
  UniqueFd here = open_root(absolute, dir);
  std::string at = absolute ? "" : ".";  // the path resolved so far, for messages
  int links = 0;
  while (!todo.empty()) {
    const std::string name = std::move(todo.front());
    todo.pop_front();
    const std::string shown = at + "/" + name;
    UniqueFd next(openat(here.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next) throw LogRefused(shown + ": " + std::strerror(errno));
    const struct stat st = stat_of(next.get(), shown);
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxLinks) throw LogRefused(dir + ": too many symbolic links");
      const std::string why = distrust_link(stat_of(here.get(), at), st);
      if (!why.empty()) throw LogRefused(shown + " is a symbolic link and " + why);
      const std::string target = read_link(next.get(), shown);
      std::deque<std::string> parts = components(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      if (target.front() == '/') {
        here = open_root(true, dir);
        at.clear();
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode)) throw LogRefused(shown + " is not a directory");
    here = std::move(next);
    at = shown;
  }
  return here;
}

UniqueFd open_log_file(int dir, const std::string& name, const std::string& shown, bool openat2) {
  int fd = -1;
  bool fallback = !openat2 || !kernel_openat2.load();
  if (!fallback) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(kFileFlags);
    how.mode = 0640;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    fd = static_cast<int>(syscall(SYS_openat2, dir, name.c_str(), &how, sizeof how));
    if (fd < 0 && errno == ENOSYS) {
      kernel_openat2 = false;
      fallback = true;
    }
  }
  // The fallback: `name` is one component, so O_NOFOLLOW covers what RESOLVE_BENEATH and
  // RESOLVE_NO_SYMLINKS do. A mount on the file itself goes unseen: comparing st_dev would refuse
  // every file of an overlayfs whose layers are on different filesystems, and such a kernel has
  // no mount id in statx. (Only root mounts there, or FUSE, whose file is then only slow.)
  if (fallback) fd = openat(dir, name.c_str(), kFileFlags, 0640);
  if (fd < 0) refuse_open(dir, name, shown, errno);
  UniqueFd file(fd);
  const struct stat st = stat_of(file.get(), shown);
  if (!S_ISREG(st.st_mode)) {
    throw LogRefused(shown + " is " + kind_of(st.st_mode) + ": only a regular file is written");
  }
  if (st.st_nlink != 1) {
    throw LogRefused(shown + " has " + std::to_string(st.st_nlink) +
                     " names (a hard link to another file): not written");
  }
  return file;
}

LogFileState log_file_state(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return {};
  return {static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino),
          st.st_nlink > 0};
}

std::string rotate_log(int dir, const std::string& name, unsigned keep, const std::string& shown) {
  const auto nth = [&](unsigned n) { return n == 0 ? name : name + "." + std::to_string(n); };
  if (keep == 0) {
    if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
      return "removing " + shown + " to start it anew: " + std::strerror(errno);
    }
    return {};
  }
  unlinkat(dir, nth(keep).c_str(), 0);  // what cannot go fails the rename below, and says so
  std::string failed;
  for (unsigned n = keep; n > 0; --n) {
    if (renameat(dir, nth(n - 1).c_str(), dir, nth(n).c_str()) != 0 && errno != ENOENT &&
        failed.empty()) {
      failed = "rotating " + shown + (n > 1 ? "." + std::to_string(n - 1) : "") + " to ." +
               std::to_string(n) + ": " + std::strerror(errno);
    }
  }
  return failed;
}

}  // namespace clusterd::os
