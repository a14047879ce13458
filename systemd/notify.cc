#include "systemd/notify.h"

#include <time.h>

#include <cstdlib>
#include <string>

#include "systemd/libsystemd.h"

namespace clusterd::sd {

bool notify(std::string_view state) {
  if (!notify_enabled()) return false;
  const Libsystemd* lib = libsystemd();
  const std::string message(state);
  return lib != nullptr && lib->notify(0, message.c_str()) > 0;
}

bool notify_enabled() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && socket[0] != '\0';
}

std::string monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  return "MONOTONIC_USEC=" + std::to_string(usec);
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  // No WATCHDOG_USEC, no watchdog (what sd_watchdog_enabled() says first).
  if (std::getenv("WATCHDOG_USEC") == nullptr) return std::nullopt;
  const Libsystemd* lib = libsystemd();
  uint64_t usec = 0;
  if (lib == nullptr || lib->watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

bool store_fd(int fd, std::string_view name) {
  if (!notify_enabled()) return false;
  const Libsystemd* lib = libsystemd();
  const std::string message = "FDSTORE=1\nFDNAME=" + std::string(name);
  return lib != nullptr && lib->pid_notify_with_fds(0, 0, message.c_str(), &fd, 1) > 0;
}

bool remove_stored_fd(std::string_view name) {
  if (!notify_enabled()) return false;
  const Libsystemd* lib = libsystemd();
  const std::string message = "FDSTOREREMOVE=1\nFDNAME=" + std::string(name);
  return lib != nullptr && lib->notify(0, message.c_str()) > 0;
}

}  // namespace clusterd::sd
