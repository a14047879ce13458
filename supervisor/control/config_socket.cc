#include "supervisor/control/config_socket.h"

#include <ostream>

#include "config/parse.h"
#include "supervisor/control/paths.h"
#include "text/printable.h"

namespace clusterd::control {

std::optional<std::string> socket_of_config(const std::string& path, std::ostream& err) {
  const config::ParseResult parsed = config::load_config(path);
  if (!parsed.config) {
    for (const config::ConfigError& error : parsed.errors) {
      err << printable(error.to_string()) << "\n";
    }
    err << "clusterctl: -c " << printable(path)
        << ": no control socket without a valid config; -s SOCKET names it directly\n";
    return std::nullopt;
  }
  const std::string& socket = parsed.config->control.socket;
  return socket.empty() ? default_socket_path() : socket;
}

}  // namespace clusterd::control
