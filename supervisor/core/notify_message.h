// One sd_notify datagram ("READY=1\nSTATUS=serving\n"), decoded. Pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace clusterd::core {

struct NotifyMessage {
  bool ready = false;                                       // READY=1
  bool stopping = false;                                    // STOPPING=1
  bool watchdog = false;                                    // WATCHDOG=1
  std::optional<std::string> status;                        // STATUS=...
  std::optional<std::chrono::milliseconds> watchdog_usec;   // WATCHDOG_USEC=
  std::optional<std::chrono::milliseconds> extend_timeout;  // EXTEND_TIMEOUT_USEC=
};

/// Decodes the newline-separated assignments; unknown ones are ignored, as systemd does.
NotifyMessage parse_notify(std::string_view datagram);

/// The sender of a datagram on a worker's notify socket, as the kernel vouches for it.
struct NotifySender {
  unsigned uid = 0;
  int pid = 0;
  bool pidfds = false;  // the kernel hands the sender's pidfd with each datagram (Linux 6.5+)
  bool pidfd = false;   // one came with this datagram: the facts below are known
  bool worker = false;  // its pidfd is the worker's own: it is the worker, alive or not
  bool alive = false;   // not reaped yet when the master looked
  std::optional<std::uint64_t> cgroup;  // its cgroup v2 id, known even after its exit
  // Alive only:
  int session = 0;          // its session
  bool in_session = false;  // that session is the worker's (every worker leads one)
  bool below = false;       // the worker is among its parents (up to the master), not reaped
};

/// The worker whose notify socket it was.
struct NotifyWorker {
  unsigned uid = 0;
  std::optional<std::uint64_t> cgroup;  // its own cgroup, when clusterd made one
};

/// Whether a datagram may speak for `worker`; the reason when it may not. Each check stops a
/// different attacker (docs/reliability.md): the socket itself, mode 0600 in a directory only the
/// master writes, keeps other uids out; the uid must be the worker's (or root's, or the
/// master's); and the sender must be shown to be one of the worker's own processes: in its
/// cgroup when it has one (which the kernel remembers after the sender exits); else the worker
/// itself, or, still there when the master looked, in the worker's session or below it. A sender
/// already gone cannot be placed without a cgroup, and is refused: `systemd-notify` waits until
/// the master has read its message (sd_notify_barrier), so it is still there. Only a kernel that
/// hands no pidfd at all (before Linux 6.5) leaves the socket and the uid as the last checks.
std::optional<std::string> refuse_notify(const NotifySender& sender, const NotifyWorker& worker,
                                         unsigned master_uid);

}  // namespace clusterd::core
