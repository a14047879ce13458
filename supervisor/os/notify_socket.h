// The per-worker sd_notify socket: an abstract AF_UNIX datagram socket owned by the master, one per
// worker process, so every datagram on it belongs to that worker, whichever of its descendants sent
// it (a shell script's `systemd-notify --ready` included) and even if the sender already exited.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

struct NotifySocket {
  UniqueFd fd;       // non-blocking, close-on-exec, SO_PASSCRED on
  std::string name;  // for NOTIFY_SOCKET: "@clusterd/<master pid>/<n>"
};

/// Creates and binds a new notify socket with a name unique within this master.
NotifySocket open_notify_socket();

struct NotifyDatagram {
  std::string text;
  uid_t uid = 0;  // the sender's credentials (SCM_CREDENTIALS)
  pid_t pid = 0;
};

/// Reads one waiting datagram, or nullopt when none is queued. Throws std::system_error.
std::optional<NotifyDatagram> read_notify(int fd);

}  // namespace clusterd::os
