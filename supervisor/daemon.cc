// The daemon loop. Everything that happens reaches the core as an event with the time it was seen;
// the actions that come back are carried out here, in order, through os/. Nothing else decides.
//
// Sources of events, all on one io_context:
//  - SIGCHLD: reap every exited child (workers, and orphans we inherit as subreaper);
//  - SIGTERM / SIGINT: graceful stop of every slot; SIGHUP: reload the configuration;
//  - per lane, up to three steady_timers (state deadline, watchdog, canary), tokens checked by
//    the core;
//  - one notify socket per worker process (READY=1, STATUS=..., WATCHDOG=1, ...);
//  - the error pipes of starting workers, in one epoll set (daemon_spawn.cc);
//  - the control socket (daemon_control.cc).
#include "supervisor/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <deque>
#include <system_error>

#include "config/check.h"
#include "supervisor/core/notify_message.h"
#include "supervisor/daemon_impl.h"
#include "supervisor/os/listeners.h"
#include "supervisor/os/notify_socket.h"
#include "supervisor/os/procfs.h"
#include "systemd/notify.h"

extern char** environ;

namespace clusterd {

namespace {

using core::SlotId;

core::ExitStatus exit_status_of(int status) {
  if (WIFSIGNALED(status)) return {core::ExitStatus::Kind::Signaled, WTERMSIG(status), {}};
  return {core::ExitStatus::Kind::Exited, WEXITSTATUS(status), {}};
}

std::vector<core::AppState> make_apps(const DaemonOptions& options) {
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

}  // namespace

Daemon::Impl::Impl(DaemonOptions options)
    : signals_(io_, SIGTERM, SIGINT, SIGHUP),
      supervisor_(make_apps(options)),
      config_(options.config),
      sampler_(options.config.path, now()),
      inherited_nofile_(options.inherited_nofile) {
  signals_.add(SIGCHLD);
  fd_store_ = options.fd_store;
  adopt_passed_fds();
  for (char** e = environ; *e != nullptr; ++e) inherited_env_.emplace_back(*e);
  for (std::size_t a = 0; a < options.config.apps.size(); ++a) {
    const config::AppSpec& spec = options.config.apps[a];
    AppRuntime app;
    app.cpus = a < options.cpus.size() ? options.cpus[a] : std::vector<int>{};
    app.generations.emplace(supervisor_.apps()[a].generation,
                            prepare_generation(spec, options.instances[a], nullptr));
    std::vector<std::unique_ptr<SlotRuntime>> runtime;
    for (unsigned i = 0; i < options.instances[a]; ++i) {
      runtime.push_back(std::make_unique<SlotRuntime>());
    }
    slots_.push_back(std::move(runtime));
    apps_.push_back(std::move(app));
  }
  close_unclaimed_passed();
  store_dirty_ = true;
  open_control(options.config.control);
}

Daemon::Impl::~Impl() {
  for (const config::Address& address : bound_) os::remove_socket_file(address);
}

int Daemon::Impl::run() {
  os::become_subreaper();
  const int starting = epoll_create1(EPOLL_CLOEXEC);
  if (starting < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  starting_.emplace(io_, starting);
  watch_starting();
  wait_signal();
  spdlog::info("clusterd {} pid {} starting {} app{}", CLUSTERD_VERSION, getpid(),
               supervisor_.apps().size(), supervisor_.apps().size() == 1 ? "" : "s");
  for (const core::AppState& app : supervisor_.apps()) {
    spdlog::info("{}: {} instance{} ({})", app.spec.name, app.instances,
                 app.instances == 1 ? "" : "s", app.instances_reason);
  }
  start_systemd_watchdog();
  execute(supervisor_.start_all(now()));
  arm_memory_check();
  io_.run();
  spdlog::info("clusterd stopped");
  return 0;
}

std::string Daemon::Impl::label(SlotId id) const {
  const core::AppState& app = supervisor_.apps()[id.app];
  if (id.index >= app.slots.size()) return fmt::format("{}[{}]", app.spec.name, id.index);
  const core::WorkerSlot& lane = supervisor_.slot(id);
  return fmt::format("{}[{}] gen {}", app.spec.name, id.index, lane.generation());
}

Generation Daemon::Impl::prepare_generation(const config::AppSpec& spec, unsigned slots,
                                            const Generation* previous) {
  Generation gen;
  const char* path = std::getenv("PATH");
  std::optional<std::string> exe =
      config::find_executable(spec.command.at(0), path ? path : "/usr/bin:/bin", spec.cwd);
  if (!exe) {
    throw std::runtime_error("apps." + spec.name + ".command: '" + spec.command[0] +
                             "' not found or not executable");
  }
  gen.executable = *exe;
  if (!spec.user.empty() || !spec.group.empty()) gen.ids = os::resolve_ids(spec.user, spec.group);
  for (const config::ListenerSpec& ls : spec.listeners) {
    std::shared_ptr<Listener> reused;
    if (previous != nullptr) {
      for (const std::shared_ptr<Listener>& old : previous->listeners) {
        if (old->spec.name == ls.name && old->spec.address.text == ls.address.text &&
            old->spec.mode == ls.mode) {
          reused = old;
        }
      }
    }
    if (reused) {
      if (reused->spec.backlog != ls.backlog) {  // listen() again changes the backlog in place
        for (os::UniqueFd& fd : reused->fds) {
          if (fd) ::listen(fd.get(), ls.backlog);
        }
        reused->spec.backlog = ls.backlog;
      }
      gen.listeners.push_back(std::move(reused));
      continue;
    }
    auto listener = std::make_shared<Listener>(Listener{ls, {}});
    if (ls.mode == config::ListenMode::Shared) {
      os::UniqueFd fd = take_passed(ls, 0);
      if (!fd) {
        fd = os::bind_listener(ls.address, ls.backlog, false);
        if (ls.address.family == config::Address::Family::Unix) bound_.push_back(ls.address);
      }
      listener->fds.push_back(std::move(fd));
    } else if (ls.mode == config::ListenMode::ReusePort) {
      config::Address address = ls.address;
      for (unsigned i = 0; i < slots; ++i) {
        os::UniqueFd fd = take_passed(ls, i);
        if (fd && i == 0 && !os::enable_reuseport(fd.get())) {
          // The other slots must join its SO_REUSEPORT group. Setting it on a listening socket
          // works on Linux; a .socket unit should say ReusePort=yes all the same.
          spdlog::warn(
              "listener {}: the socket systemd passed had no SO_REUSEPORT; set it now "
              "(add ReusePort=yes to the .socket unit)",
              ls.name);
        }
        if (!fd) fd = os::bind_listener(address, ls.backlog, true);
        listener->fds.push_back(std::move(fd));
        if (address.port == 0) address.port = os::local_port(listener->fds.back().get());
      }
    }
    store_dirty_ = true;
    if (!listener->fds.empty() && ls.address.family != config::Address::Family::Unix) {
      spdlog::info("{}: {} listening on {} port {} ({} socket{})", spec.name, ls.name,
                   ls.address.host, os::local_port(listener->fds[0].get()), listener->fds.size(),
                   listener->fds.size() == 1 ? "" : "s");
    }
    gen.listeners.push_back(std::move(listener));
  }
  return gen;
}

void Daemon::Impl::forget_unused_generations() {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    const core::AppState& state = supervisor_.apps()[a];
    std::map<unsigned, Generation>& gens = apps_[a].generations;
    for (auto it = gens.begin(); it != gens.end();) {
      if (state.specs.count(it->first)) {
        ++it;
      } else {
        it = gens.erase(it);
        store_dirty_ = true;
      }
    }
  }
}

void Daemon::Impl::arm_memory_check() {
  std::optional<core::Duration> interval;
  for (const core::AppState& app : supervisor_.apps()) {
    if (app.removed || !app.spec.max_memory) continue;
    if (!interval || app.spec.memory_check_interval < *interval) {
      interval = app.spec.memory_check_interval;
    }
  }
  if (!interval || supervisor_.stopping()) {
    memory_timer_.reset();
    over_memory_.clear();
    return;
  }
  if (!memory_timer_) memory_timer_ = std::make_unique<asio::steady_timer>(io_);
  memory_timer_->expires_after(*interval);
  memory_timer_->async_wait([this](const std::error_code& ec) {
    if (ec) return;
    check_memory();
    arm_memory_check();
  });
}

// A worker whose RSS (with its descendants) is above max_memory at two samples in a row is
// replaced gracefully: a fresh worker starts in the slot's other lane and takes over once ready.
void Daemon::Impl::check_memory() {
  const os::ProcessTree tree = os::ProcessTree::scan();
  std::map<pid_t, unsigned> still_over;
  for (std::size_t a = 0; a < supervisor_.apps().size(); ++a) {
    const core::AppState& app = supervisor_.apps()[a];
    if (app.removed || !app.spec.max_memory || app.rollout) continue;
    for (unsigned i = 0; i < app.instances && i < app.slots.size(); ++i) {
      const core::WorkerSlot& worker = app.slots[i].current();
      if (worker.state() != core::SlotState::Running || worker.pid() == 0) continue;
      std::uint64_t rss_kb = 0;
      for (pid_t pid : tree.subtree(worker.pid())) {
        rss_kb += os::read_rss_kb(pid).value_or(0);
      }
      if (rss_kb * 1024 <= *app.spec.max_memory) continue;
      const unsigned samples = over_memory_[worker.pid()] + 1;
      still_over[worker.pid()] = samples;
      if (samples < 2) continue;
      const std::string why =
          fmt::format("RSS {} KiB above max_memory {} KiB", rss_kb, *app.spec.max_memory / 1024);
      spdlog::warn("{}[{}]: {}; replacing it", app.spec.name, i, why);
      still_over.erase(worker.pid());
      execute(supervisor_.replace(a, i, why, now()));
      break;  // one replacement per app at a time
    }
  }
  over_memory_ = std::move(still_over);
}

void Daemon::Impl::wait_signal() {
  signals_.async_wait([this](const std::error_code& ec, int signal) {
    if (ec) return;
    on_signal(signal);
    if (!finished_) wait_signal();
  });
}

void Daemon::Impl::on_signal(int signal) {
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
      sd::notify("STOPPING=1\nSTATUS=stopping: draining every worker");
      execute(supervisor_.stop_all(now()));
      report_reloads();
      finish_if_done();
      break;
    case SIGHUP:
      if (supervisor_.stopping()) {
        spdlog::info("SIGHUP: ignored, clusterd is stopping");
        break;
      }
      spdlog::info("SIGHUP: reloading {}", config_.path);
      reload(std::nullopt, false, {});
      break;
    default:
      break;
  }
}

void Daemon::Impl::reap() {
  while (std::optional<os::Reaped> reaped = os::reap_one()) {
    const SlotId* found = supervisor_.find_pid(reaped->pid);
    if (found == nullptr) {
      spdlog::debug("reaped pid {} (not a worker: an orphan handed to us as subreaper)",
                    reaped->pid);
      continue;
    }
    const SlotId id = *found;
    LaneRuntime& runtime = lane(id);
    drain_notify(id);  // messages sent just before the exit still count (STATUS)
    if (runtime.notify) {
      runtime.notify->close();
      runtime.notify.reset();
    }
    runtime.pidfd.reset();
    collect_spawn_report(id);  // an error was written before the exit, so it is there now
    runtime.spawn_errors.reset();
    runtime.child_memory.reset();  // the child is gone
    // Whatever the worker left behind in its process group goes with it.
    try {
      os::signal_group(reaped->pid, SIGKILL);
    } catch (const std::exception& e) {
      spdlog::warn("{}: killing the rest of process group {}: {}", label(id), reaped->pid,
                   e.what());
    }
    core::ExitStatus status = exit_status_of(reaped->status);
    if (runtime.spawn_error) {
      status = spawn_failure(id, runtime.spawn_error->what(),
                             os::transient_error(runtime.spawn_error->error()));
      runtime.spawn_error.reset();
    } else {
      spdlog::info("{}: pid {} exited ({})", label(id), reaped->pid, status.to_string());
    }
    execute(supervisor_.on(id, core::Exited{status}, now()));
  }
  finish_if_done();
}

void Daemon::Impl::finish_if_done() {
  if (supervisor_.stopping() && supervisor_.no_workers() && !finished_) {
    finished_ = true;
    for (auto& app_slots : slots_) {
      for (auto& slot : app_slots) {
        for (LaneRuntime& l : slot->lanes) {
          for (auto& timer : l.timers) {
            if (timer) timer->cancel();
          }
        }
      }
    }
    signals_.cancel();
    memory_timer_.reset();
    sd_watchdog_.reset();
    control_.reset();
    io_.stop();
  }
}

void Daemon::Impl::execute(std::vector<core::SlotAction> actions) {
  std::deque<core::SlotAction> queue(std::make_move_iterator(actions.begin()),
                                     std::make_move_iterator(actions.end()));
  while (!queue.empty()) {
    core::SlotAction item = std::move(queue.front());
    queue.pop_front();
    std::vector<core::SlotAction> more = perform(item);
    queue.insert(queue.begin(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  if (!reloads_.empty()) report_reloads();
  forget_unused_generations();  // closes the sockets of generations no worker runs any more
  tell_systemd();
}

std::vector<core::SlotAction> Daemon::Impl::perform(const core::SlotAction& item) {
  const SlotId id = item.slot;
  if (const auto* transition = std::get_if<core::Transition>(&item.action)) {
    spdlog::info("{}: {} -> {}: {}", label(id), transition->from, transition->to,
                 transition->reason);
    return {};
  }
  if (std::holds_alternative<core::Retire>(item.action)) {
    retire(id);
    return {};
  }
  if (id.app >= slots_.size() || id.index >= slots_[id.app].size()) return {};
  LaneRuntime& runtime = lane(id);
  if (std::holds_alternative<core::Spawn>(item.action)) return spawn(id);
  if (const auto* signal = std::get_if<core::Signal>(&item.action)) {
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
    std::unique_ptr<asio::steady_timer>& timer = runtime.timers[static_cast<unsigned>(arm->kind)];
    if (!timer) timer = std::make_unique<asio::steady_timer>(io_);
    timer->expires_at(arm->deadline);
    timer->async_wait([this, id, token = arm->token, kind = arm->kind](const std::error_code& ec) {
      if (!ec) execute(supervisor_.on(id, core::TimerFired{token, kind}, now()));
    });
  } else if (const auto* cancel = std::get_if<core::CancelTimer>(&item.action)) {
    if (auto& timer = runtime.timers[static_cast<unsigned>(cancel->kind)]) timer->cancel();
  }
  return {};
}

void Daemon::Impl::watch_notify(SlotId id,
                                std::shared_ptr<asio::local::datagram_protocol::socket> socket) {
  socket->async_wait(asio::socket_base::wait_read, [this, id, socket](const std::error_code& ec) {
    if (ec || !current_notify(id, socket)) return;  // closed, replaced or retired
    drain_notify(id);
    if (current_notify(id, socket)) watch_notify(id, socket);
  });
}

bool Daemon::Impl::current_notify(
    SlotId id, const std::shared_ptr<asio::local::datagram_protocol::socket>& socket) const {
  return slot_exists(id) && slots_[id.app][id.index]->lanes[id.lane].notify == socket;
}

void Daemon::Impl::drain_notify(SlotId id) {
  LaneRuntime& runtime = lane(id);
  if (!runtime.notify) return;
  const std::shared_ptr<asio::local::datagram_protocol::socket> socket = runtime.notify;
  const uid_t worker_uid = runtime.uid;
  const int fd = socket->native_handle();
  for (int i = 0; i < 64; ++i) {  // bounded: a chatty worker cannot starve the loop
    std::optional<os::NotifyDatagram> datagram;
    try {
      datagram = os::read_notify(fd);
    } catch (const std::exception& e) {
      spdlog::warn("{}: notify socket: {}", label(id), e.what());
      return;
    }
    if (!datagram) return;
    if (datagram->uid != 0 && datagram->uid != worker_uid && datagram->uid != getuid()) {
      spdlog::warn("{}: ignored a notify message from uid {} pid {}", label(id), datagram->uid,
                   datagram->pid);
      continue;
    }
    const core::NotifyMessage message = core::parse_notify(datagram->text);
    if (message.status) {
      spdlog::debug("{}: STATUS={}", label(id), *message.status);
      supervisor_.mutable_slot(id).set_status_text(*message.status);
    }
    if (message.stopping) spdlog::info("{}: the worker reports STOPPING=1", label(id));
    std::vector<core::Event> events;
    if (message.watchdog_usec) events.push_back(core::SetWatchdog{*message.watchdog_usec});
    if (message.extend_timeout) events.push_back(core::ExtendTimeout{*message.extend_timeout});
    if (message.watchdog) events.push_back(core::WatchdogPing{});
    if (message.ready) events.push_back(core::Ready{});
    for (const core::Event& event : events) {
      execute(supervisor_.on(id, event, now()));
      if (!current_notify(id, socket)) return;  // the worker is gone, or its slot retired
    }
  }
}

Daemon::Daemon(DaemonOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Daemon::~Daemon() = default;
int Daemon::run() { return impl_->run(); }

}  // namespace clusterd
