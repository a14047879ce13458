#include "worker/listen_env.h"

#include <algorithm>
#include <cctype>

namespace clusterd::worker {

namespace {

std::string_view name_of(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// Variables that describe the master's own situation and must not leak into a worker.
bool master_only(std::string_view name) {
  return name == "LISTEN_PID" || name == "LISTEN_FDS" || name == "LISTEN_FDNAMES" ||
         name == "NOTIFY_SOCKET" || name == "WATCHDOG_PID" || name == "WATCHDOG_USEC" ||
         name.substr(0, 8) == "CLUSTER_";
}

void set(std::vector<std::string>& env, std::string_view name, std::string_view value) {
  std::string entry = std::string(name) + "=" + std::string(value);
  for (std::string& existing : env) {
    if (name_of(existing) == name) {
      existing = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

}  // namespace

std::vector<std::string> inherited_env(const std::vector<std::string>& master, Inherit inherit,
                                       const std::vector<std::string>& names) {
  if (inherit == Inherit::All) return master;
  std::vector<std::string> out;
  if (inherit == Inherit::Listed) {
    for (const std::string& entry : master) {
      if (std::find(names.begin(), names.end(), name_of(entry)) != names.end()) {
        out.push_back(entry);
      }
    }
  }
  if (std::none_of(out.begin(), out.end(),
                   [](const std::string& e) { return name_of(e) == "PATH"; })) {
    out.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  return out;
}

std::string listen_env_name(std::string_view listener) {
  std::string name = "CLUSTER_LISTEN_";
  for (char c : listener) {
    name += std::isalnum(static_cast<unsigned char>(c))
                ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                : '_';
  }
  return name;
}

std::vector<std::string> build_worker_env(const std::vector<std::string>& inherited,
                                          const WorkerEnvSpec& spec) {
  std::vector<std::string> env;
  env.reserve(inherited.size() + spec.app_env.size() + 8);
  for (const std::string& entry : inherited) {
    if (!master_only(name_of(entry))) env.push_back(entry);
  }
  for (const auto& [name, value] : spec.identity) set(env, name, value);
  for (const auto& [name, value] : spec.app_env) set(env, name, value);
  for (const auto& [name, port] : spec.port_env) set(env, name, port);
  set(env, "CLUSTER_APP", spec.app);
  set(env, "CLUSTER_WORKER_ID", std::to_string(spec.worker_id));
  set(env, "CLUSTER_WORKERS", std::to_string(spec.workers));
  if (!spec.instance.empty()) set(env, "CLUSTER_INSTANCE", spec.instance);
  for (const auto& [name, address] : spec.worker_listen) set(env, listen_env_name(name), address);
  // An app's env must not fake the socket contract either.
  for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"}) {
    std::erase_if(env, [&](const std::string& e) { return name_of(e) == name; });
  }
  if (!spec.fd_names.empty()) {
    std::string names;
    for (const std::string& fd_name : spec.fd_names) {
      if (!names.empty()) names += ':';
      names += fd_name;
    }
    env.push_back("LISTEN_FDS=" + std::to_string(spec.fd_names.size()));
    env.push_back("LISTEN_FDNAMES=" + names);
    env.push_back(std::string(kListenPidPrefix) + std::string(kListenPidDigits, '0'));
  }
  if (!spec.notify_socket.empty()) env.push_back("NOTIFY_SOCKET=" + spec.notify_socket);
  return env;
}

}  // namespace clusterd::worker
