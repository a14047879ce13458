#include "supervisor/os/file_watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

namespace clusterd::os {

namespace {

constexpr unsigned kChanges = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE;
constexpr unsigned kDir = kChanges | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;
constexpr unsigned kFile = IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr unsigned kParent = IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR;

// `path` absolute, without `.`, `..` or repeated slashes (lexically: a root is where it was
// said to be, whatever its links point at later).
std::string normal(const std::string& path) {
  std::string start = path;
  if (path.empty() || path.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) != nullptr) start = std::string(cwd) + "/" + path;
  }
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= start.size()) {
    const std::size_t slash = std::min(start.find('/', i), start.size());
    const std::string part = start.substr(i, slash - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = slash + 1;
  }
  std::string out;
  for (const std::string& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

std::string joined(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

bool under(const std::string& rel, const std::string& dir) {
  return dir.empty() || rel == dir || (rel.starts_with(dir) && rel[dir.size()] == '/');
}

}  // namespace

FileWatch::FileWatch(std::chrono::milliseconds walk_gap)
    : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)), walk_gap_(walk_gap) {
  if (!fd_) throw std::system_error(errno, std::generic_category(), "inotify_init1");
}

// A watch on `path` for `use`; the wd, or -errno. `alias`: the same directory is already
// watched for this root under another name (a bind mount, or a link loop the kernel resolved).
int FileWatch::add(const std::string& path, unsigned mask, Use use, bool* alias) {
  const int wd = ::inotify_add_watch(fd_.get(), path.c_str(), mask | IN_MASK_ADD);
  if (wd < 0) {
    const int error = errno;
    troubles_.push_back({path, error});
    return -error;
  }
  std::vector<Use>& uses = watched_[wd];
  for (const Use& u : uses) {
    if (u.root != use.root || u.parent != use.parent) continue;
    if (u.rel != use.rel && alias != nullptr) *alias = true;
    return wd;
  }
  uses.push_back(std::move(use));
  return wd;
}

// Watches the directory `rel` of `root` and every directory under it that is not skipped,
// without following symbolic links. Stops at ENOSPC: no further watch can be added.
void FileWatch::walk(std::size_t root, const std::string& rel) {
  std::vector<std::string> pending{rel};
  while (!pending.empty()) {
    const std::string dir = std::move(pending.back());
    pending.pop_back();
    const std::string full = dir.empty() ? roots_[root].path : roots_[root].path + "/" + dir;
    bool alias = false;
    // The root may be a link to a directory; below it, nothing is followed.
    const unsigned mask = dir.empty() ? kDir : kDir | IN_DONT_FOLLOW;
    const int wd = add(full, mask, {root, dir, false}, &alias);
    if (wd == -ENOSPC) return;
    if (wd < 0 || alias) continue;
    const int fd =
        ::open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (dir.empty() ? 0 : O_NOFOLLOW));
    if (fd < 0) continue;
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      continue;
    }
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = ::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      if (!is_dir) continue;
      std::string child = joined(dir, name);
      if (roots_[root].skip && roots_[root].skip(child)) continue;
      pending.push_back(std::move(child));
    }
    ::closedir(d);
  }
}

void FileWatch::watch_root(std::size_t root) {
  struct stat st {};
  if (::stat(roots_[root].path.c_str(), &st) != 0) return;  // its parent waits for it
  if (S_ISDIR(st.st_mode)) {
    walk(root, "");
  } else {
    add(roots_[root].path, kFile, {root, "", false}, nullptr);
  }
}

bool FileWatch::add_root(const std::string& path, Skip skip) {
  Root r;
  r.path = normal(path);
  const std::size_t slash = r.path.rfind('/');
  r.parent = slash == 0 ? "/" : r.path.substr(0, slash);
  r.name = r.path.substr(slash + 1);
  r.skip = std::move(skip);
  roots_.push_back(std::move(r));
  const std::size_t root = roots_.size() - 1;
  const std::size_t before = watched_.size();
  watch_root(root);
  bool any = watched_.size() > before;
  if (!roots_[root].name.empty() &&
      add(roots_[root].parent, kParent, {root, "", true}, nullptr) >= 0)
    any = true;
  return any;
}

// Stops watching `rel` of `root` and everything under it (moved out of the tree, or away).
void FileWatch::forget_under(std::size_t root, const std::string& rel) {
  for (auto it = watched_.begin(); it != watched_.end();) {
    std::erase_if(it->second,
                  [&](const Use& u) { return u.root == root && !u.parent && under(u.rel, rel); });
    if (it->second.empty()) {
      ::inotify_rm_watch(fd_.get(), it->first);
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
}

void FileWatch::handle(int wd, unsigned mask, std::string_view name, std::vector<Change>& out) {
  if (mask & IN_Q_OVERFLOW) {  // events were lost: look again at everything
    for (std::size_t r = 0; r < roots_.size(); ++r) out.push_back({r, ""});
    if (walks_ == 0 || std::chrono::steady_clock::now() >= next_walk()) {
      walk_all();
    } else {
      walk_owed_ = true;
    }
    return;
  }
  const auto it = watched_.find(wd);
  if (it == watched_.end()) return;
  if (mask & IN_IGNORED) {  // deleted, or unmounted: the kernel dropped the watch
    watched_.erase(it);
    return;
  }
  const std::vector<Use> uses = it->second;  // walk() may add to the map
  for (const Use& use : uses) {
    const Root& root = roots_[use.root];
    if (use.parent) {
      if (name != root.name) continue;
      if (mask & (IN_CREATE | IN_MOVED_TO)) watch_root(use.root);  // made again
      out.push_back({use.root, ""});
      continue;
    }
    if (name.empty()) {                                     // the watched directory or file itself
      if (!use.rel.empty()) continue;                       // a subdirectory's parent reports it
      if (mask & IN_MOVE_SELF) forget_under(use.root, "");  // moved away: not ours any more
      out.push_back({use.root, ""});
      continue;
    }
    const std::string rel = joined(use.rel, name);
    if (root.skip && root.skip(rel)) continue;
    if (mask & IN_ISDIR) {
      if (mask & IN_MOVED_FROM) forget_under(use.root, rel);
      if (mask & (IN_CREATE | IN_MOVED_TO)) walk(use.root, rel);
    }
    if (mask & kChanges) out.push_back({use.root, rel});
  }
}

void FileWatch::walk_all() {
  for (std::size_t r = 0; r < roots_.size(); ++r) watch_root(r);
  last_walk_ = std::chrono::steady_clock::now();
  walk_owed_ = false;
  ++walks_;
}

std::vector<FileWatch::Change> FileWatch::read() {
  alignas(inotify_event) char buffer[64 * 1024];
  std::vector<Change> out;
  const ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
  if (n <= 0) return out;  // EAGAIN: nothing queued
  for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
    inotify_event event{};
    std::memcpy(&event, buffer + at, sizeof event);
    const char* name = buffer + at + sizeof event;
    const std::size_t length = event.len == 0 ? 0 : ::strnlen(name, event.len);
    handle(event.wd, event.mask, std::string_view(name, length), out);
    at += static_cast<ssize_t>(sizeof event + event.len);
  }
  return out;
}

std::vector<FileWatch::Trouble> FileWatch::take_troubles() { return std::exchange(troubles_, {}); }

std::string inotify_watch_limit() {
  std::ifstream in("/proc/sys/fs/inotify/max_user_watches");
  std::string value;
  if (!(in >> value)) return "unknown";
  return value;
}

}  // namespace clusterd::os
