// The users and groups a config names: what to look up, and what the answers mean for it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/os/facts.h"

namespace clusterd::daemon {

/// "2 errors\nFILE:LINE:COL: key: message\n...".
std::string describe(const std::vector<config::ConfigError>& errors);

/// The users and groups `config` names (apps, listeners' socket owners, control).
os::NameQueries names_of(const config::Config& config);

/// The names that were not found, as errors at their place in the file.
std::vector<config::ConfigError> name_errors(const config::Config& config,
                                             const os::ResolvedNames& names);

/// The credentials of an app's `user:`/`group:`: the user's uid, gid and groups, the group's gid
/// instead of the user's primary one; `self_uid` with only `group:`. None without either.
std::optional<os::Ids> ids_for(const config::AppSpec& spec, const os::ResolvedNames& names,
                               unsigned self_uid);

}  // namespace clusterd::daemon
