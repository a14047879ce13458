// Safe placement of the control socket. Its directory decides who can replace the socket, so it
// is created with a private mode whatever the umask, and an existing one is trusted only when it
// is a real directory owned by root or by us and no one else may write to it (a sticky directory
// such as /tmp counts only for a socket file owned by root or us). Used by the daemon before it
// binds, and by clusterctl before it believes an answer.
#pragma once

#include <optional>
#include <string>

namespace clusterd::control {

/// Readies `path` for bind(): creates its directory (mode 0750; missing parents 0755) or checks
/// the existing one; removes a stale socket file nobody answers on. Throws std::runtime_error
/// naming the problem: an untrusted directory, a file that is not a socket, or a live daemon.
void prepare_socket_path(const std::string& path);

/// Why the socket at `path` should not be trusted by a client running as this euid (an empty
/// optional when it may be): its directory or the socket file belongs to another user, or the
/// directory is writable by others.
std::optional<std::string> distrust_socket(const std::string& path);

}  // namespace clusterd::control
