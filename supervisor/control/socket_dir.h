// Safe placement of the control socket. Its directory decides who can replace the socket, so it
// is created with a private mode whatever the umask, and an existing one is trusted only when it
// is a real directory owned by root or by us and no one else may write to it (a sticky directory
// such as /tmp counts only for a socket file owned by root or us). Used by the daemon before it
// binds, and by clusterctl before it believes an answer.
#pragma once

#include <optional>
#include <string>

namespace clusterd::control {

/// Creates the directory `dir` (mode 0711: others may pass through to a socket they are allowed
/// to use, a worker to its notify socket, but not list it; missing parents 0755), or checks the
/// existing one. Throws std::runtime_error naming the problem.
void prepare_socket_dir(const std::string& dir);

/// Readies `path` for bind(): prepare_socket_dir() of its directory, and a stale socket file
/// nobody answers on removed. Throws std::runtime_error naming the problem: an untrusted
/// directory, a file that is not a socket, or a live daemon.
void prepare_socket_path(const std::string& path);

/// The directory part of a socket path.
std::string socket_dir_of(const std::string& path);

/// Why the socket at `path` should not be trusted by a client running as this euid (an empty
/// optional when it may be): its directory or the socket file belongs to another user, or the
/// directory is writable by others.
std::optional<std::string> distrust_socket(const std::string& path);

}  // namespace clusterd::control
