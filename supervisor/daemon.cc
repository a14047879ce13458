// The daemon loop. Everything that happens reaches the core as an event with the time it was seen;
// the actions that come back are carried out here, in order, through os/. Nothing else decides.
//
// Sources of events, all on one io_context:
//  - SIGCHLD: reap every exited child (workers, and orphans we inherit as subreaper);
//  - SIGTERM / SIGINT: graceful stop of every slot; SIGHUP: logged (reload is not in this version);
//  - one steady_timer per slot (ready_timeout, stop_timeout, backoff), tokens checked by the core;
//  - one notify socket per worker process (READY=1, STATUS=...);
//  - the control socket (clusterctl): status, scale, start, stop, restart.
#include "supervisor/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/local/datagram_protocol.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <cstdio>
#include <deque>
#include <optional>

#include "config/check.h"
#include "supervisor/control/paths.h"
#include "supervisor/control/protocol.h"
#include "supervisor/control/server.h"
#include "supervisor/core/notify_message.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/os/listeners.h"
#include "supervisor/os/notify_socket.h"
#include "supervisor/os/process.h"
#include "supervisor/status.h"
#include "worker/listen_env.h"

extern char** environ;

namespace clusterd {

namespace {

using core::SlotId;

// A configured listener with the sockets the master holds for it.
struct Listener {
  config::ListenerSpec spec;
  std::vector<os::UniqueFd> fds;  // shared: one; reuseport: one per slot; worker: none
};

// What the master keeps per app besides the core's state.
struct AppRuntime {
  std::string executable;
  std::optional<os::Ids> ids;
  std::vector<Listener> listeners;
  std::vector<std::string> inherited_env;
  std::vector<int> cpus;
};

// What the master keeps per slot: its timer and its current worker's pidfd and notify socket.
struct SlotRuntime {
  explicit SlotRuntime(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  os::UniqueFd pidfd;
  std::shared_ptr<asio::local::datagram_protocol::socket> notify;
  uid_t uid = 0;
};

std::string describe_wait_status(int status, core::ExitStatus& out) {
  if (WIFSIGNALED(status)) {
    out = {core::ExitStatus::Kind::Signaled, WTERMSIG(status), {}};
  } else {
    out = {core::ExitStatus::Kind::Exited, WEXITSTATUS(status), {}};
  }
  return out.to_string();
}

}  // namespace

class Daemon::Impl {
 public:
  explicit Impl(DaemonOptions options)
      : signals_(io_, SIGTERM, SIGINT, SIGHUP),
        supervisor_(make_apps(options)),
        sampler_(options.config.path, now()),
        inherited_nofile_(options.inherited_nofile) {
    signals_.add(SIGCHLD);
    std::vector<std::string> inherited;
    for (char** e = environ; *e != nullptr; ++e) inherited.emplace_back(*e);
    for (std::size_t a = 0; a < options.config.apps.size(); ++a) {
      const config::AppSpec& spec = options.config.apps[a];
      AppRuntime app;
      app.inherited_env = inherited;
      app.cpus = a < options.cpus.size() ? options.cpus[a] : std::vector<int>{};
      const char* path = std::getenv("PATH");
      std::optional<std::string> exe =
          config::find_executable(spec.command.at(0), path ? path : "/usr/bin:/bin", spec.cwd);
      if (!exe)
        throw std::runtime_error("apps." + spec.name + ".command: '" + spec.command[0] +
                                 "' not found or not executable");
      app.executable = *exe;
      if (!spec.user.empty() || !spec.group.empty()) {
        app.ids = os::resolve_ids(spec.user, spec.group);
      }
      const unsigned slots = options.instances[a];
      for (const config::ListenerSpec& ls : spec.listeners) {
        Listener listener{ls, {}};
        if (ls.mode == config::ListenMode::Shared) {
          listener.fds.push_back(os::bind_listener(ls.address, ls.backlog, false));
          bound_.push_back(ls.address);
        } else if (ls.mode == config::ListenMode::ReusePort) {
          config::Address address = ls.address;
          for (unsigned i = 0; i < slots; ++i) {
            listener.fds.push_back(os::bind_listener(address, ls.backlog, true));
            if (address.port == 0) address.port = os::local_port(listener.fds.back().get());
          }
        }
        if (!listener.fds.empty() && ls.address.family != config::Address::Family::Unix) {
          spdlog::info("{}: listening on {} port {} ({} socket{})", spec.name, ls.address.host,
                       os::local_port(listener.fds[0].get()), listener.fds.size(),
                       listener.fds.size() == 1 ? "" : "s");
        }
        app.listeners.push_back(std::move(listener));
      }
      std::vector<std::unique_ptr<SlotRuntime>> runtime;
      for (unsigned i = 0; i < slots; ++i) runtime.push_back(std::make_unique<SlotRuntime>(io_));
      slots_.push_back(std::move(runtime));
      apps_.push_back(std::move(app));
    }
    open_control(options.config.control);
  }

  ~Impl() {
    for (const config::Address& address : bound_) os::remove_socket_file(address);
  }

  int run() {
    os::become_subreaper();
    wait_signal();
    spdlog::info("clusterd {} pid {} starting {} app{}", CLUSTERD_VERSION, getpid(),
                 supervisor_.apps().size(), supervisor_.apps().size() == 1 ? "" : "s");
    for (const core::AppState& app : supervisor_.apps()) {
      spdlog::info("{}: {} instance{} ({})", app.spec.name, app.instances,
                   app.instances == 1 ? "" : "s", app.instances_reason);
    }
    execute(supervisor_.start_all(now()));
    io_.run();
    spdlog::info("clusterd stopped");
    return 0;
  }

 private:
  static std::vector<core::AppState> make_apps(const DaemonOptions& options) {
    std::vector<core::AppState> apps;
    for (std::size_t a = 0; a < options.config.apps.size(); ++a) {
      core::AppState app;
      app.spec = options.config.apps[a];
      app.instances = options.instances.at(a);
      app.instances_reason = options.instances_reason.at(a);
      apps.push_back(std::move(app));
    }
    return apps;
  }

  static core::TimePoint now() { return core::Clock::now(); }

  std::string label(SlotId id) const {
    return fmt::format("{}[{}]", supervisor_.spec(id).name, id.index);
  }

  void wait_signal() {
    signals_.async_wait([this](const std::error_code& ec, int signal) {
      if (ec) return;
      on_signal(signal);
      if (!finished_) wait_signal();
    });
  }

  void on_signal(int signal) {
    switch (signal) {
      case SIGCHLD:
        reap();
        break;
      case SIGTERM:
      case SIGINT:
        if (supervisor_.stopping()) {
          spdlog::info("{}: already stopping; waiting for the workers to drain",
                       core::signal_name(signal));
          break;
        }
        spdlog::info("{}: stopping every worker gracefully", core::signal_name(signal));
        execute(supervisor_.stop_all(now()));
        finish_if_done();
        break;
      case SIGHUP:
        spdlog::warn("SIGHUP: configuration reload is not available in this version; ignored");
        break;
      default:
        break;
    }
  }

  void reap() {
    while (std::optional<os::Reaped> reaped = os::reap_one()) {
      const SlotId* found = supervisor_.find_pid(reaped->pid);
      if (found == nullptr) {
        spdlog::debug("reaped pid {} (not a worker: an orphan handed to us as subreaper)",
                      reaped->pid);
        continue;
      }
      const SlotId id = *found;
      SlotRuntime& runtime = *slots_[id.app][id.index];
      drain_notify(id);  // messages sent just before the exit still count (STATUS)
      if (runtime.notify) {
        runtime.notify->close();
        runtime.notify.reset();
      }
      runtime.pidfd.reset();
      // Whatever the worker left behind in its process group goes with it.
      try {
        os::signal_group(reaped->pid, SIGKILL);
      } catch (const std::exception& e) {
        spdlog::warn("{}: killing the rest of process group {}: {}", label(id), reaped->pid,
                     e.what());
      }
      core::ExitStatus status;
      const std::string text = describe_wait_status(reaped->status, status);
      spdlog::info("{}: pid {} exited ({})", label(id), reaped->pid, text);
      execute(supervisor_.on(id, core::Exited{status}, now()));
    }
    finish_if_done();
  }

  void finish_if_done() {
    if (supervisor_.stopping() && supervisor_.no_workers() && !finished_) {
      finished_ = true;
      for (auto& app_slots : slots_) {
        for (auto& runtime : app_slots) runtime->timer.cancel();
      }
      signals_.cancel();
      control_.reset();
      io_.stop();
    }
  }

  void execute(std::vector<core::SlotAction> actions) {
    std::deque<core::SlotAction> queue(std::make_move_iterator(actions.begin()),
                                       std::make_move_iterator(actions.end()));
    while (!queue.empty()) {
      core::SlotAction item = std::move(queue.front());
      queue.pop_front();
      std::vector<core::SlotAction> more = perform(item);
      queue.insert(queue.begin(), std::make_move_iterator(more.begin()),
                   std::make_move_iterator(more.end()));
    }
  }

  std::vector<core::SlotAction> perform(const core::SlotAction& item) {
    const SlotId id = item.slot;
    SlotRuntime& runtime = *slots_[id.app][id.index];
    if (const auto* transition = std::get_if<core::Transition>(&item.action)) {
      spdlog::info("{}: {} -> {}: {}", label(id), transition->from, transition->to,
                   transition->reason);
    } else if (std::holds_alternative<core::Spawn>(item.action)) {
      return spawn(id);
    } else if (const auto* signal = std::get_if<core::Signal>(&item.action)) {
      try {
        if (signal->process_group) {
          os::signal_group(signal->pid, signal->signal);
        } else if (runtime.pidfd) {
          os::signal_pidfd(runtime.pidfd.get(), signal->signal);
        }
        spdlog::debug("{}: sent {} to {}{}", label(id), core::signal_name(signal->signal),
                      signal->process_group ? "process group " : "pid ", signal->pid);
      } catch (const std::exception& e) {
        spdlog::error("{}: {}", label(id), e.what());
      }
    } else if (const auto* arm = std::get_if<core::ArmTimer>(&item.action)) {
      runtime.timer.expires_at(arm->deadline);
      runtime.timer.async_wait([this, id, token = arm->token](const std::error_code& ec) {
        if (!ec) execute(supervisor_.on(id, core::TimerFired{token}, now()));
      });
    } else if (std::holds_alternative<core::CancelTimer>(item.action)) {
      runtime.timer.cancel();
    } else if (std::holds_alternative<core::Retire>(item.action)) {
      retire(id);
    }
    return {};
  }

  std::vector<core::SlotAction> spawn(SlotId id) {
    const config::AppSpec& spec = supervisor_.spec(id);
    AppRuntime& app = apps_[id.app];
    SlotRuntime& runtime = *slots_[id.app][id.index];
    const unsigned workers = supervisor_.apps()[id.app].instances;
    try {
      os::NotifySocket notify = os::open_notify_socket();
      worker::WorkerEnvSpec env_spec;
      env_spec.app = spec.name;
      env_spec.worker_id = id.index;
      env_spec.workers = workers;
      env_spec.app_env = spec.env;
      env_spec.notify_socket = notify.name;
      os::SpawnSpec spawn_spec;
      for (const Listener& listener : app.listeners) {
        if (listener.spec.mode == config::ListenMode::Worker) {
          env_spec.worker_listen.emplace_back(listener.spec.name, listener.spec.address.text);
          continue;
        }
        const std::size_t which =
            listener.spec.mode == config::ListenMode::ReusePort ? id.index : 0;
        if (which >= listener.fds.size() || !listener.fds[which]) {
          throw std::runtime_error("listener " + listener.spec.name + " has no socket for slot " +
                                   std::to_string(id.index));
        }
        spawn_spec.fds.push_back(listener.fds[which].get());
        env_spec.fd_names.push_back(listener.spec.name);
      }
      spawn_spec.path = app.executable;
      spawn_spec.argv = spec.command;
      spawn_spec.env = worker::build_worker_env(app.inherited_env, env_spec);
      spawn_spec.cwd = spec.cwd;
      spawn_spec.ids = app.ids;
      if (spec.nofile) {
        spawn_spec.nofile_soft = spawn_spec.nofile_hard = static_cast<unsigned long>(*spec.nofile);
      } else if (inherited_nofile_) {  // workers get the limit clusterd itself was started with
        spawn_spec.nofile_soft = inherited_nofile_->first;
        spawn_spec.nofile_hard = inherited_nofile_->second;
      }
      if (spec.cpu_affinity == config::CpuAffinity::PerWorker && !app.cpus.empty()) {
        spawn_spec.cpu = app.cpus[id.index % app.cpus.size()];
      }
      os::Child child = os::spawn(spawn_spec);
      runtime.pidfd = std::move(child.pidfd);
      runtime.uid = app.ids ? app.ids->uid : getuid();
      runtime.notify = std::make_shared<asio::local::datagram_protocol::socket>(
          io_, asio::local::datagram_protocol(), notify.fd.release());
      watch_notify(id, runtime.notify);
      spdlog::info("{}: spawned pid {}{}", label(id), child.pid,
                   spawn_spec.cpu >= 0 ? fmt::format(" on cpu {}", spawn_spec.cpu) : "");
      std::vector<core::SlotAction> out = supervisor_.on(id, core::Spawned{child.pid}, now());
      return out;
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot start {}: {}", label(id), spec.command[0], e.what());
      core::ExitStatus status{core::ExitStatus::Kind::SpawnFailed, 127, e.what()};
      return supervisor_.on(id, core::Exited{status}, now());
    }
  }

  // ---- control ----

  void open_control(const config::ControlSpec& spec) {
    control::ServerOptions options;
    options.path = spec.socket.empty() ? control::default_socket_path() : spec.socket;
    options.max_clients = spec.max_clients;
    options.idle_timeout = spec.idle_timeout;
    if (!spec.group.empty()) options.group = os::resolve_ids("", spec.group).gid;
    control_ = std::make_unique<control::ControlServer>(
        io_, options,
        [this](const control::Request& request, const control::Peer& peer,
               std::function<void(std::string)> reply) { handle(request, peer, reply); });
    spdlog::info("control socket {}", options.path);
  }

  void handle(const control::Request& request, const control::Peer& peer,
              const std::function<void(std::string)>& reply) {
    using control::Command;
    const std::size_t* app = nullptr;
    if (request.app) {
      app = supervisor_.find_app(*request.app);
      if (app == nullptr) {
        std::string names;
        for (const core::AppState& a : supervisor_.apps()) {
          names += (names.empty() ? "" : ", ") + a.spec.name;
        }
        reply(control::encode_error("no app named '" + *request.app + "'; apps: " + names));
        return;
      }
    }
    if (request.command == Command::Status) {
      reply(control::encode_status(
          sampler_.sample(supervisor_, now(), request.app ? &*request.app : nullptr)));
      // A status of 1024 workers builds about 2 MB of short-lived JSON; hand it back to the
      // kernel once the reply is on its way, so the master's RSS stays what it needs.
      asio::post(io_, [] { malloc_trim(0); });
      return;
    }
    if (request.command == Command::Version) {
      reply(control::encode_version(CLUSTERD_VERSION));
      return;
    }
    if (supervisor_.stopping()) {
      reply(control::encode_error("clusterd is stopping; no changes accepted"));
      return;
    }
    const std::string& name = *request.app;
    spdlog::info("control: {} {} from uid {} pid {}",
                 control::kCommands[static_cast<int>(request.command)].name, name, peer.uid,
                 peer.pid);
    switch (request.command) {
      case Command::Scale: {
        const unsigned n = *request.instances;
        if (n == 0) {
          reply(control::encode_error("scale needs at least 1 instance; use `stop " + name + "`"));
          return;
        }
        const unsigned before = supervisor_.apps()[*app].instances;
        try {
          grow_slots(*app, n);
        } catch (const std::exception& e) {
          reply(control::encode_error("cannot scale " + name + " to " + std::to_string(n) + ": " +
                                      e.what()));
          return;
        }
        if (n < before) close_retiring_sockets(*app, n);
        execute(supervisor_.scale(*app, n, now()));
        reply(control::encode_done("scaled " + name + " from " + std::to_string(before) + " to " +
                                   std::to_string(n)));
        return;
      }
      case Command::Start:
        execute(supervisor_.on_app(*app, core::StartRequested{}, now()));
        reply(control::encode_done("starting " + name));
        return;
      case Command::Stop:
        execute(supervisor_.on_app(*app, core::StopRequested{}, now()));
        reply(control::encode_done("stopping " + name));
        return;
      case Command::Restart:
        if (request.worker) {
          if (*request.worker >= supervisor_.apps()[*app].instances) {
            reply(
                control::encode_error(name + " has no worker " + std::to_string(*request.worker)));
            return;
          }
          execute(supervisor_.on({*app, *request.worker}, core::RestartRequested{}, now()));
          reply(control::encode_done("restarting " + name + " worker " +
                                     std::to_string(*request.worker)));
          return;
        }
        execute(supervisor_.on_app(*app, core::RestartRequested{}, now()));
        reply(control::encode_done("restarting " + name));
        return;
      case Command::Status:
      case Command::Version:
        break;
    }
  }

  // Makes room for `n` slots of an app: runtime state and, in reuseport mode, a socket per slot.
  // Binds before anything changes, so a failure leaves the app as it was.
  void grow_slots(std::size_t a, unsigned n) {
    AppRuntime& app = apps_[a];
    std::vector<std::pair<Listener*, std::vector<os::UniqueFd>>> fresh;
    for (Listener& listener : app.listeners) {
      if (listener.spec.mode != config::ListenMode::ReusePort) continue;
      config::Address address = listener.spec.address;
      if (!listener.fds.empty() && listener.fds[0]) {
        address.port = os::local_port(listener.fds[0].get());
      }
      std::vector<os::UniqueFd> fds;
      for (unsigned i = 0; i < n; ++i) {
        const bool have = i < listener.fds.size() && listener.fds[i];
        fds.push_back(have ? os::UniqueFd()
                           : os::bind_listener(address, listener.spec.backlog, true));
      }
      fresh.emplace_back(&listener, std::move(fds));
    }
    for (auto& [listener, fds] : fresh) {
      if (listener->fds.size() < n) listener->fds.resize(n);
      for (unsigned i = 0; i < n; ++i) {
        if (fds[i]) listener->fds[i] = std::move(fds[i]);
      }
    }
    while (slots_[a].size() < n) slots_[a].push_back(std::make_unique<SlotRuntime>(io_));
  }

  // Scaling down: the master lets go of the reuseport sockets of slots >= n right away, so each
  // listener closes as soon as its draining worker closes its copy. With net.ipv4.tcp_migrate_req=1
  // the kernel then moves the connections still queued on it to the remaining slots' sockets;
  // without it they are reset, and we say so.
  void close_retiring_sockets(std::size_t a, unsigned n) {
    bool closed = false;
    for (Listener& listener : apps_[a].listeners) {
      if (listener.spec.mode != config::ListenMode::ReusePort) continue;
      for (std::size_t i = n; i < listener.fds.size(); ++i) {
        closed = closed || static_cast<bool>(listener.fds[i]);
        listener.fds[i].reset();
      }
    }
    if (closed && !tcp_migrate_req_enabled()) {
      spdlog::warn(
          "{}: net.ipv4.tcp_migrate_req is 0: connections still queued on the removed "
          "slots' sockets will be reset; set it to 1 (Linux 5.14+) to migrate them",
          supervisor_.apps()[a].spec.name);
    }
  }

  static bool tcp_migrate_req_enabled() {
    std::FILE* f = std::fopen("/proc/sys/net/ipv4/tcp_migrate_req", "r");
    if (f == nullptr) return false;
    const int c = std::fgetc(f);
    std::fclose(f);
    return c == '1';
  }

  // A scaled-down slot is gone: drop its runtime state and the master's copy of its sockets.
  void retire(SlotId id) {
    if (id.app >= slots_.size() || id.index + 1 != slots_[id.app].size()) return;
    slots_[id.app].pop_back();
    for (Listener& listener : apps_[id.app].listeners) {
      if (listener.spec.mode == config::ListenMode::ReusePort && listener.fds.size() > id.index) {
        listener.fds.resize(id.index);
      }
    }
  }

  void watch_notify(SlotId id, std::shared_ptr<asio::local::datagram_protocol::socket> socket) {
    socket->async_wait(asio::socket_base::wait_read, [this, id, socket](const std::error_code& ec) {
      if (ec || !current_notify(id, socket)) return;  // closed, replaced or retired
      drain_notify(id);
      if (current_notify(id, socket)) watch_notify(id, socket);
    });
  }

  bool current_notify(SlotId id,
                      const std::shared_ptr<asio::local::datagram_protocol::socket>& socket) const {
    return id.app < slots_.size() && id.index < slots_[id.app].size() &&
           slots_[id.app][id.index]->notify == socket;
  }

  void drain_notify(SlotId id) {
    SlotRuntime& runtime = *slots_[id.app][id.index];
    if (!runtime.notify) return;
    const int fd = runtime.notify->native_handle();
    for (int i = 0; i < 64; ++i) {  // bounded: a chatty worker cannot starve the loop
      std::optional<os::NotifyDatagram> datagram;
      try {
        datagram = os::read_notify(fd);
      } catch (const std::exception& e) {
        spdlog::warn("{}: notify socket: {}", label(id), e.what());
        return;
      }
      if (!datagram) return;
      if (datagram->uid != 0 && datagram->uid != runtime.uid && datagram->uid != getuid()) {
        spdlog::warn("{}: ignored a notify message from uid {} pid {}", label(id), datagram->uid,
                     datagram->pid);
        continue;
      }
      const core::NotifyMessage message = core::parse_notify(datagram->text);
      if (message.status) {
        spdlog::debug("{}: STATUS={}", label(id), *message.status);
        supervisor_.mutable_slot(id).set_status_text(*message.status);
      }
      if (message.ready) execute(supervisor_.on(id, core::Ready{}, now()));
      if (!runtime.notify) return;
    }
  }

  asio::io_context io_;
  asio::signal_set signals_;
  core::Supervisor supervisor_;
  std::vector<AppRuntime> apps_;
  std::vector<std::vector<std::unique_ptr<SlotRuntime>>> slots_;
  StatusSampler sampler_;
  std::unique_ptr<control::ControlServer> control_;
  std::vector<config::Address> bound_;
  bool finished_ = false;
  std::optional<std::pair<unsigned long, unsigned long>> inherited_nofile_;
};

Daemon::Daemon(DaemonOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Daemon::~Daemon() = default;
int Daemon::run() { return impl_->run(); }

}  // namespace clusterd
