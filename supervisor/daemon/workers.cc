#include "supervisor/daemon/workers.h"

#include <chrono>

#include "worker/listen_env.h"

namespace clusterd::daemon {

std::vector<std::pair<std::string, std::string>> service_dirs(
    const std::vector<std::string>& inherited) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const char* name :
       {"RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CACHE_DIRECTORY", "LOGS_DIRECTORY"}) {
    const std::string prefix = std::string(name) + "=";
    for (const std::string& entry : inherited) {
      if (entry.rfind(prefix, 0) != 0 || entry.size() == prefix.size()) continue;
      const std::string value = entry.substr(prefix.size());
      out.emplace_back(name, value.substr(0, value.find(':')));  // several are ':'-separated
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> app_dirs(const config::AppSpec& spec,
                                                          const SpawnContext& context) {
  std::vector<std::pair<std::string, std::string>> out;
  if (spec.user.empty()) return out;
  for (const auto& [name, dir] : context.service_dirs)
    out.emplace_back(name, dir + "/" + spec.name);
  return out;
}

namespace {
// port_per_worker: worker N binds the port + N (the config checked the configured count).
std::string own_address(const config::ListenerSpec& listener, unsigned index) {
  const std::optional<config::Address> own = config::worker_address(listener, index);
  if (!own) {
    throw std::runtime_error("listener " + listener.name + ": port_per_worker gives slot " +
                             std::to_string(index) + " a port past 65535");
  }
  return own->text;
}
// The generation's listeners for slot `index`: a master's socket at the next fd (LISTEN_FDNAMES),
// or the address a worker binds itself (CLUSTER_LISTEN_<NAME>); and each one's port_env.
void place_listeners(const Generation& gen, unsigned index, SpawnRequest& request,
                     worker::WorkerEnvSpec& env) {
  for (const std::shared_ptr<Listener>& listener : gen.listeners) {
    if (!listener->spec.port_env.empty()) {
      const std::optional<config::Address> own = config::worker_address(listener->spec, index);
      if (own) env.port_env.emplace_back(listener->spec.port_env, std::to_string(own->port));
    }
    if (listener->spec.mode == config::ListenMode::Worker) {
      env.worker_listen.emplace_back(listener->spec.name, own_address(listener->spec, index));
      continue;
    }
    const std::size_t which = listener->spec.mode == config::ListenMode::ReusePort ? index : 0;
    if (which >= listener->fds.size() || !listener->fds[which]) {
      throw std::runtime_error("listener " + listener->spec.name + " has no socket for slot " +
                               std::to_string(index));
    }
    request.fds.push_back(listener->fds[which].get());
    env.fd_names.push_back(listener->spec.name);
  }
}
}  // namespace

SpawnRequest spawn_request(const config::AppSpec& spec, const Generation& gen, unsigned index,
                           unsigned workers, const std::vector<int>& cpus,
                           const SpawnContext& context) {
  SpawnRequest request;
  request.adopt = config::uses_adoption(spec);
  worker::WorkerEnvSpec env;
  env.app = spec.name;
  env.worker_id = index;
  env.workers = workers;
  env.instance = context.instance;
  env.app_env = spec.env;
  if (spec.watchdog) {
    env.app_env.emplace_back(
        "WATCHDOG_USEC",
        std::to_string(
            std::chrono::duration_cast<std::chrono::microseconds>(*spec.watchdog).count()));
  }
  place_listeners(gen, index, request, env);
  // With `user:`, the worker starts from a clean environment unless the config says otherwise,
  // and HOME, USER, LOGNAME and SHELL are the user's, not the master's.
  worker::Inherit inherit = worker::Inherit::All;
  switch (spec.inherit_env.mode) {
    case config::EnvInherit::Mode::Auto:
      inherit = spec.user.empty() ? worker::Inherit::All : worker::Inherit::None;
      break;
    case config::EnvInherit::Mode::All:
      break;
    case config::EnvInherit::Mode::None:
      inherit = worker::Inherit::None;
      break;
    case config::EnvInherit::Mode::Listed:
      inherit = worker::Inherit::Listed;
      break;
  }
  if (gen.ids && !gen.ids->user.empty()) {
    env.identity = {{"HOME", gen.ids->home},
                    {"USER", gen.ids->user},
                    {"LOGNAME", gen.ids->user},
                    {"SHELL", gen.ids->shell}};
  }
  // The service directories: each worker with `user:` its own (app_dirs(), made by the daemon),
  // the others the master's, whatever else of the environment they inherit.
  const auto own = app_dirs(spec, context);
  for (const auto& [name, dir] : own.empty() ? context.service_dirs : own) {
    env.identity.emplace_back(name, dir);
  }
  request.path = gen.executable;
  request.argv = spec.command;
  // Inheriting everything (the common case) reads the master's environment in place.
  request.env =
      inherit == worker::Inherit::All
          ? worker::build_worker_env(context.inherited_env, env)
          : worker::build_worker_env(
                worker::inherited_env(context.inherited_env, inherit, spec.inherit_env.names), env);
  // ready: fd: the write end of a pipe after the sockets, named in the environment.
  if (spec.ready == config::ReadyMode::Fd) {
    request.ready_pipe = true;
    request.env.push_back("CLUSTER_READY_FD=" + std::to_string(3 + request.fds.size()));
  }
  request.cwd = spec.cwd;
  request.ids = gen.ids;
  request.nofile =
      core::worker_nofile(spec.nofile, context.inherited_nofile, context.nofile_hard_now);
  request.umask = spec.umask;
  if (spec.cpu_affinity == config::CpuAffinity::PerWorker && !cpus.empty()) {
    request.cpu = cpus[index % cpus.size()];
  }
  return request;
}

void Workers::add(WorkerHandle handle, core::LaneId slot, unsigned uid,
                  std::optional<std::uint64_t> cgroup, std::string cgroup_path,
                  bool memory_events) {
  by_handle_[handle] = Entry{slot, uid, cgroup, std::move(cgroup_path), memory_events};
  by_slot_[slot] = handle;
}

std::optional<core::LaneId> Workers::remove(WorkerHandle handle) {
  const auto it = by_handle_.find(handle);
  if (it == by_handle_.end()) return std::nullopt;
  const core::LaneId slot = it->second.slot;
  by_handle_.erase(it);
  const auto s = by_slot_.find(slot);
  if (s != by_slot_.end() && s->second == handle) by_slot_.erase(s);
  return slot;
}

std::optional<core::LaneId> Workers::slot_of(WorkerHandle handle) const {
  const auto it = by_handle_.find(handle);
  if (it == by_handle_.end()) return std::nullopt;
  return it->second.slot;
}

std::optional<WorkerHandle> Workers::handle_of(core::LaneId slot) const {
  const auto it = by_slot_.find(slot);
  if (it == by_slot_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::uint64_t> Workers::cgroup_of(WorkerHandle handle) const {
  const auto it = by_handle_.find(handle);
  return it == by_handle_.end() ? std::nullopt : it->second.cgroup;
}

unsigned Workers::uid_of(WorkerHandle handle) const {
  const auto it = by_handle_.find(handle);
  return it == by_handle_.end() ? 0 : it->second.uid;
}

std::string Workers::cgroup_path_of(WorkerHandle handle) const {
  const auto it = by_handle_.find(handle);
  return it == by_handle_.end() ? std::string() : it->second.cgroup_path;
}

bool Workers::memory_events_of(WorkerHandle handle) const {
  const auto it = by_handle_.find(handle);
  return it != by_handle_.end() && it->second.memory_events;
}

std::vector<WorkerHandle> Workers::handles() const {
  std::vector<WorkerHandle> out;
  for (const auto& [handle, entry] : by_handle_) out.push_back(handle);
  return out;
}

}  // namespace clusterd::daemon
