#include "systemd/socket_activation.h"

#include <fcntl.h>

#include <cstdlib>

#include "systemd/libsystemd.h"

namespace clusterd::sd {

std::vector<PassedFd> take_passed_fds() {
  std::vector<PassedFd> out;
  // Nothing passed, nothing to unset: no need of the library.
  if (std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
      std::getenv("LISTEN_FDNAMES") == nullptr) {
    return out;
  }
  const Libsystemd* lib = libsystemd();
  if (lib == nullptr) return out;
  char** names = nullptr;
  const int count = lib->listen_fds_with_names(1, &names);
  for (int i = 0; i < count; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    out.push_back(PassedFd{fd, names && names[i] ? names[i] : "unknown"});
  }
  if (names != nullptr) {
    for (int i = 0; i < count; ++i) std::free(names[i]);
    std::free(names);
  }
  return out;
}

}  // namespace clusterd::sd
