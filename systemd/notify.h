// The sd_notify protocol, kept behind one small header so that libsystemd stays out of every other
// file. Every call is a no-op (returning false) when NOTIFY_SOCKET is unset.
#pragma once

#include <string_view>

namespace clusterd::sd {

/// Sends `state` (newline-separated assignments, e.g. "READY=1\nSTATUS=serving") to the socket in
/// $NOTIFY_SOCKET. Returns true if a message was sent.
bool notify(std::string_view state);

/// True when $NOTIFY_SOCKET is set, i.e. someone listens for notifications.
bool notify_enabled();

}  // namespace clusterd::sd
