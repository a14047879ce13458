// spdlog set-up for the daemon: one line per lifecycle event on stderr.
#pragma once

#include <string>

namespace clusterd {

/// Installs the stderr logger at `level` ("trace", "debug", "info", "warn", "error").
/// Throws std::invalid_argument for an unknown level.
void setup_logging(const std::string& level);

}  // namespace clusterd
