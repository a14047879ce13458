// The environment a worker sees (DESIGN.md, "Worker environment"): what it inherits of the master's
// own environment (inherited_env()) minus anything that describes the master's sockets, then the
// identity of `user:` (HOME, USER, LOGNAME, SHELL), then the app's `env`, then each listener's
// `port_env` (PORT=8001), then the contract
// variables, which always win: CLUSTER_APP, CLUSTER_WORKER_ID, CLUSTER_WORKERS, CLUSTER_INSTANCE,
// LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID, NOTIFY_SOCKET and CLUSTER_LISTEN_<NAME>. Pure.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clusterd::worker {

/// Which of the master's environment variables a worker inherits.
enum class Inherit { All, None, Listed };

/// The part of the master's environment `master` a worker inherits. Without all of it, a worker
/// still gets a PATH (PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, as a
/// systemd service does) unless the list names PATH.
std::vector<std::string> inherited_env(const std::vector<std::string>& master, Inherit inherit,
                                       const std::vector<std::string>& names);

struct WorkerEnvSpec {
  std::string app;
  unsigned worker_id = 0;
  unsigned workers = 1;
  std::string instance;               // CLUSTER_INSTANCE: which master started it; empty = not set
  std::vector<std::string> fd_names;  // names of the fds at 3, 4, ... (LISTEN_FDNAMES)
  std::vector<std::pair<std::string, std::string>> worker_listen;  // worker mode: name, address
  std::string notify_socket;                                       // empty = not set
  std::vector<std::pair<std::string, std::string>> identity;       // HOME, USER, ... of `user:`
  std::vector<std::pair<std::string, std::string>> app_env;        // the app's `env`
  std::vector<std::pair<std::string, std::string>> port_env;  // a listener's port_env, its port
};

/// The LISTEN_PID entry is written as this prefix followed by kListenPidDigits placeholder
/// characters; the child overwrites them with its own pid after fork (it is not known before).
inline constexpr std::string_view kListenPidPrefix = "LISTEN_PID=";
inline constexpr std::size_t kListenPidDigits = 20;

/// "NAME=value" entries for execve. `inherited` is the master's environ.
std::vector<std::string> build_worker_env(const std::vector<std::string>& inherited,
                                          const WorkerEnvSpec& spec);

/// "http" -> "CLUSTER_LISTEN_HTTP", "api-v2" -> "CLUSTER_LISTEN_API_V2".
std::string listen_env_name(std::string_view listener);

}  // namespace clusterd::worker
