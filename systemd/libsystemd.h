// libsystemd, loaded at the first call that needs it: when NOTIFY_SOCKET, WATCHDOG_USEC or a
// LISTEN_ variable is set, i.e. under systemd (or a supervisor speaking its protocol). A process
// run otherwise never maps it: with the libgcrypt, zstd, lzma, lz4 and libcap it pulls in, that
// is ~0.9 MiB of a master's RSS. Internal to systemd/ (notify.cc, socket_activation.cc).
#pragma once

#include <systemd/sd-daemon.h>

namespace clusterd::sd {

struct Libsystemd {
  decltype(&sd_notify) notify = nullptr;
  decltype(&sd_pid_notify_with_fds) pid_notify_with_fds = nullptr;
  decltype(&sd_watchdog_enabled) watchdog_enabled = nullptr;
  decltype(&sd_listen_fds_with_names) listen_fds_with_names = nullptr;
};

/// The library's functions, loaded (once) at the first call; null when it cannot be loaded
/// (said once on stderr: systemd then waits in vain, and the reason must show in its journal).
const Libsystemd* libsystemd();

}  // namespace clusterd::sd
