// Sockets handed to clusterd by systemd: from .socket units (named by FileDescriptorName=) and
// from the fd store (named "<listener>/<slot>" by clusterd itself before a restart).
#pragma once

#include <string>
#include <vector>

namespace clusterd::sd {

struct PassedFd {
  int fd = -1;       // close-on-exec; owned by the caller
  std::string name;  // "http", or "http/3" from the fd store; "unknown" when systemd gave none
};

/// Takes the fds passed with LISTEN_FDS/LISTEN_FDNAMES (if LISTEN_PID is us) and unsets those
/// variables. Returns an empty list when nothing was passed.
std::vector<PassedFd> take_passed_fds();

}  // namespace clusterd::sd
