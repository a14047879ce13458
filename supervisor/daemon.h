// The imperative shell of clusterd: one asio io_context on one thread. It turns signals, reaped
// children, notify datagrams and timers into core events, and the core's actions into system calls.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace clusterd {

struct DaemonOptions {
  config::Config config;
  std::vector<unsigned> instances;            // resolved count per app, in config order
  std::vector<std::string> instances_reason;  // how each was derived
  std::vector<std::vector<int>> cpus;         // per app: the CPUs slot i is pinned to (i % size)
  /// RLIMIT_NOFILE (soft, hard) clusterd was started with, before it raised its own soft limit;
  /// workers without limits.nofile get it back.
  std::optional<std::pair<unsigned long, unsigned long>> inherited_nofile;
  /// Keep every listening socket in systemd's fd store (clusterd --fd-store).
  bool fd_store = false;
};

class Daemon {
 public:
  /// Binds every listener and prepares the apps. Throws std::exception (exit 1) on a runtime
  /// failure such as an address in use; nothing is left running or bound then.
  explicit Daemon(DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Starts the workers and runs until a graceful stop has finished. Returns the exit code.
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clusterd
