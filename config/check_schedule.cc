// The machine's side of restart_schedule and watch: the time zone exists, the paths do.
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/check_parts.h"
#include "config/values.h"

namespace clusterd::config {

void check_schedule_zone(const AppSpec& app, const std::string& file, const std::string& prefix,
                         std::vector<ConfigError>& errors) {
  if (!app.restart_schedule) return;
  const std::string& zone = app.restart_schedule->zone;
  if (zone == "UTC" || zone == "local") return;
  const char* tzdir = std::getenv("TZDIR");
  const std::string dir = tzdir != nullptr && *tzdir == '/' ? tzdir : "/usr/share/zoneinfo";
  struct stat st {};
  if (::stat((dir + "/" + zone).c_str(), &st) == 0 && S_ISREG(st.st_mode)) return;
  errors.push_back(
      {file, app.restart_schedule_at, prefix + "restart_schedule",
       "time zone " + quoted(zone) + " is not in the time zone database (" + dir + ")"});
}

void check_watch_paths(const AppSpec& app, const std::string& file, const std::string& prefix,
                       std::vector<ConfigError>& errors) {
  if (!app.watch) return;
  for (const std::string& path : app.watch->paths) {
    const std::string full = path.front() == '/' || app.cwd.empty() ? path : app.cwd + "/" + path;
    struct stat st {};
    if (::stat(full.c_str(), &st) == 0) continue;
    const int err = errno;
    errors.push_back({file, app.watch_at, prefix + "watch",
                      err == ENOENT ? quoted(full) + " does not exist"
                                    : "cannot watch " + quoted(full) + ": " + std::strerror(err)});
  }
}

}  // namespace clusterd::config
