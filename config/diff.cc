#include "config/diff.h"

#include <algorithm>

namespace clusterd::config {
namespace {

// The structured bindings below name every member of their struct, so adding a field to one of
// these structs in config.h breaks this file's build until the field is compared here (or, for
// a Mark, deliberately left out).

bool same_address(const Address& a, const Address& b) {
  const auto& [family, host, port, path, text] = a;
  return family == b.family && host == b.host && port == b.port && path == b.path && text == b.text;
}

bool same_listener(const ListenerSpec& a, const ListenerSpec& b) {
  [[maybe_unused]] const auto& [name, address, mode, adopt, port_per_worker, port_env, backlog,
                                socket_mode, socket_user, socket_group, at, socket_owner_at,
                                adopt_at, port_per_worker_at, port_env_at] = a;
  return name == b.name && same_address(address, b.address) && mode == b.mode &&
         port_per_worker == b.port_per_worker && port_env == b.port_env && backlog == b.backlog &&
         socket_mode == b.socket_mode && socket_user == b.socket_user &&
         socket_group == b.socket_group && adopt == b.adopt;
}

bool same_rollout(const RolloutSpec& a, const RolloutSpec& b) {
  const auto& [batch, canary_time] = a;
  return batch == b.batch && canary_time == b.canary_time;
}

const AppSpec* find_app(const Config& config, const std::string& name) {
  auto it = std::find_if(config.apps.begin(), config.apps.end(),
                         [&](const AppSpec& app) { return app.name == name; });
  return it == config.apps.end() ? nullptr : &*it;
}

}  // namespace

bool same_socket(const ListenerSpec& a, const ListenerSpec& b) {
  return a.name == b.name && a.address.text == b.address.text && a.mode == b.mode;
}

bool same_app(const AppSpec& a, const AppSpec& b) {
  [[maybe_unused]] const auto& [name, source, command, instances, cpu_affinity, listeners, ready,
                                probe, ready_timeout, min_ready, stop_signal, stop_timeout, restart,
                                min_uptime, max_restarts, restart_window, backoff_initial,
                                backoff_max, backoff_jitter, env, environments, inherit_env, cwd,
                                user, group, nofile, umask, rollout, watchdog, max_memory,
                                memory_check_interval, logs, auto_follow, cgroup_limits,
                                restart_schedule, watch, adopt_all, at, command_at, cwd_at, user_at,
                                group_at, nofile_at, auto_follow_at, restart_schedule_at, watch_at,
                                env_at, adopt_at] = a;
  // auto_follow, restart_schedule and watch are not the workers' business: a reload changes them
  // without replacing them. environments only names the env_NAME sections: the one in force is
  // merged into env. source is the whole file's text: another app's change is not this one's.
  return name == b.name && command == b.command && instances == b.instances &&
         cpu_affinity == b.cpu_affinity &&
         std::equal(listeners.begin(), listeners.end(), b.listeners.begin(), b.listeners.end(),
                    same_listener) &&
         ready == b.ready && probe == b.probe && ready_timeout == b.ready_timeout &&
         min_ready == b.min_ready && stop_signal == b.stop_signal &&
         stop_timeout == b.stop_timeout && restart == b.restart && min_uptime == b.min_uptime &&
         max_restarts == b.max_restarts && restart_window == b.restart_window &&
         backoff_initial == b.backoff_initial && backoff_max == b.backoff_max &&
         backoff_jitter == b.backoff_jitter && env == b.env && inherit_env == b.inherit_env &&
         cwd == b.cwd && user == b.user && group == b.group && nofile == b.nofile &&
         umask == b.umask && same_rollout(rollout, b.rollout) && watchdog == b.watchdog &&
         max_memory == b.max_memory && memory_check_interval == b.memory_check_interval &&
         logs == b.logs && cgroup_limits == b.cgroup_limits && adopt_all == b.adopt_all;
}

bool same_control(const ControlSpec& a, const ControlSpec& b) {
  [[maybe_unused]] const auto& [socket, group, read, admin, max_clients, idle_timeout, socket_at,
                                group_at] = a;
  return socket == b.socket && group == b.group && read == b.read && admin == b.admin &&
         max_clients == b.max_clients && idle_timeout == b.idle_timeout;
}

ConfigDiff diff_configs(const Config& running, const Config& next) {
  // Config has path, text, control, metrics, cgroups, apps and environment; path and text are
  // where it was read from, not what it means; the environment is in each app's env.
  [[maybe_unused]] const auto& [path, text, control, metrics, cgroups, apps, environment] = running;
  ConfigDiff diff;
  diff.control_changed = !same_control(control, next.control);
  diff.metrics_changed = !(metrics == next.metrics);
  diff.cgroups_changed = cgroups != next.cgroups;
  for (const AppSpec& app : next.apps) {
    const AppSpec* old = find_app(running, app.name);
    if (old == nullptr) {
      diff.added.push_back(app.name);
    } else if (same_app(*old, app)) {
      diff.unchanged.push_back(app.name);
    } else {
      diff.changed.push_back(app.name);
    }
  }
  for (const AppSpec& app : apps) {
    if (find_app(next, app.name) == nullptr) diff.removed.push_back(app.name);
  }
  return diff;
}

}  // namespace clusterd::config
