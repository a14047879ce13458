// The inside of Daemon, shared by daemon.cc (the loop, children, notify sockets, actions) and
// daemon_control.cc (control requests, scale, reload). Nothing else includes it.
#pragma once

#include <sys/types.h>

#include <asio/io_context.hpp>
#include <asio/local/datagram_protocol.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "supervisor/control/server.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon.h"
#include "supervisor/os/process.h"
#include "supervisor/os/unique_fd.h"
#include "supervisor/status.h"

namespace clusterd {

// A configured listener with the sockets the master holds for it. Generations of an app share a
// Listener while its name, address and mode stay the same.
struct Listener {
  config::ListenerSpec spec;
  std::vector<os::UniqueFd> fds;  // shared: one; reuseport: one per slot; worker: none
};

// What the workers of one generation of an app need besides its spec.
struct Generation {
  std::string executable;
  std::optional<os::Ids> ids;
  std::vector<std::shared_ptr<Listener>> listeners;
};

struct AppRuntime {
  std::map<unsigned, Generation> generations;
  std::vector<int> cpus;  // slot i is pinned to cpus[i % size] with cpu_affinity: per-worker
};

// Per lane: its timers (created on first use), its worker's pidfd and notify socket, and the
// error pipe of a worker that has not exec'd yet.
struct LaneRuntime {
  std::unique_ptr<asio::steady_timer> timers[core::kTimerKinds];
  os::UniqueFd pidfd;
  std::shared_ptr<asio::local::datagram_protocol::socket> notify;
  os::UniqueFd spawn_errors;     // the child's error pipe, in starting_; open until exec or exit
  os::ChildMemory child_memory;  // the child's stack and plan, until then too
  std::optional<os::SpawnError> spawn_error;  // what the child reported before it exited
  uid_t uid = 0;
};
struct SlotRuntime {
  LaneRuntime lanes[2];
};

using Reply = std::function<void(std::string line, bool final)>;

class Daemon::Impl {
 public:
  explicit Impl(DaemonOptions options);
  ~Impl();
  int run();

 private:
  static core::TimePoint now() { return core::Clock::now(); }
  std::string label(core::SlotId id) const;

  // daemon.cc
  void wait_signal();
  void on_signal(int signal);
  void reap();
  void finish_if_done();
  void execute(std::vector<core::SlotAction> actions);
  std::vector<core::SlotAction> perform(const core::SlotAction& item);
  std::vector<core::SlotAction> spawn(core::SlotId id);
  std::vector<core::SlotAction> spawn_failed(core::SlotId id, const std::string& what,
                                             bool transient);
  core::ExitStatus spawn_failure(core::SlotId id, const std::string& what, bool transient);
  /// Reads the error pipes of starting children that have something to say: a ChildError lands
  /// in LaneRuntime::spawn_error (and counts at reap); end of file (exec'd or exited) closes the
  /// pipe and frees the child's memory.
  void watch_starting();
  void collect_spawn_report(core::SlotId id);
  bool slot_exists(core::SlotId id) const {
    return id.app < slots_.size() && id.index < slots_[id.app].size();
  }
  void watch_notify(core::SlotId id,
                    std::shared_ptr<asio::local::datagram_protocol::socket> socket);
  bool current_notify(core::SlotId id,
                      const std::shared_ptr<asio::local::datagram_protocol::socket>& socket) const;
  void drain_notify(core::SlotId id);
  LaneRuntime& lane(core::SlotId id) { return slots_[id.app][id.index]->lanes[id.lane]; }
  /// Resolves the command and credentials and binds the listeners of a generation of `spec`,
  /// reusing `previous`'s sockets where name, address and mode are unchanged. Throws; binds
  /// nothing permanent on failure.
  Generation prepare_generation(const config::AppSpec& spec, unsigned slots,
                                const Generation* previous);
  void forget_unused_generations();
  /// max_memory: (re)arms the one sampling timer at the shortest memory_check_interval of the
  /// apps that set max_memory; with none, no timer exists and the master never wakes on its own.
  void arm_memory_check();
  void check_memory();

  // daemon_systemd.cc: what systemd hears from us and hands us
  /// Takes the sockets systemd passed (socket units, fd store) before any listener is bound.
  void adopt_passed_fds();
  /// A passed socket for slot `slot` of listener `spec` ("name/slot" from the fd store, or "name"
  /// from a .socket unit for the first one), checked against the configured address; throws on
  /// a mismatch. Empty when none was passed.
  os::UniqueFd take_passed(const config::ListenerSpec& spec, unsigned slot);
  /// Closes (and names in the log) passed sockets no listener claimed.
  void close_unclaimed_passed();
  void start_systemd_watchdog();
  /// After every batch of actions: READY=1 once all first workers are up, STATUS= when it
  /// changes, READY=1 at the end of a reload; the fd store when listeners changed.
  void tell_systemd();
  std::string status_line() const;
  void sync_fd_store();

  // daemon_control.cc
  void open_control(const config::ControlSpec& spec);
  void handle(const control::Request& request, const control::Peer& peer, const Reply& reply);
  void grow_slots(std::size_t app, unsigned n);
  void close_retiring_sockets(std::size_t app, unsigned n);
  void retire(core::SlotId id);
  /// Re-reads the config file and applies the difference. `only` limits it to one app (and rolls
  /// that app even when unchanged). `reply` (may be empty) gets progress lines and the outcome.
  void reload(const std::optional<std::string>& only, bool wait, Reply reply);
  void report_reloads();

  asio::io_context io_;
  asio::signal_set signals_;
  core::Supervisor supervisor_;
  config::Config config_;  // the running configuration
  std::vector<std::string> inherited_env_;
  std::vector<AppRuntime> apps_;
  // The error pipes of every child that has not exec'd yet, in one epoll set that the loop
  // watches as one descriptor: no asio state per spawn.
  std::optional<asio::posix::stream_descriptor> starting_;
  std::vector<std::vector<std::unique_ptr<SlotRuntime>>> slots_;
  std::vector<config::Address> bound_;  // Unix socket files we created
  StatusSampler sampler_;
  std::unique_ptr<control::ControlServer> control_;
  std::optional<std::pair<unsigned long, unsigned long>> inherited_nofile_;
  struct PendingReload {
    Reply reply;
    std::vector<std::string> apps;                // the apps it rolls
    std::string summary;                          // what it changed besides rollouts
    std::map<std::string, std::string> progress;  // last progress line sent, per app
  };
  std::vector<PendingReload> reloads_;
  std::unique_ptr<asio::steady_timer> memory_timer_;
  std::map<pid_t, unsigned> over_memory_;  // consecutive samples above max_memory, per worker
  bool finished_ = false;
  // systemd
  std::multimap<std::string, os::UniqueFd> passed_;  // by name, until claimed
  bool fd_store_ = false;
  bool announced_ready_ = false;
  bool reloading_ = false;  // RELOADING=1 sent, READY=1 owed
  std::string last_status_;
  std::unique_ptr<asio::steady_timer> sd_watchdog_;
  std::chrono::microseconds sd_watchdog_interval_{};
  std::map<std::string, int> stored_;  // fd store contents we put there: name -> fd
  bool store_dirty_ = false;
};

}  // namespace clusterd
