#include "supervisor/loop/asio_host.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/local/datagram_protocol.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <unordered_map>

#include "config/check.h"
#include "supervisor/control/paths.h"
#include "supervisor/control/protocol.h"
#include "supervisor/os/cpus.h"
#include "supervisor/os/listeners.h"
#include "supervisor/os/notify_socket.h"
#include "supervisor/os/process.h"
#include "supervisor/os/procfs.h"
#include "supervisor/os/spawn_watch.h"
#include "supervisor/os/system.h"
#include "systemd/notify.h"
#include "systemd/socket_activation.h"

namespace clusterd::loop {

using daemon::WorkerHandle;
using DatagramSocket = asio::local::datagram_protocol::socket;

void resolve_control_socket(config::Config& config) {
  if (config.control.socket.empty()) config.control.socket = control::default_socket_path();
}

namespace {

core::ExitStatus::Blame blame_of(int error) {
  return os::transient_error(error) ? core::ExitStatus::Blame::Resources
                                    : core::ExitStatus::Blame::Master;
}

core::ExitStatus exit_status_of(int status) {
  if (WIFSIGNALED(status)) return core::ExitStatus::signaled(WTERMSIG(status));
  return core::ExitStatus::exited(WEXITSTATUS(status));
}

}  // namespace

class AsioHost::Impl {
 public:
  struct Worker {
    pid_t pid = 0;
    os::UniqueFd pidfd;
    std::shared_ptr<DatagramSocket> notify;
    os::UniqueFd errors;                  // the child's error pipe, until it exec'd or exited
    os::ChildMemory memory;               // the child's stack and plan, until then too
    std::optional<os::SpawnError> error;  // what the child reported before it exited
  };
  struct Timer {
    std::unique_ptr<asio::steady_timer> timer;
    std::uint64_t serial = 0;  // the arm() this timer's wait belongs to
  };

  Impl() : spawn_io(io, dup(spawn_watch.fd())) { signals.add(SIGCHLD); }

  // Runs one event's handling; whatever escapes is logged, and the loop goes on.
  template <typename F>
  void guard(const char* where, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::critical("{}: {} (the event is dropped; clusterd goes on)", where, e.what());
    } catch (...) {
      spdlog::critical("{}: unknown exception (the event is dropped; clusterd goes on)", where);
    }
  }

  void wait_signal();
  void reap();
  void watch_notify(WorkerHandle handle, const std::shared_ptr<DatagramSocket>& socket);
  void drain_notify(WorkerHandle handle);
  void watch_spawns();
  void collect_report(Worker& worker);
  void start_sd_watchdog();

  asio::io_context io;
  asio::signal_set signals{io, SIGTERM, SIGINT, SIGHUP};
  daemon::HostEvents* events = nullptr;
  std::map<WorkerHandle, Worker> workers;
  std::unordered_map<pid_t, WorkerHandle> by_pid;
  WorkerHandle next_handle = 1;
  std::map<daemon::TimerKey, Timer> timers;
  std::uint64_t next_serial = 1;
  os::SpawnWatch spawn_watch;
  asio::posix::stream_descriptor spawn_io;
  std::map<int, std::unique_ptr<control::ControlServer>> controls;
  int next_control = 1;
  std::unique_ptr<asio::steady_timer> sd_watchdog;
  std::chrono::microseconds sd_interval{};
};

void AsioHost::Impl::wait_signal() {
  signals.async_wait([this](const std::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGCHLD) {
      reap();
    } else {
      guard(core::signal_name(signal).c_str(), [&] { events->on_signal(signal); });
    }
    wait_signal();
  });
}

// Reaps every exited child: workers (their last notify datagrams and spawn report first), and
// orphans handed to us as subreaper.
void AsioHost::Impl::reap() {
  while (std::optional<os::Reaped> reaped = os::reap_one()) {
    const auto found = by_pid.find(reaped->pid);
    if (found == by_pid.end()) {
      spdlog::debug("reaped pid {} (not a worker: an orphan handed to us as subreaper)",
                    reaped->pid);
      continue;
    }
    const WorkerHandle handle = found->second;
    by_pid.erase(found);
    drain_notify(handle);  // messages sent just before the exit still count (STATUS=)
    const auto it = workers.find(handle);
    if (it == workers.end()) continue;
    collect_report(it->second);  // an error was written before the exit, so it is there now
    core::ExitStatus status = exit_status_of(reaped->status);
    if (it->second.error) {
      status = core::ExitStatus::spawn_failed(it->second.error->what(),
                                              os::transient_error(it->second.error->error())
                                                  ? core::ExitStatus::Blame::Resources
                                                  : core::ExitStatus::Blame::Program);
    }
    if (it->second.notify) it->second.notify->close();
    workers.erase(it);
    guard("worker exit", [&] { events->on_exit(handle, status); });
  }
}

void AsioHost::Impl::watch_notify(WorkerHandle handle,
                                  const std::shared_ptr<DatagramSocket>& socket) {
  socket->async_wait(asio::socket_base::wait_read,
                     [this, handle, socket](const std::error_code& ec) {
                       if (ec) return;  // closed with its worker
                       drain_notify(handle);
                       const auto it = workers.find(handle);
                       if (it != workers.end() && it->second.notify == socket) {
                         watch_notify(handle, socket);
                       }
                     });
}

void AsioHost::Impl::drain_notify(WorkerHandle handle) {
  for (int i = 0; i < 64; ++i) {  // bounded: a chatty worker cannot starve the loop
    const auto it = workers.find(handle);
    if (it == workers.end() || !it->second.notify) return;
    std::optional<os::NotifyDatagram> datagram;
    try {
      datagram = os::read_notify(it->second.notify->native_handle());
    } catch (const std::exception& e) {
      spdlog::warn("notify socket of pid {}: {}", it->second.pid, e.what());
      return;
    }
    if (!datagram) return;
    const daemon::NotifyDatagram message{std::move(datagram->text), datagram->uid, datagram->pid};
    guard("notify", [&] { events->on_notify(handle, message); });
  }
}

void AsioHost::Impl::watch_spawns() {
  spawn_io.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
    if (ec) return;
    for (std::uint64_t handle : spawn_watch.ready()) {
      const auto it = workers.find(handle);
      if (it != workers.end()) collect_report(it->second);
    }
    watch_spawns();
  });
}

// Reads what a starting child wrote to its error pipe; at end of file (exec'd or exited) the
// pipe closes (leaving the epoll set) and the child's memory goes.
void AsioHost::Impl::collect_report(Worker& worker) {
  if (!worker.errors) return;
  const os::SpawnReport report = os::read_spawn_report(worker.errors.get());
  if (report.error) worker.error = report.error;
  if (report.finished) {
    worker.errors.reset();
    worker.memory.reset();
  }
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

AsioHost::AsioHost() : impl_(std::make_unique<Impl>()) {
  os::become_subreaper();  // before the first worker: orphans of its tree come back to us
}
AsioHost::~AsioHost() = default;

void AsioHost::run(daemon::HostEvents& events) {
  impl_->events = &events;
  impl_->wait_signal();
  impl_->watch_spawns();
  impl_->start_sd_watchdog();
  impl_->io.run();
  impl_->events = nullptr;
}

core::TimePoint AsioHost::now() { return core::Clock::now(); }
unsigned AsioHost::self_uid() { return static_cast<unsigned>(geteuid()); }
std::vector<std::string> AsioHost::environment() { return os::environment(); }

daemon::Spawned AsioHost::spawn(const daemon::SpawnRequest& request) {
  os::NotifySocket notify;
  try {
    notify = os::open_notify_socket();
  } catch (const std::system_error& e) {
    throw daemon::SpawnFailure(e.what(), blame_of(e.code().value()));
  }
  os::SpawnSpec spec;
  spec.path = request.path;
  spec.argv = request.argv;
  spec.env = request.env;
  spec.env.push_back("NOTIFY_SOCKET=" + notify.name);
  spec.fds = request.fds;
  spec.cwd = request.cwd;
  spec.ids = request.ids;
  if (request.nofile) {
    spec.nofile_soft = request.nofile->soft;
    spec.nofile_hard = request.nofile->hard;
  }
  spec.cpu = request.cpu;
  os::Child child;
  try {
    child = os::spawn(spec);
  } catch (const std::system_error& e) {
    throw daemon::SpawnFailure(e.what(), blame_of(e.code().value()));
  }
  // The child runs in child.memory until it has exec'd: into the table at once, before anything
  // that can throw, so that its exit is reaped and reported whatever happens next.
  const WorkerHandle handle = impl_->next_handle++;
  Impl::Worker& worker = impl_->workers[handle];
  worker.pid = child.pid;
  worker.pidfd = std::move(child.pidfd);
  worker.errors = std::move(child.errors);
  worker.memory = std::move(child.memory);
  impl_->by_pid[child.pid] = handle;
  try {
    if (!impl_->spawn_watch.add(worker.errors.get(), handle)) {
      spdlog::warn("pid {}: cannot watch its start-up; its errors are read when it exits",
                   child.pid);
    }
    worker.notify = std::make_shared<DatagramSocket>(impl_->io, asio::local::datagram_protocol(),
                                                     notify.fd.release());
    impl_->watch_notify(handle, worker.notify);
  } catch (const std::exception& e) {
    os::signal_pidfd(worker.pidfd.get(), SIGKILL);  // one we cannot follow must not run
    throw daemon::SpawnFailure(std::string("watching the new worker: ") + e.what(),
                               core::ExitStatus::Blame::Master);
  }
  return {handle, child.pid};
}

void AsioHost::signal(WorkerHandle worker, int signal) {
  const auto it = impl_->workers.find(worker);
  if (it == impl_->workers.end() || !it->second.pidfd) return;
  try {
    os::signal_pidfd(it->second.pidfd.get(), signal);
  } catch (const std::exception& e) {
    spdlog::error("pid {}: {}", it->second.pid, e.what());
  }
}

void AsioHost::signal_group(int pgid, int signal) {
  try {
    os::signal_group(pgid, signal);
  } catch (const std::exception& e) {
    spdlog::error("process group {}: {}", pgid, e.what());
  }
}

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
    impl->guard("timer", [&] { impl->events->on_timer(key); });
  });
}

void AsioHost::cancel(const daemon::TimerKey& key) { impl_->timers.erase(key); }

int AsioHost::bind(const config::Address& address, int backlog, bool reuseport) {
  return os::bind_listener(address, backlog, reuseport).release();
}
void AsioHost::close(int fd) { ::close(fd); }
void AsioHost::listen(int fd, int backlog) { os::listen_again(fd, backlog); }
void AsioHost::set_reuseport(int fd) { os::enable_reuseport(fd); }
std::uint16_t AsioHost::local_port(int fd) { return os::local_port(fd); }
std::string AsioHost::socket_mismatch(int fd, const config::Address& address) {
  return os::socket_mismatch(fd, address);
}
void AsioHost::remove_socket_file(const config::Address& address) {
  os::remove_socket_file(address);
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
  return config::check_environment(config);
}

std::optional<std::string> AsioHost::find_executable(const std::string& name,
                                                     const std::string& cwd) {
  const char* path = std::getenv("PATH");
  return config::find_executable(name, path ? path : "/usr/bin:/bin", cwd);
}

os::Ids AsioHost::resolve_ids(const std::string& user, const std::string& group) {
  return os::resolve_ids(user, group);
}
os::CpuBudget AsioHost::cpus() { return os::detect_cpus(); }
unsigned long AsioHost::nofile_hard_limit() { return os::nofile_hard_limit(); }
bool AsioHost::tcp_migrate_req() { return os::sysctl_enabled("net/ipv4/tcp_migrate_req"); }
daemon::ProcessSample AsioHost::sample(const std::vector<int>& pids, bool tree_rss) {
  return os::sample_processes(std::vector<pid_t>(pids.begin(), pids.end()), tree_rss);
}

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

void AsioHost::quit() {
  impl_->signals.cancel();
  impl_->sd_watchdog.reset();
  impl_->io.stop();
}

}  // namespace clusterd::loop
