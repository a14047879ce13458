#include "supervisor/control/paths.h"

#include <unistd.h>

#include <cstdlib>

namespace clusterd::control {

std::string default_socket_path() {
  if (const char* runtime = std::getenv("RUNTIME_DIRECTORY"); runtime && *runtime) {
    std::string first(runtime);
    first = first.substr(0, first.find(':'));  // several directories are separated by ':'
    return first + "/control.sock";
  }
  if (geteuid() == 0) return "/run/clusterd/control.sock";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
    return std::string(xdg) + "/clusterd/control.sock";
  }
  return "/tmp/clusterd-" + std::to_string(geteuid()) + "/control.sock";
}

}  // namespace clusterd::control
