// The environment a worker sees (DESIGN.md, "Worker environment"): the master's own environment
// minus anything that describes the master's sockets, then the app's `env`, then the contract
// variables, which always win: CLUSTER_APP, CLUSTER_WORKER_ID, CLUSTER_WORKERS, LISTEN_FDS,
// LISTEN_FDNAMES, LISTEN_PID, NOTIFY_SOCKET and CLUSTER_LISTEN_<NAME>. Pure.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clusterd::worker {

struct WorkerEnvSpec {
  std::string app;
  unsigned worker_id = 0;
  unsigned workers = 1;
  std::vector<std::string> fd_names;  // names of the fds at 3, 4, ... (LISTEN_FDNAMES)
  std::vector<std::pair<std::string, std::string>> worker_listen;  // worker mode: name, address
  std::string notify_socket;                                       // empty = not set
  std::vector<std::pair<std::string, std::string>> app_env;        // the app's `env`
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
