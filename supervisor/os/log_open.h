// Opening an app's log file so that whoever may write to its directories cannot send the master's
// appends elsewhere. The master runs as root and a worker with `user:` may own (or write to) the
// log directory or one above it; a path is therefore never opened by name in one go:
//
// - The directory is walked one component at a time from "/" (or the working directory), each
//   opened with O_NOFOLLOW relative to the one before. A symbolic link on the way is followed only
//   where nobody but root or the master could have put it (its directory is theirs and no one
//   else may write to it, or it is sticky and the link is theirs): /var/run -> /run is fine,
//   `logs/web -> /etc` made by a worker is refused.
// - The file is opened beneath that directory's fd with openat2(RESOLVE_BENEATH |
//   RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) (on a kernel without openat2: openat with
//   O_NOFOLLOW, the same for a name of one component but the mount), with O_NONBLOCK so that a
//   FIFO or a leased file cannot block, then accepted only if fstat says it is a regular file
//   with one name (a hard link to another file is not our log).
// - Rotation renames through the same directory fd, so it happens where the file is.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

/// Why a log file cannot be opened: its message names the file and the problem.
struct LogRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `path` split into its directory and its last component.
struct LogPath {
  std::string dir;   // "." when `path` has no slash
  std::string name;  // never empty, ".", ".." or with a slash
};
/// Throws LogRefused when `path` names no file (empty, ends in "/", "." or "..").
LogPath split_log_path(const std::string& path);

/// Opens the directory `dir` (an O_PATH fd) by the walk above. Throws LogRefused.
UniqueFd open_log_dir(const std::string& dir);

/// Opens (creating it, mode 0640) `name` in the directory `dir` for appending, as above; `shown`
/// is the path used in messages. `openat2` false takes the fallback (as on a kernel without it).
/// Throws LogRefused.
UniqueFd open_log_file(int dir, const std::string& name, const std::string& shown,
                       bool openat2 = true);

/// The size and inode of an open log file, and whether it still has a name (0 links: it was
/// removed, a new one should be opened).
struct LogFileState {
  std::uint64_t size = 0;
  std::uint64_t inode = 0;
  bool linked = true;
};
LogFileState log_file_state(int fd);

/// In `dir`: NAME.keep removed, NAME.n renamed NAME.n+1, NAME renamed NAME.1 (keep 0: NAME
/// removed). Nothing is followed. Returns what failed ("" when nothing did).
std::string rotate_log(int dir, const std::string& name, unsigned keep, const std::string& shown);

}  // namespace clusterd::os
