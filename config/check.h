// Checks of a parsed Config against the machine it will run on: does each command exist and is it
// executable, do the cwd, user and group exist. Separate from parse_config() so that parsing stays
// pure; `clusterd --check` and the daemon's start-up run both.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace clusterd::config {

/// Every problem of `config` that only the machine can tell, as ConfigErrors at the offending key:
/// commands, cwd, limits against the kernel's, and with `names` the users and groups (an NSS
/// lookup, which may be a network service: the daemon does that part outside its loop).
std::vector<ConfigError> check_environment(const Config& config, bool names = true);

/// Resolves a command name the way execvp would: a name with a '/' is taken relative to `cwd`
/// (when relative); otherwise each entry of `path_env` is tried. Returns the absolute path of the
/// first regular, executable file, or nullopt.
std::optional<std::string> find_executable(std::string_view name, std::string_view path_env,
                                           std::string_view cwd);

}  // namespace clusterd::config
