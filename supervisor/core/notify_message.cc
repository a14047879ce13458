#include "supervisor/core/notify_message.h"

namespace clusterd::core {

NotifyMessage parse_notify(std::string_view datagram) {
  NotifyMessage message;
  while (!datagram.empty()) {
    const std::size_t end = datagram.find('\n');
    const std::string_view line = datagram.substr(0, end);
    if (line == "READY=1") message.ready = true;
    if (line == "STOPPING=1") message.stopping = true;
    if (line == "WATCHDOG=1") message.watchdog = true;
    if (line.substr(0, 7) == "STATUS=") message.status = std::string(line.substr(7));
    if (end == std::string_view::npos) break;
    datagram.remove_prefix(end + 1);
  }
  return message;
}

}  // namespace clusterd::core
