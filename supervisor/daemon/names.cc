#include "supervisor/daemon/names.h"

#include <algorithm>

namespace clusterd::daemon {

std::string describe(const std::vector<config::ConfigError>& errors) {
  std::string lines;
  for (const config::ConfigError& e : errors) lines += "\n" + e.to_string();
  return std::to_string(errors.size()) + (errors.size() == 1 ? " error" : " errors") + lines;
}

// The users and groups a config names.
os::NameQueries names_of(const config::Config& config) {
  os::NameQueries queries;
  auto add = [](std::vector<std::string>& list, const std::string& name) {
    if (!name.empty() && std::find(list.begin(), list.end(), name) == list.end()) {
      list.push_back(name);
    }
  };
  add(queries.groups, config.control.group);
  for (const auto* list : {&config.control.read, &config.control.admin}) {
    for (const config::Principal& p : *list) add(p.group ? queries.groups : queries.users, p.name);
  }
  for (const config::AppSpec& app : config.apps) {
    add(queries.users, app.user);
    add(queries.groups, app.group);
    for (const config::ListenerSpec& listener : app.listeners) {
      add(queries.users, listener.socket_user);
      add(queries.groups, listener.socket_group);
    }
  }
  return queries;
}

// The names that were not found, as errors at their place in the file.
std::vector<config::ConfigError> name_errors(const config::Config& config,
                                             const os::ResolvedNames& names) {
  std::vector<config::ConfigError> errors;
  auto check = [&](const char* kind, const std::string& name, config::Mark at,
                   const std::string& key) {
    if (name.empty()) return;
    const auto failed = names.failed.find(std::string(kind) + " " + name);
    if (failed != names.failed.end()) errors.push_back({config.path, at, key, failed->second});
  };
  check("group", config.control.group, config.control.group_at, "control.group");
  for (const auto& [list, key] : {std::pair{&config.control.read, "control.read"},
                                  std::pair{&config.control.admin, "control.admin"}}) {
    for (const config::Principal& p : *list) check(p.group ? "group" : "user", p.name, p.at, key);
  }
  for (const config::AppSpec& app : config.apps) {
    check("user", app.user, app.user_at, "apps." + app.name + ".user");
    check("group", app.group, app.group_at, "apps." + app.name + ".group");
    for (const config::ListenerSpec& l : app.listeners) {
      const std::string key = "apps." + app.name + ".listen." + l.name;
      check("user", l.socket_user, l.socket_owner_at, key + ".socket_user");
      check("group", l.socket_group, l.socket_owner_at, key + ".socket_group");
    }
  }
  return errors;
}

std::optional<os::Ids> ids_for(const config::AppSpec& spec, const os::ResolvedNames& names,
                               unsigned self_uid) {
  if (spec.user.empty() && spec.group.empty()) return std::nullopt;
  os::Ids ids;
  ids.uid = self_uid;
  if (!spec.user.empty()) ids = names.users.at(spec.user);
  if (!spec.group.empty()) {
    ids.gid = names.groups.at(spec.group);
    if (spec.user.empty()) ids.groups = {ids.gid};
  }
  return ids;
}

}  // namespace clusterd::daemon
