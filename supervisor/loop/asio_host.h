// The real host, every role of daemon/host.h: one asio io_context on one thread. It turns
// signals, reaped children, notify datagrams, the spawn slots' wake-ups, timers and control
// connections into calls on HostEvents, and the daemon's calls into system calls (through
// supervisor/os/). Every call into the daemon is an exception boundary: whatever escapes is logged
// as critical with its context, and the loop goes on, so no event can end the master.
#pragma once

#include <memory>

#include "supervisor/daemon/host.h"

namespace clusterd::loop {

/// Fills in the control socket's default path when the config does not name one.
void resolve_control_socket(config::Config& config);

/// What a new master takes from the previous one in a live upgrade, before any worker: where the
/// worker cgroups are (the previous master found them; the new one, already moved into its leaf,
/// could not find them again), and the mode line status shows.
struct TakenOver {
  std::string notify_dir;   // the workers' notify sockets are there
  std::string cgroup_root;  // empty: no per-worker cgroups
  std::string cgroup_mode;
  // The previous binary takes its own state back (UpgradeState::taking_back): a handed fd that
  // fails its check is logged and left out, not fatal.
  bool taking_back = false;
};

class AsioHost final : public daemon::Clock,
                       public daemon::Timers,
                       public daemon::WorkerRunner,
                       public daemon::Sockets,
                       public daemon::Occupancy,
                       public daemon::OutputSinks,
                       public daemon::Machine,
                       public daemon::ConfigSource,
                       public daemon::Sampling,
                       public daemon::SystemdLink,
                       public daemon::EndpointHost,
                       public daemon::UpgradeHost,
                       public daemon::Probes,
                       public daemon::FileWatches {
 public:
  /// `runtime_dir` holds the workers' notify sockets (a directory of their own inside it);
  /// `cgroups` is the config's setting ("auto", "off" or a path), unless `taken` says where the
  /// previous master's are. Throws std::system_error.
  AsioHost(const std::string& runtime_dir, const std::string& cgroups,
           const TakenOver* taken = nullptr);
  ~AsioHost() override;
  AsioHost(const AsioHost&) = delete;
  AsioHost& operator=(const AsioHost&) = delete;

  /// Runs the loop, delivering events to `events`, until quit(). Starts systemd's watchdog
  /// pings when WatchdogSec= is set for us.
  void run(daemon::HostEvents& events);

  core::TimePoint now() override;
  unsigned self_uid() override;
  unsigned self_gid() override;
  std::vector<std::string> environment() override;
  std::int64_t unix_ms() override;
  double random() override;
  std::int32_t utc_offset(const std::string& zone, std::int64_t utc) override;
  bool stderr_is_journal() override;
  bool journal_available() override;
  bool journal_send(const daemon::JournalEntry& entry) override;
  bool log_file_write(const daemon::LogFile& file, std::string lines) override;
  void log_files_reopen() override;
  bool log_file_truncate(const daemon::LogFile& file) override;
  std::map<std::string, std::uint64_t> log_files_lost() override;
  daemon::StartedWorker spawn(const daemon::SpawnRequest& request) override;
  void signal(daemon::WorkerHandle worker, int signal) override;
  void signal_tree(int pid, int signal) override;
  void arm(const daemon::TimerKey& key, core::TimePoint deadline) override;
  void cancel(const daemon::TimerKey& key) override;
  int bind(const config::Address& address, int backlog, bool reuseport,
           const os::SocketAccess& access) override;
  void close(int fd) override;
  void listen(int fd, int backlog) override;
  void stop_listening(int fd) override;
  void set_reuseport(int fd) override;
  std::uint16_t local_port(int fd) override;
  std::string socket_mismatch(int fd, const config::Address& address, bool stopped_ok) override;
  void remove_socket_file(const config::Address& address) override;
  int bind_adopted(const config::Address& address, int backlog, bool v6only) override;
  std::uint64_t socket_inode(int fd) override;
  unsigned unprivileged_port_start() override;
  std::vector<daemon::PassedSocket> take_passed_sockets() override;
  os::Occupants address_occupants(const config::Address& address) override;
  std::vector<int> end_processes(const std::vector<os::Occupant>& who,
                                 std::chrono::milliseconds grace) override;
  std::string instance_id() override;
  std::optional<bool> instance_running(const std::string& id) override;
  std::optional<std::string> read_instance_record(const std::string& path) override;
  void write_instance_record(const std::string& path, const std::string& id) override;
  void make_private_dir(const std::string& path, unsigned uid, unsigned gid) override;
  config::ParseResult load_config(const std::string& path) override;
  std::vector<config::ConfigError> check_environment(const config::Config& config) override;
  std::optional<std::string> find_executable(const std::string& name,
                                             const std::string& cwd) override;
  os::ResolvedNames lookup_names(const os::NameQueries& queries) override;
  void resolve_names(const os::NameQueries& queries,
                     std::function<void(os::ResolvedNames)> done) override;
  os::CpuBudget cpus() override;
  std::string cgroup_mode() override;
  unsigned long nofile_hard_limit() override;
  bool tcp_migrate_req() override;
  std::string enable_tcp_migrate_req() override;
  daemon::ProcessSample sample(const std::vector<int>& pids,
                               const std::vector<std::string>& cgroups, bool tree_rss,
                               bool detail) override;
  std::optional<os::AcceptQueue> accept_queue(int fd) override;
  bool sd_enabled() override;
  void sd_notify(const std::string& state) override;
  bool sd_store_fd(int fd, const std::string& name) override;
  void sd_remove_fd(const std::string& name) override;
  int open_control(const control::ServerOptions& options, control::Handler handler) override;
  void reconfigure_control(int id, const control::ServerOptions& options) override;
  void close_control(int id) override;
  int open_metrics(const config::Address& address, daemon::HttpHandler handler,
                   int adopt_fd) override;
  void close_metrics(int id) override;
  std::optional<std::string> upgrade_blocker() override;
  daemon::HandedWorker hand_over(daemon::WorkerHandle worker) override;
  std::string notify_dir() override;
  std::string cgroup_root() override;
  int control_fd(int id) override;
  int metrics_fd(int id) override;
  daemon::WorkerHandle adopt(const daemon::HandedWorker& worker) override;
  os::Rehearsal rehearse(const std::string& binary, const std::vector<std::string>& argv,
                         const std::string& state, std::size_t handshake_limit) override;
  std::string exec_upgrade(const std::string& binary, const os::FileIdentity& rehearsed,
                           std::vector<std::string> argv, const std::string& state,
                           const std::vector<int>& fds) override;
  std::string own_binary() override;
  void probe(daemon::WorkerHandle worker, const daemon::ProbeTry& attempt) override;
  void cancel_probe(daemon::WorkerHandle worker) override;
  void quit() override;
  unsigned watch(std::size_t app, const std::vector<std::string>& paths,
                 const std::vector<std::string>& ignore,
                 std::function<void(const std::string& change)> changed) override;
  void unwatch(std::size_t app) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clusterd::loop
