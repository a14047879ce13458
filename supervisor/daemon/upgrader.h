// The master's own history and its live upgrade (docs/upgrade.md): the command line and binary
// it was started with, when it started, how many upgrades it went through; and the last steps of
// an upgrade: the new binary rehearses reading the state, proves it did, and is executed in place.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

class Upgrader {
 public:
  /// A master started afresh (`upgrades` 0) or taken over from the previous one.
  Upgrader(UpgradeHost& host, SystemdLink& systemd, std::vector<std::string> argv,
           std::string binary, core::TimePoint started, unsigned upgrades = 0,
           std::int64_t upgraded_at_ms = 0)
      : host_(host),
        systemd_(systemd),
        argv_(std::move(argv)),
        binary_(std::move(binary)),
        started_(started),
        upgrades_(upgrades),
        upgraded_at_ms_(upgraded_at_ms) {}

  const std::vector<std::string>& argv() const { return argv_; }
  /// The clusterd binary it was started from: what `upgrade` runs by default.
  const std::string& binary() const { return binary_; }
  core::TimePoint started() const { return started_; }  // this process, not the last upgrade
  unsigned upgrades() const { return upgrades_; }
  std::int64_t upgraded_at_ms() const { return upgraded_at_ms_; }  // Unix time; 0: none
  /// This master took over: one upgrade more, at `now_ms`.
  void upgraded(std::int64_t now_ms) {
    ++upgrades_;
    upgraded_at_ms_ = now_ms;
  }

  /// Has `binary` rehearse reading `state` (its encoding), checks it answered that it decoded
  /// this very state, then executes it in place keeping `fds` open. Returns only when the
  /// upgrade failed: why.
  std::string run(const std::string& binary, const std::string& state, const std::vector<int>& fds);

 private:
  UpgradeHost& host_;
  SystemdLink& systemd_;
  std::vector<std::string> argv_;
  std::string binary_;
  core::TimePoint started_;
  unsigned upgrades_ = 0;
  std::int64_t upgraded_at_ms_ = 0;
};

}  // namespace clusterd::daemon
