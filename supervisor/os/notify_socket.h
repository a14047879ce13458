// The per-worker sd_notify sockets: path sockets in a directory only the master can write, with
// names no one can predict, each owned by its worker's uid with mode 0600. So no other user can
// bind a worker's name before it (the directory), find it (0711: not listable) or connect to it
// (the socket's mode), and every datagram on a socket belongs to that worker slot, whichever of
// its processes sent it. The kernel also hands over who sent each datagram: its credentials
// (SCM_CREDENTIALS) and a pidfd (SCM_PIDFD, Linux 6.5+) that stays valid after the sender exits,
// so the daemon can check the sender is one of the worker's own processes (notify_sender()).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/os/facts.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

struct NotifySocket {
  UniqueFd fd;       // non-blocking, close-on-exec, SO_PASSCRED and SO_PASSPIDFD on
  std::string path;  // for NOTIFY_SOCKET
};

/// The directory of one master's notify sockets, removed with it.
class NotifyDir {
 public:
  /// Creates `parent`/notify.<pid>.XXXXXX (mode 0711). A master killed before it could remove
  /// it leaves it behind; no later master removes it, because in a directory shared between pid
  /// namespaces (/dev/shm with docker's --ipc=host) a live master's pid can look dead from here.
  /// Throws std::system_error.
  explicit NotifyDir(const std::string& parent);
  /// The directory of the previous master (a live upgrade; its workers' sockets are in it), taken
  /// over as it is. It must be a directory of ours, not a symlink, not writable by others.
  struct Existing {};
  NotifyDir(Existing, const std::string& path);
  ~NotifyDir();
  NotifyDir(const NotifyDir&) = delete;
  NotifyDir& operator=(const NotifyDir&) = delete;
  const std::string& path() const { return path_; }

  /// Binds a new socket with a random name, owned by `uid` (mode 0600). Throws std::system_error.
  NotifySocket open(uid_t uid) const;

 private:
  std::string path_;
};

struct NotifyDatagram {
  std::string text;
  NotifySender sender;
};

/// The worker whose socket it is.
struct NotifyOwner {
  pid_t pid = 0;
  /// Reaped already: its pid may be anyone's now. Not its session's: a session's id stays taken
  /// while any process is in it.
  bool reaped = false;
  int pidfd = -1;  // its pidfd, reaped or not (-1 if none)
};

/// Reads one waiting datagram, or nullopt when none is queued. A sender whose pidfd is the
/// worker's own (pidfs, Linux 6.9+, or the pid of an unreaped worker) needs no /proc reads; any
/// other is placed by its session and its chain of parents, each link read from /proc and
/// confirmed through pidfds, so that no pid reused meanwhile joins it. Throws std::system_error.
std::optional<NotifyDatagram> read_notify(int fd, const NotifyOwner& worker);

/// True when the kernel supports SO_PASSPIDFD (Linux 6.5+).
bool notify_pidfds_supported();

}  // namespace clusterd::os
