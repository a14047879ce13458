// Where the control socket lives when the config does not say: $RUNTIME_DIRECTORY/control.sock
// (systemd's RuntimeDirectory=), else /run/clusterd/control.sock for root, else
// $XDG_RUNTIME_DIR/clusterd/control.sock. Shared by clusterd and clusterctl.
#pragma once

#include <string>

namespace clusterd::control {

std::string default_socket_path();

}  // namespace clusterd::control
