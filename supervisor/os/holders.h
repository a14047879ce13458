// Who holds an address the master could not bind, and what a killed master left holding one.
// Every worker carries CLUSTER_INSTANCE, the id of the master that started it; the master records
// its own id beside its control socket. A process found holding an address is described with its
// id (read from /proc/PID/environ), its uids, its command and its start time; whether it is a
// leftover the master may end is the core's decision (core/leftovers.h). Ending one goes
// through a pidfd opened after checking its start time, so a pid reused meanwhile is never hit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "supervisor/os/facts.h"

namespace clusterd::os {

/// A listening TCP socket: its family (AF_INET or AF_INET6), address (4 or 16 bytes), port and
/// inode, as sock_diag reports it.
struct ListeningSocket {
  int family = 0;
  unsigned char host[16] = {};
  std::uint16_t port = 0;
  std::uint64_t inode = 0;
};

/// Whether binding `address` must fail while `socket` listens: the same port, and the same host,
/// or either one the wildcard (an IPv4 address also against an IPv6 socket on :: or on
/// ::ffff:the address). Pure.
bool blocks(const ListeningSocket& socket, const config::Address& address);

/// The inodes of listening Unix sockets bound to `path` in the text of /proc/net/unix. Pure.
std::vector<std::uint64_t> parse_unix_listeners(std::string_view text, const std::string& path);

/// "hello-worker --threads 1" from /proc/PID/cmdline's NUL-separated argv: the program's base
/// name, then its arguments, cut to 120 bytes. Pure.
std::string command_line(std::string_view cmdline);

/// The value of NAME in /proc/PID/environ's NUL-separated NAME=value entries. Pure.
std::optional<std::string> environ_value(std::string_view environ, std::string_view name);

/// The processes but this one holding a socket that listens where `address` would (TCP: through
/// sock_diag; Unix: /proc/net/unix), found through /proc/PID/fd, and the other members of their
/// process groups. Processes whose fds cannot be read (another uid, without root) are missed.
Occupants address_occupants(const config::Address& address);

/// Ends `who`: SIGTERM to each that is still the process described (same start time), SIGKILL
/// to those left after `grace`, and waits (5 s more at most). Blocking: for the start only.
/// Returns the pids still there.
std::vector<pid_t> end_processes(const std::vector<Occupant>& who, std::chrono::milliseconds grace);

/// This process's id, for CLUSTER_INSTANCE: "<pid>-<start ticks>-<pid namespace inode>". The
/// same after an exec (a live upgrade keeps it).
std::string instance_id();
/// Whether the process of `id` runs now (same pid namespace, pid and start time); nullopt when
/// that cannot be told (another pid namespace, not an id).
std::optional<bool> instance_running(const std::string& id);

/// The id recorded in `path`, if it is a regular file of ours (or root's) that nobody else may
/// write, holding one id.
std::optional<std::string> read_instance_record(const std::string& path);
/// Records `id` in `path` (mode 0644, through a temporary file and a rename). Throws
/// std::system_error.
void write_instance_record(const std::string& path, const std::string& id);

}  // namespace clusterd::os
