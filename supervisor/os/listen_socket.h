// Listening sockets, bound by the master before any worker exists: TCP over IPv4 and IPv6, and
// Unix stream sockets. Every fd is close-on-exec; the spawner places the slot's fds at 3.. itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"
#include "supervisor/os/facts.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

/// Binds and listens on `address` with SO_REUSEADDR (and SO_REUSEPORT when `reuseport`). Port 0
/// takes a port the kernel picks, bound by its number, so that it stays across stop_listening().
/// For a Unix path, a stale socket file (nobody accepting) is replaced; a live one is an error;
/// the new file gets `access` (its mode from the bind on: no window with another). An IPv6 socket
/// serves IPv6 only unless `v6only` is false (a dual-stack [::] that `adopt: all` makes for a
/// program that asked for one). Throws std::system_error naming the address and the call that
/// failed.
UniqueFd bind_listener(const config::Address& address, int backlog, bool reuseport,
                       const SocketAccess& access = {}, bool v6only = true);

/// Listens again with a new backlog (on a listening socket this only changes the backlog).
void listen_again(int fd, int backlog);

/// Stops a listening TCP socket accepting (shutdown(SHUT_RD)); it keeps its address, and
/// listen_again() makes it listen again. A socket that does not listen is left as it is.
void stop_listening(int fd);

/// The port a bound TCP socket ended up on (for `:0`). 0 for Unix sockets.
std::uint16_t local_port(int fd);

/// Checks that an inherited fd (socket activation, fd store, a live upgrade) is a listening stream
/// socket bound to `address` (the same family, port and IP, or the same Unix path). With
/// `stopped_ok`, a TCP socket that stop_listening() stopped passes too: it keeps its address.
/// Returns an empty string when it is, else what it is instead ("a UDP socket", "bound to
/// 127.0.0.1:9000", ...).
std::string socket_mismatch(int fd, const config::Address& address, bool stopped_ok);

/// Makes sure SO_REUSEPORT is set on `fd`; returns true if it already was. Throws
/// std::system_error if it cannot be set.
bool enable_reuseport(int fd);

/// Removes the socket file of a Unix listener the master created; no-op for TCP.
void remove_socket_file(const config::Address& address);

/// The accept queue of a listening TCP socket (nullopt for anything else): read when asked
/// (a scrape, a status), never polled.
std::optional<AcceptQueue> accept_queue(int fd);

}  // namespace clusterd::os
