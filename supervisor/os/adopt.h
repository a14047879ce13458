// The master's side of socket adoption (docs/adoption.md): the bind() and listen() calls a
// worker's seccomp filter stops (os::SpawnSpec::adopt), read off the filter's listener fd and
// answered. Nothing here decides: supervisor/core/adoption.h says which answer a call gets.
//
// A call waits in the kernel until it is answered, so every call received must get exactly one
// answer, and soon. A worker may die, or a signal may interrupt its call, at any moment: those
// come back as Status::Gone / Delivery::Gone, never as exceptions (an interrupted call is made
// again, as a new notification, once the worker's signal handler returns).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"
#include "supervisor/os/facts.h"

namespace clusterd::os {

struct Received {
  enum class Status {
    Call,     // `call` is one to answer
    Nothing,  // no call is waiting (the fd was not readable)
    Gone,     // a call came, but its caller died or was interrupted before it was read in full:
              // nothing to answer
    Closed,   // every process under this filter has exited: close the listener
  };
  Status status = Status::Nothing;
  SocketCall call;
  std::string detail;  // Gone: what happened
};

/// Takes one call off `listener` if one is waiting (never blocks: poll first, then
/// SECCOMP_IOCTL_NOTIF_RECV), decodes it (a bind's sockaddr read from the caller's memory with
/// process_vm_readv, else /proc/PID/mem), looks at the caller's fd (pidfd_getfd), and checks
/// with SECCOMP_IOCTL_NOTIF_ID_VALID that the caller still waits, so what was read is its own.
/// Throws std::system_error only when `listener` is no listener (EBADF, EINVAL, ...).
Received receive(int listener);

enum class Delivery {
  Answered,
  Gone,  // the caller died or was interrupted meanwhile: its call is not waiting any more
};

/// Lets the call run in the kernel as if nothing had stopped it
/// (SECCOMP_USER_NOTIF_FLAG_CONTINUE): for calls that are not the master's business.
Delivery proceed(int listener, std::uint64_t id);
/// Returns 0 to the caller without running the call.
Delivery succeed(int listener, std::uint64_t id);
/// Fails the call with `error` (an errno value) without running it.
Delivery refuse(int listener, std::uint64_t id, int error);

/// How the socket installed in the caller's place is set up.
struct Replacement {
  bool nonblocking = false;  // O_NONBLOCK, set on `ours` (a status flag of the open file: every
                             // process holding it sees the change)
  bool cloexec = true;       // FD_CLOEXEC of the caller's new fd
};
/// Replaces the caller's fd by our socket `ours` (SECCOMP_IOCTL_NOTIF_ADDFD with
/// SECCOMP_ADDFD_FLAG_SETFD: the caller's own socket is closed), then returns 0 to the caller.
/// Where the caller watches its socket with epoll already (asio registers an acceptor when it
/// opens it), ours is registered the same way first (adopt_epoll.h). Gone when the caller went
/// away before the fd was installed, or between that and the answer (its fd is ours then, and a
/// bind it makes again finds our socket there). Any other failure answers the call with its
/// errno, then throws std::system_error.
Delivery replace(int listener, const SocketCall& call, int ours, const Replacement& replacement);

/// Whether `fd` is a seccomp filter's listener (what /proc/self/fd says it is): a live upgrade
/// takes only that for a worker's filter.
bool is_filter_listener(int fd);

/// The inode of the socket `fd` (TargetSocket::inode of a caller's fd that is this socket).
/// Throws std::system_error.
std::uint64_t socket_inode(int fd);

}  // namespace clusterd::os
