// `clusterctl -c FILE`: the control socket of the daemon that runs FILE, as the daemon finds it.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

namespace clusterd::control {

/// FILE's `control.socket`, else the default socket path (paths.h), as the daemon resolves it for
/// the same user and environment. nullopt when FILE is not a valid config: its errors go to `err`.
std::optional<std::string> socket_of_config(const std::string& path, std::ostream& err);

}  // namespace clusterd::control
