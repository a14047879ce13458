#include "systemd/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <string>

namespace clusterd::sd {

bool notify(std::string_view state) {
  if (!notify_enabled()) return false;
  const std::string message(state);
  return sd_notify(0, message.c_str()) > 0;
}

bool notify_enabled() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && socket[0] != '\0';
}

}  // namespace clusterd::sd
