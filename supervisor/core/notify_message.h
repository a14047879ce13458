// One sd_notify datagram ("READY=1\nSTATUS=serving\n"), decoded. Pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  bool pidfd = false;  // the kernel handed its pidfd (Linux 6.5+): the facts below are known
  bool alive = false;  // not reaped yet when the master looked
  std::optional<std::uint64_t> cgroup;  // its cgroup v2 id, known even after its exit
  int session = 0;                      // alive only
  std::vector<int> ancestors;           // alive only: parent first
};

/// The worker whose notify socket it was.
struct NotifyWorker {
  int pid = 0;
  unsigned uid = 0;
  std::optional<std::uint64_t> cgroup;  // its own cgroup, when clusterd made one
};

/// Whether a datagram may speak for `worker`; the reason when it may not. Each check stops a
/// different attacker (docs/reliability.md): the socket itself, mode 0600 in a directory only the
/// master writes, keeps other uids out; the uid must be the worker's (or root's, or the
/// master's); and the sender must be one of the worker's own processes: in its cgroup when it
/// has one (which the kernel remembers after the sender exits), else, while alive, the worker,
/// in its session, or below it. A sender already gone, without a cgroup to ask, is taken on the
/// first two checks alone (a short-lived `systemd-notify --ready` of a shell worker is one).
std::optional<std::string> refuse_notify(const NotifySender& sender, const NotifyWorker& worker,
                                         unsigned master_uid);

}  // namespace clusterd::core
