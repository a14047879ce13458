// The status of the whole tree at one moment, as plain values: built by the daemon from the core's
// slots and fresh /proc readings, encoded by protocol.cc, printed by clusterctl.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace clusterd::control {

/// A listening TCP socket's accept queue at the moment of the status.
struct QueueStatus {
  std::string listener;  // its name under `listen:`
  unsigned queued = 0;   // connections waiting to be accepted
  unsigned limit = 0;    // the backlog
};

struct WorkerStatus {
  unsigned id = 0;
  int pid = 0;  // 0 when the slot has no process
  std::string state;
  unsigned generation = 0;
  double uptime_s = 0;
  unsigned restarts = 0;
  unsigned threads = 0;       // the worker process's own threads (/proc/PID/status)
  std::uint64_t rss_kb = 0;   // the worker process's own VmRSS
  double cpu_percent = 0;     // the worker process, since the previous status request or its start
  std::string cpus;           // Cpus_allowed_list of the worker
  unsigned processes = 0;     // the worker plus all its descendants
  unsigned tree_threads = 0;  // threads of the worker and all its descendants
  std::string last_exit;      // "exit 1", "signal SIGKILL", ... ; empty if none yet
  std::string last_words;     // the line of its output that said why (core/last_words.h)
  std::string status_text;    // the worker's last sd_notify STATUS=
  std::int64_t pss_kb = -1;   // smaps_rollup Pss: its share after copy-on-write; -1 unknown
  std::int64_t uss_kb = -1;   // Private_Clean + Private_Dirty: what only it holds; -1 unknown
  int fds = -1;               // open file descriptors; -1 unknown
  double cpu_user_s = 0;      // CPU time since it started
  double cpu_system_s = 0;
  // The CPU time of the worker's whole cgroup, every process that ever ran in it (cpu.stat);
  // -1 unknown (no cgroup per worker, or a plain status: detail only).
  double tree_cpu_user_s = -1;
  double tree_cpu_system_s = -1;
  std::vector<QueueStatus> queues;  // its own reuseport sockets
  std::string cgroup;               // its cgroup's path, empty without one
};

struct AppStatus {
  std::string name;
  unsigned instances = 0;
  std::string instances_reason;
  unsigned ready = 0;
  unsigned generation = 0;
  bool stopped = false;  // stopped on purpose (`stop`) until `start`
  std::vector<WorkerStatus> workers;
  std::string logs;                     // where its output goes: journal, capture or inherit
  std::uint64_t log_dropped_bytes = 0;  // output dropped because a sink was behind
  std::vector<QueueStatus> queues;      // its shared sockets (one queue for every worker)
  std::string rollout;                  // the phase of its rollout in progress; empty if none
  std::string next_restart;             // when its restart_schedule fires next; empty without one
  unsigned watching = 0;                // inotify watches its `watch:` holds; 0 without one
  bool watch_pending = false;           // changes seen, the restart they make not begun yet
  std::vector<std::string> adopted;     // the addresses `adopt: all` made sockets for, in order
};

struct MasterStatus {
  int pid = 0;
  unsigned threads = 0;
  std::uint64_t rss_kb = 0;
  double uptime_s = 0;
  std::string config;
  std::string version;
  int fds = -1;
  double cpu_user_s = 0;
  double cpu_system_s = 0;
  double start_time_s = 0;              // Unix time it started
  unsigned upgrades = 0;                // live upgrades it went through (clusterctl upgrade)
  std::optional<double> upgraded_at_s;  // Unix time of the last
  std::string cgroups;  // "per-worker cgroups under ROOT/workers (why)" or why there are none
};

struct Totals {
  unsigned processes = 0;  // master + workers + their descendants
  unsigned threads = 0;
};

struct StatusSnapshot {
  // The costly numbers were read (`status --detail`, top, a scrape): the JSON of each worker
  // carries every field. Without it, the fields a plain status does not show are left out of the
  // JSON (they decode to their defaults), which keeps a plain reply under 250 bytes a worker.
  bool detail = false;
  MasterStatus master;
  std::vector<AppStatus> apps;
  Totals totals;
};

}  // namespace clusterd::control
