// The caller's epoll registrations of the socket a replacement closes (supervisor/os/adopt.h).
// A program may watch its socket with epoll before it binds it (asio registers an acceptor when
// it opens it); the replacement closes that socket, which takes its registration with it, and
// the program's event loop would never hear of a connection on the master's socket. So the same
// registration is made for the master's socket first: the same events and data, under the
// program's own fd number, so that the program's later EPOLL_CTL_MOD or _DEL of that fd finds it
// (epoll keys a registration by file and fd number; the number is set from a short-lived child
// of ours whose own table has the master's socket at it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace clusterd::os {

struct EpollWatch {
  int epoll_fd = -1;  // in the caller's table
  std::uint32_t events = 0;
  std::uint64_t data = 0;
};

/// Where thread `tid` watches its fd `fd`, the socket of inode `inode`, with epoll (from
/// /proc/TID/fd, its first 1024 entries, and each epoll instance's fdinfo). Empty when it does
/// not, or cannot be read.
std::vector<EpollWatch> epoll_watches(pid_t tid, int fd, std::uint64_t inode);

/// Adds (`add`) or removes our socket `ours` under fd number `fd` in the epoll instance `epoll`
/// (a copy of the caller's, pidfd_getfd). Returns 0 or an errno value.
int epoll_as(int epoll, bool add, int fd, int ours, std::uint32_t events, std::uint64_t data);

}  // namespace clusterd::os
