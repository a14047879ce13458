// One sd_notify datagram ("READY=1\nSTATUS=serving\n"), decoded. Pure.
#pragma once

#include <chrono>
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
};

/// Whether a datagram from `sender` may speak for a worker running as `worker_uid` under a
/// master running as `master_uid`: the worker's own uid, root, or the master's uid. The reason
/// says why not.
std::optional<std::string> refuse_notify(const NotifySender& sender, unsigned worker_uid,
                                         unsigned master_uid);

}  // namespace clusterd::core
