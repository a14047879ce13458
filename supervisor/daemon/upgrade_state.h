// What one master hands the next in a live upgrade (docs/upgrade.md): the core's whole state, the
// daemon's runtime around it and the fds the host holds, as a versioned JSON document. The old
// master writes it into a sealed memfd; the new binary reads it twice: once in a rehearsal
// (`clusterd --upgrade-check`), which must accept it before the old master execs, and once for
// real. Fd numbers are the old master's: exec keeps them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "supervisor/core/limits.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

/// The format's name and the only version this clusterd writes and reads.
inline constexpr std::string_view kUpgradeFormat = "clusterd-upgrade-state";
inline constexpr int kUpgradeVersion = 2;  // 2: restarts per slot (core::AppState)

/// A listening socket of an app: the spec is listeners[index] of the spec of `generation`.
struct HandedListener {
  std::size_t app = 0;
  unsigned generation = 0;
  std::size_t index = 0;
  std::vector<int> fds;
  bool socket_file = false;  // a unix socket file the master created (removed at its exit)
};

/// A prepared generation of an app; its listeners are indices into UpgradeState::listeners (two
/// generations that share a socket name the same entry).
struct HandedGeneration {
  std::size_t app = 0;
  unsigned generation = 0;
  std::string executable;
  std::optional<os::Ids> ids;
  std::vector<std::size_t> listeners;
};

/// A worker process: the lane it runs in and what the host holds for it.
struct HandedLaneWorker {
  core::LaneId slot;
  unsigned uid = 0;
  std::optional<std::uint64_t> cgroup_id;
  HandedWorker host;
};

struct HandedTimer {
  TimerKey key;
  unsigned token = 0;
  core::TimePoint deadline;  // CLOCK_MONOTONIC: the same clock after exec
};

struct UpgradeState {
  std::string version;            // the clusterd that wrote it
  std::vector<std::string> argv;  // the master's command line, without upgrade options
  std::string binary;             // the clusterd binary it was first started from
  std::string config_path;
  std::string config_text;          // the running config, parsed again by the new master
  std::string control_socket;       // its control socket's path, resolved
  core::TimePoint started;          // when the process started (CLOCK_MONOTONIC), for uptime
  unsigned upgrades = 0;            // before this one
  std::int64_t upgraded_at_ms = 0;  // Unix time of the last; 0: none
  bool fd_store = false;
  std::optional<core::NofileLimit> inherited_nofile;
  int reply_fd = -1;  // the control connection waiting for the outcome; -1: none (SIGUSR2)
  int control_fd = -1;
  control::ServerOptions control_options;  // names resolved: the new master looks none up
  int metrics_fd = -1;
  std::string notify_dir;
  std::string cgroup_root;  // the workers' cgroups are under ROOT/workers; empty: none
  std::string cgroup_mode;  // as status shows it
  // Not in the document: the previous binary takes its own state back after a failed take-over.
  // A check of a handed fd that fails is then logged and the fd kept: exiting would leave every
  // worker unsupervised, for a check the new binary already failed the same way.
  bool taking_back = false;

  // The core. Each spec is named by its app and the text it was parsed from (texts[i]).
  bool stopping = false;
  unsigned next_token = 1;
  std::vector<core::AppState> apps;
  std::vector<std::string> texts;

  // The daemon around it.
  std::vector<HandedListener> listeners;
  std::vector<HandedGeneration> generations;
  std::vector<HandedLaneWorker> workers;
  std::vector<HandedMadeSocket> made_sockets;  // what `adopt: all` made, app by app
  std::vector<HandedTimer> timers;
  std::vector<unsigned> followed;  // per app: what auto gave when auto_follow last looked
  std::vector<std::optional<core::Duration>> auto_follow;  // per app, as the last reload set it
  std::vector<std::pair<std::tuple<std::size_t, unsigned, unsigned>, std::string>> start_reasons;

  /// Every fd the new master takes over (they must stay open across exec).
  std::vector<int> fds() const;
};

/// The state as its JSON document.
std::string encode_upgrade_state(const UpgradeState& state);
/// Reads a document, parsing every config text again (the specs come back from them). Throws
/// std::runtime_error naming what it refuses: another format or version, a missing or mistyped
/// field, a config text that does not parse, an index out of range.
UpgradeState decode_upgrade_state(std::string_view text);

}  // namespace clusterd::daemon
