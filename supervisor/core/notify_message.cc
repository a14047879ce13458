#include "supervisor/core/notify_message.h"

#include <charconv>
#include <cstdint>

namespace clusterd::core {

namespace {

// "1500000" -> 1500 ms; anything that is not a plain number -> nullopt.
std::optional<std::chrono::milliseconds> microseconds(std::string_view text) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return std::chrono::milliseconds(value / 1000);
}

}  // namespace

NotifyMessage parse_notify(std::string_view datagram) {
  NotifyMessage message;
  while (!datagram.empty()) {
    const std::size_t end = datagram.find('\n');
    const std::string_view line = datagram.substr(0, end);
    if (line == "READY=1") message.ready = true;
    if (line == "STOPPING=1") message.stopping = true;
    if (line == "WATCHDOG=1") message.watchdog = true;
    if (line.substr(0, 7) == "STATUS=") message.status = std::string(line.substr(7));
    if (line.substr(0, 14) == "WATCHDOG_USEC=")
      message.watchdog_usec = microseconds(line.substr(14));
    if (line.substr(0, 20) == "EXTEND_TIMEOUT_USEC=") {
      message.extend_timeout = microseconds(line.substr(20));
    }
    if (end == std::string_view::npos) break;
    datagram.remove_prefix(end + 1);
  }
  return message;
}

std::optional<std::string> refuse_notify(const NotifySender& sender, const NotifyWorker& worker,
                                         unsigned master_uid) {
  const std::string who =
      "from uid " + std::to_string(sender.uid) + " pid " + std::to_string(sender.pid);
  if (sender.uid != 0 && sender.uid != worker.uid && sender.uid != master_uid) {
    return who + ", not the worker's uid " + std::to_string(worker.uid);
  }
  if (!sender.pidfds) return std::nullopt;  // a kernel that cannot tell us more (logged at start)
  if (!sender.pidfd) {
    // Kernels before 6.16 hand no pidfd of a sender reaped before the datagram is read.
    return who + ", gone before the master could tell which process it was (no pidfd came)";
  }
  if (sender.worker) return std::nullopt;
  if (worker.cgroup && sender.cgroup) {
    if (*sender.cgroup == *worker.cgroup) return std::nullopt;
    return who + ", a process outside the worker's cgroup";
  }
  if (!sender.alive) {
    return who +
           ", gone before the master read it: without a cgroup of the worker's own, only a "
           "process still there can be shown to be the worker's (wait for the master: "
           "sd_notify_barrier(), as systemd-notify does)";
  }
  if (sender.in_session || sender.below) return std::nullopt;
  return who + ", not one of the worker's processes (session " + std::to_string(sender.session) +
         ")";
}

}  // namespace clusterd::core
