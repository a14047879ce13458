// The system calls of `watch:`: one inotify instance watching trees of files. Every directory
// under a root has a watch of its own (inotify is not recursive), new ones are added as they
// appear and forgotten as they go; symbolic links under a root are not followed (the root itself
// is), so a link loop is never entered, and a directory reached twice (a bind mount) is entered
// once. Each root's parent is watched for the root's own name, so a root deleted (or moved away)
// and made again is watched again. Nothing here decides what counts: the caller's `skip` says
// which paths are ignored (they are neither reported nor entered).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

class FileWatch {
 public:
  /// Whether a path relative to its root (`a/b.js`) is ignored: not reported, not entered.
  using Skip = std::function<bool(std::string_view relative)>;
  /// Something changed: created, written and closed, moved in or out, deleted.
  struct Change {
    std::size_t root = 0;
    std::string path;  // relative to the root; empty for the root itself (or an overflow)
  };
  /// A watch that could not be added, and why (ENOSPC: fs.inotify.max_user_watches reached).
  struct Trouble {
    std::string path;
    int error = 0;
  };

  /// Throws std::system_error (EMFILE: fs.inotify.max_user_instances reached). `walk_gap`: the
  /// least time between two walks after an overflow.
  explicit FileWatch(std::chrono::milliseconds walk_gap = kWalkGap);
  int fd() const { return fd_.get(); }

  /// Watches `path` (a directory and all under it, or a file) from now on. False when nothing of
  /// it could be watched, not even its parent (take_troubles() says why).
  bool add_root(const std::string& path, Skip skip);
  /// Reads what is queued (one non-blocking read of at most 64 KiB, so that a flood of changes
  /// is taken in turns with everything else) and keeps the watches up to date. A queue overflow
  /// is one change of every root, and a walk of every root for the directories whose creation
  /// was lost: at most one walk per kWalkGap, so that whoever floods the tree cannot keep the
  /// caller walking it; a walk it had to put off is owed (walk_owed(), then walk_all()).
  std::vector<Change> read();
  static constexpr std::chrono::milliseconds kWalkGap{1000};
  bool walk_owed() const { return walk_owed_; }
  /// When an owed walk may run: kWalkGap after the last one.
  std::chrono::steady_clock::time_point next_walk() const { return last_walk_ + walk_gap_; }
  /// Walks every root again now (new directories watched), and owes none.
  void walk_all();
  /// How many times every root was walked after an overflow (for the tests).
  unsigned long walks() const { return walks_; }
  /// The watches that failed since the last call.
  std::vector<Trouble> take_troubles();
  /// How many watch descriptors it holds (directories, files and parents).
  std::size_t watches() const { return watched_.size(); }

 private:
  struct Use {
    std::size_t root = 0;
    std::string rel;      // the directory (or file root) relative to its root
    bool parent = false;  // the root's parent, watched for the root's name only
  };
  struct Root {
    std::string path;
    std::string parent;  // where its name is watched for
    std::string name;
    Skip skip;
  };
  int add(const std::string& path, unsigned mask, Use use, bool* known);
  void walk(std::size_t root, const std::string& rel);
  void watch_root(std::size_t root);
  void forget_under(std::size_t root, const std::string& rel);
  void handle(int wd, unsigned mask, std::string_view name, std::vector<Change>& out);

  UniqueFd fd_;
  std::vector<Root> roots_;
  std::map<int, std::vector<Use>> watched_;
  std::vector<Trouble> troubles_;
  std::chrono::milliseconds walk_gap_;
  std::chrono::steady_clock::time_point last_walk_{};  // meaningful once walks_ > 0
  bool walk_owed_ = false;
  unsigned long walks_ = 0;
};

/// fs.inotify.max_user_watches, as read from /proc ("8192"); "unknown" when unreadable.
std::string inotify_watch_limit();

}  // namespace clusterd::os
