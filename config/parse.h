// YAML text -> validated Config. Walks the whole document and reports every problem at once
// (file:line:col, dotted key, what was expected) instead of stopping at the first.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace clusterd::config {

/// A config file is at most this big (1 MiB): a real one is a few kilobytes.
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

struct ParseResult {
  std::optional<Config> config;     // set only when errors is empty
  std::vector<ConfigError> errors;  // in document order
};

/// Parses and validates `yaml`. `origin` names the source in errors and becomes Config::path.
/// `environment` (`clusterd --env NAME`) merges each app's `env_NAME:` over its `env:`; at least
/// one app must have it. Never throws for bad input; every problem becomes a ConfigError.
ParseResult parse_config(std::string_view yaml, std::string_view origin,
                         std::string_view environment = {});

/// Reads `path` and parses it. An unreadable file, one that is not a regular file (a FIFO, a
/// device) or one over kMaxConfigBytes is one ConfigError (line 0) naming the problem. This is the
/// only function of config/ that touches the file system.
ParseResult load_config(const std::string& path, std::string_view environment = {});

}  // namespace clusterd::config
