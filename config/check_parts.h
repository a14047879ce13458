// Parts of check_environment() kept in files of their own (not a public header).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace clusterd::config {

/// restart_schedule's time zone is in the tz database ($TZDIR, else /usr/share/zoneinfo).
void check_schedule_zone(const AppSpec& app, const std::string& file, const std::string& prefix,
                         std::vector<ConfigError>& errors);

/// Each of watch's paths exists (relative ones from the app's cwd).
void check_watch_paths(const AppSpec& app, const std::string& file, const std::string& prefix,
                       std::vector<ConfigError>& errors);

}  // namespace clusterd::config
