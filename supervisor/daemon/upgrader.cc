#include "supervisor/daemon/upgrader.h"

#include <spdlog/spdlog.h>

#include "supervisor/daemon/upgrade_handshake.h"

namespace clusterd::daemon {

std::string Upgrader::run(const std::string& binary, const std::string& state,
                          const std::vector<int>& fds) {
  // The loop stands still from here (at most the rehearsal's 5 s, then the take-over's 5 s):
  // systemd's watchdog (WatchdogSec=10s in the shipped units) is told before each.
  systemd_.sd_notify("WATCHDOG=1");
  os::Rehearsal rehearsal;
  try {
    rehearsal = host_.rehearse(binary, argv_, state, kMaxHandshake);
  } catch (const std::exception& e) {
    return std::string("the rehearsal could not run: ") + e.what();
  }
  if (rehearsal.failed) return "the new binary did not accept the state: " + *rehearsal.failed;
  // An exit status proves nothing (/bin/true exits 0): the new binary must say it decoded this
  // very state, in the protocol this master speaks.
  UpgradeHandshake handshake;
  try {
    handshake = check_handshake(rehearsal.handshake, sha256_hex(state));
  } catch (const std::exception& e) {
    return std::string("the new binary did not prove it read the state: ") + e.what();
  }
  spdlog::info(
      "upgrade: {} (clusterd {}) decoded the state (sha256 {}...); executing it in place "
      "(pid unchanged)",
      binary, handshake.version, handshake.sha256.substr(0, 16));
  systemd_.sd_notify("WATCHDOG=1");
  spdlog::default_logger()->flush();
  // Only the file that rehearsed: refused if the path names another one by now.
  return host_.exec_upgrade(binary, rehearsal.binary, argv_, state, fds);
}

}  // namespace clusterd::daemon
