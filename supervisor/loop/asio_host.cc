#include "supervisor/loop/asio_host.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <random>

#include "config/check.h"
#include "supervisor/control/paths.h"
#include "supervisor/control/protocol.h"
#include "supervisor/loop/file_watchers.h"
#include "supervisor/loop/guard.h"
#include "supervisor/loop/metrics_server.h"
#include "supervisor/loop/name_lookup.h"
#include "supervisor/loop/probes.h"
#include "supervisor/loop/processes.h"
#include "supervisor/os/adopt.h"
#include "supervisor/os/cpus.h"
#include "supervisor/os/holders.h"
#include "supervisor/os/journal.h"
#include "supervisor/os/listen_socket.h"
#include "supervisor/os/log_files.h"
#include "supervisor/os/process.h"
#include "supervisor/os/procfs.h"
#include "supervisor/os/system.h"
#include "supervisor/os/timezone.h"
#include "supervisor/os/upgrade.h"
#include "systemd/notify.h"
#include "systemd/socket_activation.h"

namespace clusterd::loop {

void resolve_control_socket(config::Config& config) {
  if (config.control.socket.empty()) config.control.socket = control::default_socket_path();
}

class AsioHost::Impl {
 public:
  struct Timer {
    std::unique_ptr<asio::steady_timer> timer;
    std::uint64_t serial = 0;  // the arm() this timer's wait belongs to
  };

  Impl(const std::string& runtime_dir, const std::string& cgroups, const TakenOver* taken)
      : processes(io, runtime_dir, cgroups, taken) {
    signals.add(SIGCHLD);
    signals.add(SIGUSR1);
    signals.add(SIGUSR2);
  }

  void wait_signal();
  void start_sd_watchdog();
  void log_file_errors();

  asio::io_context io;
  asio::signal_set signals{io, SIGTERM, SIGINT, SIGHUP};
  os::JournalSocket journal;
  bool journal_credit_logged = false;
  os::LogFiles log_files;
  std::mt19937_64 random{std::random_device{}()};
  bool stderr_journal = os::stderr_is_journal();
  daemon::HostEvents* events = nullptr;
  Processes processes;
  ProbeRunner probes{io};
  std::map<daemon::TimerKey, Timer> timers;
  std::uint64_t next_serial = 1;
  std::map<int, std::unique_ptr<control::ControlServer>> controls;
  std::map<int, std::unique_ptr<MetricsServer>> metrics;
  int next_control = 1;
  std::unique_ptr<asio::steady_timer> sd_watchdog;
  std::chrono::microseconds sd_interval{};
  FileWatchers file_watchers{io};
};

void AsioHost::Impl::wait_signal() {
  signals.async_wait([this](const std::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGCHLD) {
      processes.reap();
    } else {
      guard(core::signal_name(signal).c_str(), [&] { events->on_signal(signal); });
    }
    wait_signal();
  });
}

// What the log files' threads met: said as soon as they meet it (they post here), not only
// when the next line comes.
void AsioHost::Impl::log_file_errors() {
  for (const std::string& error : log_files.take_errors()) spdlog::error("logs: {}", error);
}

void AsioHost::Impl::start_sd_watchdog() {
  const std::optional<std::chrono::microseconds> interval = sd::watchdog_interval();
  if (!interval) return;
  sd_interval = *interval / 2;
  spdlog::info("systemd watchdog: pinging every {} ms", sd_interval.count() / 1000);
  sd_watchdog = std::make_unique<asio::steady_timer>(io);
  struct Pinger {
    Impl* self;
    void operator()(const std::error_code& ec) const {
      if (ec || !self->sd_watchdog) return;
      sd::notify("WATCHDOG=1");
      self->sd_watchdog->expires_after(self->sd_interval);
      self->sd_watchdog->async_wait(*this);
    }
  };
  sd::notify("WATCHDOG=1");
  sd_watchdog->expires_after(sd_interval);
  sd_watchdog->async_wait(Pinger{this});
}

AsioHost::AsioHost(const std::string& runtime_dir, const std::string& cgroups,
                   const TakenOver* taken)
    : impl_(std::make_unique<Impl>(runtime_dir, cgroups, taken)) {
  os::become_subreaper();  // before the first worker: orphans of its tree come back to us
}
AsioHost::~AsioHost() = default;

void AsioHost::run(daemon::HostEvents& events) {
  impl_->events = &events;
  impl_->processes.start(events);
  impl_->probes.start(events);
  // A child that exited before the loop ran (a worker that died while the previous master
  // handed over, its SIGCHLD gone with that process image) is reaped now.
  impl_->processes.reap();
  impl_->wait_signal();
  impl_->start_sd_watchdog();
  Impl* impl = impl_.get();
  impl->log_files.on_news([impl] { asio::post(impl->io, [impl] { impl->log_file_errors(); }); });
  impl_->io.run();
  impl_->events = nullptr;
  // What is queued is written, but a file whose write does not return does not hold the exit.
  impl_->log_files.stop();
  impl_->log_file_errors();
}

core::TimePoint AsioHost::now() { return core::Clock::now(); }
unsigned AsioHost::self_uid() { return static_cast<unsigned>(geteuid()); }
unsigned AsioHost::self_gid() { return static_cast<unsigned>(getegid()); }
std::vector<std::string> AsioHost::environment() { return os::environment(); }
std::int64_t AsioHost::unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::int32_t AsioHost::utc_offset(const std::string& zone, std::int64_t utc) {
  return os::utc_offset(zone, utc);
}
double AsioHost::random() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(impl_->random);
}

bool AsioHost::stderr_is_journal() { return impl_->stderr_journal; }
bool AsioHost::journal_available() { return impl_->journal.available(); }
bool AsioHost::journal_send(const daemon::JournalEntry& entry) {
  const os::JournalSocket::Sender as{entry.pid, entry.uid, entry.gid};
  const bool sent = impl_->journal.send(entry.fields, entry.pid > 0 ? &as : nullptr) ==
                    os::JournalSocket::Result::Sent;
  if (!impl_->journal.credits_workers() && !impl_->journal_credit_logged) {
    impl_->journal_credit_logged = true;
    spdlog::warn(
        "journal: cannot send worker lines in the worker's name (no CAP_SYS_ADMIN): they are "
        "credited to clusterd, with OBJECT_PID= and CLUSTERD_PID= naming the worker");
  }
  return sent;
}

bool AsioHost::log_file_write(const daemon::LogFile& file, std::string lines) {
  impl_->log_file_errors();
  return impl_->log_files.write(file.path, file.max_size, file.keep, std::move(lines));
}
void AsioHost::log_files_reopen() { impl_->log_files.reopen(); }
bool AsioHost::log_file_truncate(const daemon::LogFile& file) {
  return impl_->log_files.truncate(file.path);
}
std::map<std::string, std::uint64_t> AsioHost::log_files_lost() {
  return impl_->log_files.take_lost();
}

daemon::StartedWorker AsioHost::spawn(const daemon::SpawnRequest& request) {
  return impl_->processes.spawn(request);
}
void AsioHost::signal(daemon::WorkerHandle worker, int signal) {
  impl_->processes.signal(worker, signal);
}
void AsioHost::signal_tree(int pid, int signal) { impl_->processes.signal_tree(pid, signal); }

void AsioHost::arm(const daemon::TimerKey& key, core::TimePoint deadline) {
  Impl::Timer& timer = impl_->timers[key];
  if (!timer.timer) timer.timer = std::make_unique<asio::steady_timer>(impl_->io);
  // A serial that is never reused: a wait that already completed before this re-arm (its
  // handler queued) is recognised as stale and dropped.
  const std::uint64_t serial = timer.serial = impl_->next_serial++;
  timer.timer->expires_at(deadline);
  timer.timer->async_wait([impl = impl_.get(), key, serial](const std::error_code& ec) {
    if (ec) return;
    const auto it = impl->timers.find(key);
    if (it == impl->timers.end() || it->second.serial != serial) return;
    guard("timer", [&] { impl->events->on_timer(key); });
    // Fired and not armed again meanwhile: its entry goes (else the settling timer of every
    // running worker would stay for the worker's whole life).
    const auto done = impl->timers.find(key);
    if (done != impl->timers.end() && done->second.serial == serial) impl->timers.erase(done);
  });
}

void AsioHost::cancel(const daemon::TimerKey& key) { impl_->timers.erase(key); }

int AsioHost::bind(const config::Address& address, int backlog, bool reuseport,
                   const os::SocketAccess& access) {
  return os::bind_listener(address, backlog, reuseport, access).release();
}
void AsioHost::close(int fd) { ::close(fd); }
void AsioHost::listen(int fd, int backlog) { os::listen_again(fd, backlog); }
void AsioHost::stop_listening(int fd) { os::stop_listening(fd); }
void AsioHost::set_reuseport(int fd) { os::enable_reuseport(fd); }
std::uint16_t AsioHost::local_port(int fd) { return os::local_port(fd); }
std::string AsioHost::socket_mismatch(int fd, const config::Address& address, bool stopped_ok) {
  return os::socket_mismatch(fd, address, stopped_ok);
}
void AsioHost::remove_socket_file(const config::Address& address) {
  os::remove_socket_file(address);
}

int AsioHost::bind_adopted(const config::Address& address, int backlog, bool v6only) {
  return os::bind_listener(address, backlog, false, {}, v6only).release();
}
std::uint64_t AsioHost::socket_inode(int fd) {
  try {
    return os::socket_inode(fd);
  } catch (const std::system_error&) {
    return 0;
  }
}
unsigned AsioHost::unprivileged_port_start() {
  const std::optional<long> start = os::sysctl_number("net/ipv4/ip_unprivileged_port_start");
  return start && *start >= 0 && *start <= 65536 ? static_cast<unsigned>(*start) : 1024;
}

os::Occupants AsioHost::address_occupants(const config::Address& address) {
  return os::address_occupants(address);
}
std::vector<int> AsioHost::end_processes(const std::vector<os::Occupant>& who,
                                         std::chrono::milliseconds grace) {
  return os::end_processes(who, grace);
}
std::string AsioHost::instance_id() { return os::instance_id(); }
std::optional<bool> AsioHost::instance_running(const std::string& id) {
  return os::instance_running(id);
}
std::optional<std::string> AsioHost::read_instance_record(const std::string& path) {
  return os::read_instance_record(path);
}
void AsioHost::write_instance_record(const std::string& path, const std::string& id) {
  os::write_instance_record(path, id);
}

void AsioHost::make_private_dir(const std::string& path, unsigned uid, unsigned gid) {
  os::make_private_dir(path, uid, gid);
}

std::vector<daemon::PassedSocket> AsioHost::take_passed_sockets() {
  std::vector<daemon::PassedSocket> out;
  for (sd::PassedFd& passed : sd::take_passed_fds()) out.push_back({passed.fd, passed.name});
  return out;
}

config::ParseResult AsioHost::load_config(const std::string& path) {
  config::ParseResult result = config::load_config(path);
  if (result.config) resolve_control_socket(*result.config);
  return result;
}

std::vector<config::ConfigError> AsioHost::check_environment(const config::Config& config) {
  return config::check_environment(config, /*names=*/false);  // resolve_names() does those
}

std::optional<std::string> AsioHost::find_executable(const std::string& name,
                                                     const std::string& cwd) {
  const char* path = std::getenv("PATH");
  return config::find_executable(name, path ? path : "/usr/bin:/bin", cwd);
}

os::ResolvedNames AsioHost::lookup_names(const os::NameQueries& queries) {
  return os::lookup_names(queries);
}
void AsioHost::resolve_names(const os::NameQueries& queries,
                             std::function<void(os::ResolvedNames)> done) {
  lookup_names_async(impl_->io, queries, std::move(done));
}

os::CpuBudget AsioHost::cpus() { return os::detect_cpus(); }
std::string AsioHost::cgroup_mode() { return impl_->processes.cgroup_mode(); }
unsigned long AsioHost::nofile_hard_limit() { return os::nofile_hard_limit(); }
bool AsioHost::tcp_migrate_req() { return os::sysctl_enabled("net/ipv4/tcp_migrate_req"); }
std::string AsioHost::enable_tcp_migrate_req() {
  return os::sysctl_enable("net/ipv4/tcp_migrate_req");
}
daemon::ProcessSample AsioHost::sample(const std::vector<int>& pids,
                                       const std::vector<std::string>& cgroups, bool tree_rss,
                                       bool detail) {
  std::vector<int> dirs;
  dirs.reserve(pids.size());
  for (int pid : pids) dirs.push_back(impl_->processes.cgroup_dir(pid));
  return os::sample_processes(std::vector<pid_t>(pids.begin(), pids.end()), cgroups, tree_rss,
                              detail, dirs);
}
std::optional<os::AcceptQueue> AsioHost::accept_queue(int fd) { return os::accept_queue(fd); }

bool AsioHost::sd_enabled() { return sd::notify_enabled(); }
void AsioHost::sd_notify(const std::string& state) { sd::notify(state); }
bool AsioHost::sd_store_fd(int fd, const std::string& name) { return sd::store_fd(fd, name); }
void AsioHost::sd_remove_fd(const std::string& name) { sd::remove_stored_fd(name); }

int AsioHost::open_control(const control::ServerOptions& options, control::Handler handler) {
  // A status of 1024 workers builds about 2 MB of short-lived JSON: hand it back to the kernel
  // once the reply is on its way, so the master's RSS stays what it needs.
  control::Handler trimmed = [this, handler = std::move(handler)](const control::Request& request,
                                                                  const control::Peer& peer,
                                                                  control::ReplyPtr reply) {
    handler(request, peer, std::move(reply));
    if (request.command == control::Command::Status) asio::post(impl_->io, os::trim_memory);
  };
  const int id = impl_->next_control++;
  impl_->controls[id] =
      std::make_unique<control::ControlServer>(impl_->io, options, std::move(trimmed));
  return id;
}

void AsioHost::reconfigure_control(int id, const control::ServerOptions& options) {
  const auto it = impl_->controls.find(id);
  if (it != impl_->controls.end()) it->second->reconfigure(options);
}

void AsioHost::close_control(int id) { impl_->controls.erase(id); }

int AsioHost::open_metrics(const config::Address& address, daemon::HttpHandler handler,
                           int adopt_fd) {
  const int id = impl_->next_control++;
  impl_->metrics[id] =
      std::make_unique<MetricsServer>(impl_->io, address, std::move(handler), adopt_fd);
  return id;
}

std::optional<std::string> AsioHost::upgrade_blocker() {
  return impl_->processes.upgrade_blocker();
}
daemon::HandedWorker AsioHost::hand_over(daemon::WorkerHandle worker) {
  return impl_->processes.hand_over(worker);
}
std::string AsioHost::notify_dir() { return impl_->processes.notify_dir(); }
std::string AsioHost::cgroup_root() { return impl_->processes.cgroup_root(); }
int AsioHost::control_fd(int id) {
  const auto it = impl_->controls.find(id);
  return it == impl_->controls.end() ? -1 : it->second->native_handle();
}
int AsioHost::metrics_fd(int id) {
  const auto it = impl_->metrics.find(id);
  return it == impl_->metrics.end() ? -1 : it->second->native_handle();
}
daemon::WorkerHandle AsioHost::adopt(const daemon::HandedWorker& worker) {
  return impl_->processes.adopt(worker);
}
os::Rehearsal AsioHost::rehearse(const std::string& binary, const std::vector<std::string>& argv,
                                 const std::string& state, std::size_t handshake_limit) {
  return os::rehearse_upgrade(binary, argv, state, std::chrono::seconds(5), handshake_limit);
}
std::string AsioHost::exec_upgrade(const std::string& binary, const os::FileIdentity& rehearsed,
                                   std::vector<std::string> argv, const std::string& state,
                                   const std::vector<int>& fds) {
  // The spare spawn's resources go just before the exec, which runs no destructor (the exec is
  // refused before that when the binary is not the file that rehearsed).
  return os::exec_upgrade(binary, rehearsed, argv, state, fds,
                          [this] { impl_->processes.drop_spare(); });  // the new master pings anew
}
std::string AsioHost::own_binary() { return os::own_binary(); }

void AsioHost::close_metrics(int id) { impl_->metrics.erase(id); }

void AsioHost::probe(daemon::WorkerHandle worker, const daemon::ProbeTry& attempt) {
  impl_->probes.probe(worker, attempt);
}
void AsioHost::cancel_probe(daemon::WorkerHandle worker) { impl_->probes.cancel(worker); }

void AsioHost::quit() {
  impl_->processes.end_leftovers();
  impl_->signals.cancel();
  impl_->sd_watchdog.reset();
  impl_->io.stop();
}

unsigned AsioHost::watch(std::size_t app, const std::vector<std::string>& paths,
                         const std::vector<std::string>& ignore,
                         std::function<void(const std::string& change)> changed) {
  return impl_->file_watchers.watch(app, paths, ignore, std::move(changed));
}

void AsioHost::unwatch(std::size_t app) { impl_->file_watchers.unwatch(app); }

}  // namespace clusterd::loop
