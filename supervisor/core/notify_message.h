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

}  // namespace clusterd::core
