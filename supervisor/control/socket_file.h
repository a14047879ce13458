// The control socket's file and its peers, below the asio server: who is on the other end of a
// connection, and the socket file's identity, group and mode (a reload may change the last two).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "supervisor/control/access.h"

namespace clusterd::control {

/// Who is on the other end of the connected unix socket `fd` (SO_PEERCRED, and SO_PEERGROUPS for
/// the supplementary groups); uid and gid -1 when the kernel does not say.
Peer peer_of(int fd);

/// The socket file as bound, to tell later whether `path` still names it.
struct SocketFile {
  dev_t dev = 0;
  ino_t ino = 0;
  gid_t gid = 0;  // its group when it was created
};
/// The file at `path` (not following a symbolic link), or nullopt when it cannot be read.
std::optional<SocketFile> socket_file(const std::string& path);
/// The socket file just bound at `path`, given `group` when set. Throws std::system_error.
SocketFile bound_socket_file(const std::string& path, std::optional<gid_t> group);

/// Gives the file at `path` `group` and `mode`, when it is still the socket `bound`; a socket's
/// fd cannot fchmod/fchown its file, so this goes by the path. Each problem in words (none: done).
std::vector<std::string> set_socket_mode(const std::string& path, const SocketFile& bound,
                                         gid_t group, mode_t mode);

}  // namespace clusterd::control
