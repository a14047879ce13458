// The workers as the kernel sees them: starting one (its notify socket, its cgroup, the memory
// it starts in), signalling it or its whole tree, reaping it, reading what it sends on
// its notify socket, and, at a clean stop, making sure nothing it started is left. Part of the
// real host (asio_host.h); it reports to the daemon's HostEvents.
#pragma once

#include <sys/types.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "supervisor/daemon/host.h"
#include "supervisor/loop/adoption_calls.h"
#include "supervisor/loop/epoll_set.h"
#include "supervisor/loop/output_pipes.h"
#include "supervisor/loop/ready_pipes.h"
#include "supervisor/loop/spawn_spare.h"
#include "supervisor/os/cgroup.h"
#include "supervisor/os/notify_socket.h"
#include "supervisor/os/process.h"

namespace clusterd::loop {

struct TakenOver;

/// Who is to blame for a spawn that failed with `error` (an errno value): the machine's
/// resources when it may pass, else the master.
core::ExitStatus::Blame blame_of(int error);

class Processes {
 public:
  /// `runtime_dir` holds the notify sockets' directory; `cgroups` is the config's setting, unless
  /// `taken` names the previous master's worker cgroups (a live upgrade). Throws
  /// std::system_error.
  Processes(asio::io_context& io, const std::string& runtime_dir, const std::string& cgroups,
            const TakenOver* taken = nullptr);
  /// From now on, exits and notify datagrams go to `events`.
  void start(daemon::HostEvents& events);

  daemon::StartedWorker spawn(const daemon::SpawnRequest& request);
  void signal(daemon::WorkerHandle worker, int signal);
  void signal_tree(int pid, int signal);
  /// SIGCHLD: reaps every exited child, workers and adopted orphans.
  void reap();
  const std::string& cgroup_mode() const { return cgroup_mode_; }
  /// The directory fd of the cgroup of the worker `pid`; -1 without one.
  int cgroup_dir(pid_t pid) const;
  /// A clean stop: kills and waits for (bounded) every worker cgroup, then the adopted orphans.
  void end_leftovers();

  // A live upgrade (upgrade.cc).
  std::optional<std::string> upgrade_blocker() const;
  daemon::HandedWorker hand_over(daemon::WorkerHandle worker) const;
  std::string notify_dir() const { return notify_dir_.path(); }
  std::string cgroup_root() const { return cgroup_tree_ ? cgroup_tree_->root : std::string(); }
  daemon::WorkerHandle adopt(const daemon::HandedWorker& worker);
  /// Before the exec of a live upgrade: nothing made ahead is left in the notify directory.
  void drop_spare() { spare_.drop(); }

 private:
  struct Worker {
    pid_t pid = 0;
    os::UniqueFd pidfd;
    os::UniqueFd notify;  // in notify_set_
    std::string notify_path;
    os::ChildMemory memory;               // the child's stack and plan, until it exec'd or exited
    std::optional<os::SpawnError> error;  // what the child reported before it exited
    std::shared_ptr<asio::posix::stream_descriptor> memory_events;  // with memory.high set
    std::uint64_t high_seen = 0;  // memory.events `high` when last looked
    bool adopt_pending = false;   // its filter's listener is still to come (Child::adopt_pending)
  };

  void choose_cgroups(const std::string& setting);
  void log_notify_checks() const;
  std::shared_ptr<os::Cgroup> make_cgroup(const std::string& name);
  /// True when memory.high was set (max_memory) and can be watched.
  bool apply_limits(const daemon::SpawnRequest& request, const os::Cgroup* cgroup);
  void watch_tree(pid_t pid, const std::shared_ptr<os::Cgroup>& tree);
  /// Reports the worker's cgroup going over memory.high (its memory.events), until it exits.
  void watch_memory(daemon::WorkerHandle handle);
  void start_memory_watch(daemon::WorkerHandle handle, const std::string& cgroup);
  void watch_notify(daemon::WorkerHandle handle);
  void drain_notify(daemon::WorkerHandle handle, bool reaped);
  void watch_slots();
  OutputPipes output_;
  AdoptionCalls adoption_;  // the filters of workers started with `adopt`
  ReadyPipes ready_;        // the ready pipes of workers started with `ready_pipe`
  EpollSet notify_set_;     // every worker's notify socket, by its handle
  /// Once the worker's child has exec'd or exited: what it reported, and its memory goes back.
  void collect_report(daemon::WorkerHandle handle, Worker& worker);
  /// A child spawned with adopt_pending: its filter's listener watched once it is there.
  void take_listener(daemon::WorkerHandle handle, Worker& worker);
  /// collect_report() for every worker still starting, at each spawn and when a child wakes the
  /// spawn slots (a reaped worker's own is collected at its reap): in a burst, a child's memory
  /// serves another a few spawns later.
  void sweep_started();
  /// sweep_started() in a moment, again until no child is starting (processes_starting.cc).
  void sweep_later();

  asio::io_context& io_;
  daemon::HostEvents* events_ = nullptr;
  std::map<daemon::WorkerHandle, Worker> workers_;
  std::unordered_map<pid_t, daemon::WorkerHandle> by_pid_;
  daemon::WorkerHandle next_handle_ = 1;
  std::vector<daemon::WorkerHandle> starting_;  // workers whose child may run in its memory
  asio::steady_timer sweep_;                    // armed while starting_ has any (sweep_later)
  bool sweep_armed_ = false;
  bool taking_back_ = false;                 // TakenOver::taking_back
  asio::posix::stream_descriptor slots_io_;  // the spawn slots' eventfd
  os::UniqueFd devnull_;                     // every worker's stdin
  os::NotifyDir notify_dir_;                 // the previous master's after a live upgrade
  SpawnSpare spare_;                         // the next spawn's socket and pipes, made ahead
  unsigned self_uid_;
  std::optional<os::CgroupTree> cgroup_tree_;
  std::string cgroup_mode_;
  std::uint64_t next_cgroup_ = 1;
  std::set<std::string> warned_limits_;  // limits said once not to apply, by key and why
  // Each worker's cgroup by the worker's pid, from its spawn until it is empty and removed (which
  // may be after the worker itself was reaped: what it left behind is killed first).
  std::map<pid_t, std::shared_ptr<os::Cgroup>> trees_;
};

}  // namespace clusterd::loop
