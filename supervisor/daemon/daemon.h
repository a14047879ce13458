// The daemon: the imperative shell around the core. It turns what the host reports (signals,
// exits, notify datagrams, timers, control requests) into core events and commands, and the
// core's actions into host calls, in order. It decides nothing: every decision is the core's.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "supervisor/control/protocol.h"
#include "supervisor/core/reload_plan.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/app_clocks.h"
#include "supervisor/daemon/endpoints.h"
#include "supervisor/daemon/host_roles.h"
#include "supervisor/daemon/lane_timers.h"
#include "supervisor/daemon/lifecycle.h"
#include "supervisor/daemon/listeners.h"
#include "supervisor/daemon/memory_watch.h"
#include "supervisor/daemon/observer.h"
#include "supervisor/daemon/output.h"
#include "supervisor/daemon/reloader.h"
#include "supervisor/daemon/runtimes.h"
#include "supervisor/daemon/schedules.h"
#include "supervisor/daemon/systemd.h"
#include "supervisor/daemon/upgrader.h"
#include "supervisor/daemon/workers.h"

namespace clusterd::daemon {

struct DaemonOptions {
  config::Config config;  // parsed and checked
  /// RLIMIT_NOFILE clusterd was started with, before it raised its own soft limit: workers
  /// without limits.nofile get it back.
  std::optional<core::NofileLimit> inherited_nofile;
  /// Keep every listening socket in systemd's fd store (clusterd --fd-store).
  bool fd_store = false;
  /// The command line clusterd was started with: a live upgrade execs the new binary with it.
  std::vector<std::string> argv;
};

struct UpgradeState;

class Daemon final : public HostEvents {
 public:
  /// Binds every listener and opens the control socket. Throws std::exception on a runtime
  /// failure such as an address in use; nothing stays bound then.
  Daemon(HostRoles host, DaemonOptions options);
  /// Takes over from the previous master (a live upgrade): every worker, socket, timer and the
  /// core's state as `state` says, before the loop runs. Throws when any of it cannot be taken;
  /// the caller then hands the state back to the previous binary.
  Daemon(HostRoles host, UpgradeState state);
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Starts every app's workers.
  void start();
  /// After a take-over: re-arms what the state does not carry, says so, and records the
  /// `upgrade` event (`failed`: the reason the new binary gave back control, then no event).
  void resume(const std::string& failed);
  /// Upgrades this master to `binary` (default: its own, re-resolved): see docs/upgrade.md.
  /// Returns only when the upgrade failed; `reply` (may be null) gets the reason.
  void upgrade(const std::optional<std::string>& binary, control::ReplyPtr reply);
  unsigned upgrades() const { return upgrader_.upgrades(); }
  /// True once a graceful stop is over (the host's loop has been told to quit).
  bool finished() const { return endpoints_.finished(); }

  void on_signal(int signal) override;
  void on_exit(WorkerHandle worker, const core::ExitStatus& status) override;
  void on_notify(WorkerHandle worker, const NotifyDatagram& datagram) override;
  void on_timer(const TimerKey& key) override;
  void on_memory_high(WorkerHandle worker, std::uint64_t current_kb) override;
  void on_output(WorkerHandle worker, OutputStream stream, std::string_view bytes) override;
  void on_output_end(WorkerHandle worker, OutputStream stream) override;
  SocketAnswer on_socket_call(WorkerHandle worker, const os::SocketCall& call) override;
  void on_ready_line(WorkerHandle worker) override;
  void on_probe(WorkerHandle worker, const core::ProbeReply& reply) override;
  void on_request(const control::Request& request, const control::Peer& peer,
                  control::ReplyPtr reply);

  const core::Supervisor& supervisor() const { return supervisor_; }

 private:
  // daemon.cc: the actions
  static control::Handler control_handler(Daemon& daemon);
  static HttpHandler http_handler(Daemon& daemon);
  void execute(std::vector<core::SlotAction> actions);
  void perform(const core::SlotAction& item, std::vector<core::SlotAction>& more);
  void spawn(core::LaneId id, std::vector<core::SlotAction>& more);
  void make_app_dirs(const config::AppSpec& spec, const std::optional<os::Ids>& ids);
  void add_app_runtime(const config::AppSpec& spec, std::vector<int> cpus);
  void notify_rejected(core::LaneId id, const std::string& why, bool late);
  void retire(core::LaneId id);
  void probe(core::LaneId id);  // socket_calls.cc
  void after_actions();
  void sync_listening();
  void migrate_queues();
  void replace_for_memory(const core::MemoryVerdict& verdict, int pid);
  void stop_all(const char* why);
  void finish_if_done();

  // commands.cc: one handler per control verb (handler_for)
  void status(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  void version(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  void scale(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  void start_app(const control::Request& request, const control::Peer& peer,
                 control::ReplyPtr reply);
  void stop_app(const control::Request& request, const control::Peer& peer,
                control::ReplyPtr reply);
  void restart(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  void reload_command(const control::Request& request, const control::Peer& peer,
                      control::ReplyPtr reply);
  void logs(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  void events(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  void reopen(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  void upgrade_command(const control::Request& request, const control::Peer& peer,
                       control::ReplyPtr reply);
  void flush(const control::Request& request, const control::Peer& peer, control::ReplyPtr reply);
  // describe.cc
  void describe_app(const control::Request& request, const control::Peer& peer,
                    control::ReplyPtr reply);
  using Handler = void (Daemon::*)(const control::Request&, const control::Peer&,
                                   control::ReplyPtr);
  struct HandlerEntry {
    control::Command command;
    Handler handler;
  };
  static Handler handler_for(control::Command command);
  std::optional<std::size_t> app_of(const control::Request& request, control::ReplyPtr& reply);
  void answer(control::ReplyPtr& reply, const core::Outcome& outcome, const std::string& done);

  // reload.cc
  /// Re-reads the config and applies all of it or none of it. `only` limits it to one app (and
  /// rolls that app even when unchanged); `reply` (may be null) gets progress and the outcome.
  void reload(const std::optional<std::string>& only, bool wait, control::ReplyPtr reply);
  void finish_reload(config::Config next, const os::ResolvedNames& names,
                     const std::optional<std::string>& only, bool wait, control::ReplyPtr reply);
  void refuse_reload(const control::ReplyPtr& reply, const std::string& why);
  struct Prepared;
  Prepared prepare(const config::Config& next, const core::ReloadPlan& plan,
                   const os::ResolvedNames& names);
  std::vector<std::string> apply(config::Config next, const core::ReloadPlan& plan,
                                 Prepared prepared);

  // upgrade.cc
  UpgradeState hand_over_state(int reply_fd) const;
  void adopt_sockets(const UpgradeState& state);
  void adopt_workers(const UpgradeState& state);

  // follow.cc: scaling, by the verb and by auto_follow
  /// Binds the sockets `n` slots need, then scales; the error in words, or nullopt when done.
  std::optional<std::string> scale_to(std::size_t app, unsigned n, const std::string& reason,
                                      std::string* done);
  void follow(std::size_t app);
  /// An app's restart_schedule fired, or its watch saw changes settle (`cause` says which, for
  /// the log): its workers replaced through the rollout, as `reload APP` replaces them.
  void rolling_restart(std::size_t app, std::string_view cause);

  // observe.cc: status
  /// The status of every app (or of `app`), with the daemon's own parts: sockets' accept
  /// queues, cgroups, logs. `remember`: see StatusSampler::sample.
  control::StatusSnapshot snapshot(const std::string* app, bool remember, bool detail = true);
  /// The path of the lane's worker's own cgroup; empty without one.
  std::string cgroup_of(core::LaneId id) const;

  // Each component takes only the roles it uses; only this constructor sees them all.
  HostRoles host_;
  Reloader reloader_;  // the running configuration, and the reload in progress
  core::Supervisor supervisor_;
  Runtimes runtimes_;  // each app's generations, CPUs and spawn context
  Listeners listeners_;
  Workers workers_;
  LaneTimers timers_;  // the lanes' and rollouts' armed timers
  Observer observer_;  // status, counters, metrics pages
  LifecycleLog lifecycle_;
  WorkerOutput output_;
  SystemdBridge systemd_;
  AppClocks clocks_;  // max_memory sampling, auto_follow, restart_schedule, watch
  Upgrader upgrader_;
  Endpoints endpoints_;  // last: its handlers call into everything above
};

}  // namespace clusterd::daemon
