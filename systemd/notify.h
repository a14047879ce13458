// The sd_notify protocol and systemd's fd store, kept behind one small header so that libsystemd
// stays out of every other file. Every call is a no-op (returning false) when NOTIFY_SOCKET is
// unset, i.e. when not run by systemd (or by a supervisor speaking its protocol).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace clusterd::sd {

/// Sends `state` (newline-separated assignments, e.g. "READY=1\nSTATUS=serving") to the socket in
/// $NOTIFY_SOCKET. Returns true if a message was sent.
bool notify(std::string_view state);

/// True when $NOTIFY_SOCKET is set, i.e. someone listens for notifications.
bool notify_enabled();

/// "MONOTONIC_USEC=<now>", to send with RELOADING=1.
std::string monotonic_usec();

/// The interval systemd expects WATCHDOG=1 at (WatchdogSec=), when it is set for this very
/// process (WATCHDOG_PID, if set, must be our pid).
std::optional<std::chrono::microseconds> watchdog_interval();

/// Hands a duplicate of `fd` to systemd's fd store under `name` (FDSTORE=1, FDNAME=name).
bool store_fd(int fd, std::string_view name);
/// Drops every fd stored under `name` (FDSTOREREMOVE=1).
bool remove_stored_fd(std::string_view name);

}  // namespace clusterd::sd
