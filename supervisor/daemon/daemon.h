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
#include "supervisor/core/memory_policy.h"
#include "supervisor/core/reload_plan.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/events.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/listeners.h"
#include "supervisor/daemon/metrics.h"
#include "supervisor/daemon/output.h"
#include "supervisor/daemon/reload_waiters.h"
#include "supervisor/daemon/status.h"
#include "supervisor/daemon/systemd.h"
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
  unsigned upgrades() const { return upgrades_; }
  /// True once a graceful stop is over (the host's loop has been told to quit).
  bool finished() const { return finished_; }

  void on_signal(int signal) override;
  void on_exit(WorkerHandle worker, const core::ExitStatus& status) override;
  void on_notify(WorkerHandle worker, const NotifyDatagram& datagram) override;
  void on_timer(const TimerKey& key) override;
  void on_memory_high(WorkerHandle worker, std::uint64_t current_kb) override;
  void on_output(WorkerHandle worker, OutputStream stream, std::string_view bytes) override;
  void on_output_end(WorkerHandle worker, OutputStream stream) override;
  void on_request(const control::Request& request, const control::Peer& peer,
                  control::ReplyPtr reply);

  const core::Supervisor& supervisor() const { return supervisor_; }

 private:
  // What the daemon holds for each app besides the core's state.
  struct AppRuntime {
    std::map<unsigned, Generation> generations;  // the prepared runtime of each live generation
    std::vector<int> cpus;  // slot i is pinned to cpus[i % size] with cpu_affinity: per-worker
    std::optional<core::Duration> auto_follow;  // the running config's (a reload sets it)
    unsigned followed = 0;      // what auto gave when auto_follow last looked; 0: not yet
    bool follow_armed = false;  // its timer is armed
  };

  // daemon.cc: the actions
  void execute(std::vector<core::SlotAction> actions);
  void perform(const core::SlotAction& item, std::vector<core::SlotAction>& more);
  void spawn(core::SlotId id, std::vector<core::SlotAction>& more);
  void make_app_dirs(const config::AppSpec& spec, const std::optional<os::Ids>& ids);
  // lifecycle.cc: events and log lines
  control::EventRecord event_for(core::SlotId id, std::string kind, std::string reason) const;
  void on_transition(core::SlotId id, const core::Transition& t);
  void on_notice(core::SlotId id, const core::Notice& n);
  void on_spawned(core::SlotId id, int pid, int cpu);
  void on_exited(core::SlotId id, const core::ExitStatus& status);
  void log_spawn_failure(core::SlotId id, const std::string& what, core::ExitStatus::Blame blame);
  void notify_rejected(core::SlotId id, const std::string& why, bool late);
  void retire(core::SlotId id);
  void after_actions();
  void forget_unused_generations();
  void sync_listening();
  void migrate_queues();
  void arm_memory_check();
  void check_memory();
  void replace_for_memory(const core::MemoryVerdict& verdict, int pid);
  /// Whether a serving worker of an app with max_memory must be sampled (its host does not
  /// report its cgroup's memory.high).
  bool memory_sampling_needed() const;
  void stop_all(const char* why);
  void finish_if_done();
  std::string label(core::SlotId id) const;
  std::vector<const Generation*> target_generations() const;

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
  control::ServerOptions control_options(const config::ControlSpec& spec,
                                         const os::ResolvedNames& names);
  void open_control(const os::ResolvedNames& names);
  void open_control(control::ServerOptions options);

  // upgrade.cc
  UpgradeState hand_over_state(int reply_fd) const;
  void adopt_sockets(const UpgradeState& state);
  void adopt_workers(const UpgradeState& state);

  // follow.cc: scaling, by the verb and by auto_follow
  /// Binds the sockets `n` slots need, then scales; the error in words, or nullopt when done.
  std::optional<std::string> scale_to(std::size_t app, unsigned n, const std::string& reason,
                                      std::string* done);
  /// Arms (or cancels) each app's auto_follow timer as the running config says.
  void arm_auto_follow();
  void follow(std::size_t app);

  // observe.cc: status, metrics, health
  /// The status of every app (or of `app`), with the daemon's own parts: sockets' accept
  /// queues, cgroups, logs. `remember`: see StatusSampler::sample.
  control::StatusSnapshot snapshot(const std::string* app, bool remember, bool detail = true);
  HttpResponse serve_http(const HttpRequest& request);
  HttpResponse serve_metrics(const HttpRequest& request);
  /// Opens the metrics endpoint at `address`; throws std::system_error naming it.
  int open_metrics(const config::Address& address, int adopt_fd = -1);
  /// `reply`, counted by verb and result in the metrics when it finishes.
  control::ReplyPtr counted(control::Command command, control::ReplyPtr reply);
  /// The path of the lane's worker's own cgroup; empty without one.
  std::string cgroup_of(core::SlotId id) const;

  HostRoles host_;
  config::Config config_;  // the running configuration
  core::Supervisor supervisor_;
  std::vector<AppRuntime> apps_;  // parallel to supervisor_.apps()
  Listeners listeners_;
  EventLog events_;
  WorkerOutput output_;
  std::map<std::tuple<std::size_t, unsigned, unsigned>, std::string> start_reasons_;
  Workers workers_;
  SpawnContext spawn_context_;
  StatusSampler sampler_;
  core::MemoryPolicy memory_;
  SystemdBridge systemd_;
  ReloadWaiters reload_waiters_;
  std::optional<int> control_;              // the host's id of our control server
  control::ServerOptions control_options_;  // what it runs with (names resolved)
  std::optional<int> metrics_;              // the host's id of our metrics endpoint
  std::shared_ptr<MetricCounters> counters_ = std::make_shared<MetricCounters>();
  MetricsPages pages_;  // the last pages, and the scrapers' rates
  struct ArmedTimer {
    unsigned token = 0;  // the core's
    core::TimePoint deadline;
  };
  std::map<TimerKey, ArmedTimer> timers_;  // the lanes' and rollouts' armed timers
  std::uint64_t notify_rejected_total_ = 0;
  std::uint64_t notify_rejected_quiet_ = 0;  // rejected since the last line about it
  core::TimePoint notify_log_next_{};        // no line about rejections before this
  bool memory_timer_armed_ = false;
  bool reload_pending_ = false;   // a reload waits for its name lookups
  bool migrate_checked_ = false;  // migrate_queues() looked at tcp_migrate_req
  bool finished_ = false;
  std::vector<std::string> argv_;
  std::string binary_;  // the clusterd binary it was started from: what `upgrade` runs by default
  bool fd_store_ = false;
  core::TimePoint started_;          // when this process started (not the last upgrade)
  unsigned upgrades_ = 0;            // live upgrades this process went through
  std::int64_t upgraded_at_ms_ = 0;  // Unix time of the last; 0: none
};

}  // namespace clusterd::daemon
