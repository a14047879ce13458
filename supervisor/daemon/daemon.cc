// The daemon loop's shell. Every event reaches the core with the time the host read; the actions
// that come back are carried out here, in order (depth first: what an action leads to runs
// before the next one), through the host. Nothing here decides.
#include "supervisor/daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <deque>

#include "supervisor/core/notify_message.h"
#include "supervisor/core/overloaded.h"
#include "supervisor/daemon/names.h"

namespace clusterd::daemon {

namespace {

std::vector<core::AppState> make_apps(const config::Config& config,
                                      const core::AutoInstances& auto_instances) {
  std::vector<core::AppState> apps;
  for (const config::AppSpec& spec : config.apps) {
    core::AppState app;
    app.spec = spec;
    std::tie(app.instances, app.instances_reason) = core::resolve_instances(spec, auto_instances);
    apps.push_back(std::move(app));
  }
  return apps;
}

core::AutoInstances auto_instances(Machine& machine) {
  const os::CpuBudget cpus = machine.cpus();
  return {cpus.count, cpus.reason};
}

// What each kind of action is, for the line about one that failed.
constexpr std::array<const char*, std::variant_size_v<core::Action>> kActionNames = {
    "spawn",
    "signal",
    "arming a timer",
    "cancelling a timer",
    "arming the rollout timer",
    "retiring the slot",
    "the transition's record",
    "the notice's record",
    "the ready probe"};

TimerKey lane_key(core::LaneId id, core::LaneTimer timer) {
  return {TimerKey::Kind::Lane, id.app, id.index, id.lane, timer};
}

}  // namespace

Daemon::Daemon(HostRoles host, DaemonOptions options)
    : host_(host),
      reloader_(std::move(options.config)),
      supervisor_(make_apps(reloader_.config(), auto_instances(host.machine))),
      runtimes_(spawn_context(host.machine, host.occupancy, options.inherited_nofile)),
      listeners_(host.sockets, host.machine, host.systemd, host.occupancy),
      timers_(host.timers),
      observer_(host.clock, host.machine, host.sampling, reloader_.config().path, host.clock.now()),
      lifecycle_(host.clock, supervisor_, observer_.counters()),
      output_(host.sinks, host.clock),
      systemd_(host.systemd, host.clock, options.fd_store),
      clocks_(host.timers, host.clock, host.sampling, host.machine, host.files),
      upgrader_(host.upgrade, host.systemd, std::move(options.argv), host.upgrade.own_binary(),
                host.clock.now()),
      endpoints_(host.endpoints, control_handler(*this), http_handler(*this)) {
  const config::Config& config = reloader_.config();
  listeners_.adopt_passed();
  // What a killed predecessor left holding our addresses may be ended until the workers start.
  listeners_.occupied().starting(config.control.socket + ".instance");
  // Before the loop runs, a blocking lookup is fine (and a slow NSS only delays the start).
  const os::ResolvedNames names = host_.configs.lookup_names(names_of(config));
  if (const auto errors = name_errors(config, names); !errors.empty()) {
    throw std::runtime_error(describe(errors));
  }
  const std::vector<int> cpus = host_.machine.cpus().allowed;
  for (const core::AppState& app : supervisor_.apps()) {
    add_app_runtime(app.spec, cpus);
    const std::optional<os::Ids> ids = ids_for(app.spec, names, host_.machine.self_uid());
    make_app_dirs(app.spec, ids);
    runtimes_.generations(runtimes_.size() - 1)
        .emplace(app.generation,
                 listeners_.prepare(app.spec, app.instances, nullptr, nullptr, ids, names));
  }
  listeners_.close_unclaimed_passed();
  migrate_queues();
  output_.configure(config);
  endpoints_.open_control(control_options(config.control, names));
  if (config.metrics.address)
    endpoints_.use_metrics(endpoints_.open_metrics(*config.metrics.address));
  listeners_.occupied().started();  // this master is the one to end leftovers of from now on
}

Daemon::~Daemon() = default;

control::Handler Daemon::control_handler(Daemon& daemon) {
  return [&daemon](const control::Request& request, const control::Peer& peer,
                   control::ReplyPtr reply) { daemon.on_request(request, peer, std::move(reply)); };
}

HttpHandler Daemon::http_handler(Daemon& daemon) {
  return [&daemon](const HttpRequest& request) {
    return daemon.observer_.serve(request, daemon.supervisor_,
                                  daemon.lifecycle_.events().recorded(),
                                  [&daemon] { return daemon.snapshot(nullptr, false); });
  };
}

// What the daemon holds for an app besides the core's state, at the start, added by a reload, or
// taken over.
void Daemon::add_app_runtime(const config::AppSpec& spec, std::vector<int> cpus) {
  runtimes_.add_app(std::move(cpus));
  clocks_.follow.add_app(spec.auto_follow);
  clocks_.schedules.add_app(spec.restart_schedule);
  clocks_.watches.add_app(spec.name, spec.watch, spec.cwd);
}

// A worker with `user:` gets its own directory in each of the master's service directories.
void Daemon::make_app_dirs(const config::AppSpec& spec, const std::optional<os::Ids>& ids) {
  if (!ids) return;
  for (const auto& [name, dir] : app_dirs(spec, runtimes_.context())) {
    host_.machine.make_private_dir(dir, ids->uid, ids->gid);
  }
}

void Daemon::start() {
  spdlog::info("{} app{} to start", supervisor_.apps().size(),
               supervisor_.apps().size() == 1 ? "" : "s");
  for (const core::AppState& app : supervisor_.apps()) {
    spdlog::info("{}: {} instance{} ({})", app.spec.name, app.instances,
                 app.instances == 1 ? "" : "s", app.instances_reason);
  }
  execute(supervisor_.start_all(host_.clock.now()));  // arms the memory check too (after_actions)
  clocks_.follow.arm(supervisor_);
  clocks_.schedules.arm(supervisor_);
  clocks_.watches.arm(supervisor_);
}

void Daemon::on_signal(int signal) {
  switch (signal) {
    case SIGTERM:
    case SIGINT:
      stop_all(signal == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    case SIGUSR1:
      spdlog::info("SIGUSR1: reopening the log files");
      host_.sinks.log_files_reopen();
      break;
    case SIGUSR2:
      spdlog::info("SIGUSR2: upgrading the master to its binary");
      upgrade(std::nullopt, nullptr);
      break;
    case SIGHUP:
      if (supervisor_.stopping()) {
        spdlog::info("SIGHUP: ignored, clusterd is stopping");
        break;
      }
      spdlog::info("SIGHUP: reloading {}", reloader_.config().path);
      reload(std::nullopt, false, nullptr);
      break;
    default:
      break;
  }
}

void Daemon::on_exit(WorkerHandle worker, const core::ExitStatus& reaped) {
  core::ExitStatus status = reaped;
  const std::string words = core::last_words(output_.take_last_lines(worker));
  if (!status.success()) status.last_words = words;  // a clean exit needs no why
  host_.probes.cancel_probe(worker);                 // no probe outlives its worker
  const std::optional<core::LaneId> id = workers_.remove(worker);
  if (!id) return;
  lifecycle_.exited(*id, status);
  execute(supervisor_.on(*id, core::Exited{status, host_.clock.random()}, host_.clock.now()));
  finish_if_done();
}

void Daemon::on_output(WorkerHandle worker, OutputStream stream, std::string_view bytes) {
  output_.bytes(worker, stream, bytes);
}

void Daemon::on_output_end(WorkerHandle worker, OutputStream stream) {
  output_.end(worker, stream);
}

void Daemon::on_notify(WorkerHandle worker, const NotifyDatagram& datagram) {
  const std::optional<core::LaneId> id = workers_.slot_of(worker);
  if (!id) return;
  const os::NotifySender& from = datagram.sender;
  core::NotifySender sender;
  sender.uid = from.uid;
  sender.pid = from.pid;
  sender.pidfds = from.pidfds;
  sender.pidfd = from.pidfd;
  sender.worker = from.worker;
  sender.alive = from.alive;
  sender.cgroup = from.cgroup;
  sender.session = from.session;
  sender.in_session = from.in_session;
  sender.below = from.below;
  const core::NotifyWorker owner{workers_.uid_of(worker), workers_.cgroup_of(worker)};
  if (std::optional<std::string> why =
          core::refuse_notify(sender, owner, host_.machine.self_uid())) {
    notify_rejected(*id, *why, datagram.late);
    return;
  }
  const core::NotifyMessage message = core::parse_notify(datagram.text);
  std::vector<core::Event> events;
  if (message.status) {
    spdlog::debug("{}: STATUS={}", lifecycle_.label(*id), *message.status);
    events.push_back(core::StatusText{*message.status});
  }
  if (message.watchdog_usec) events.push_back(core::SetWatchdog{*message.watchdog_usec});
  if (message.extend_timeout) events.push_back(core::ExtendTimeout{*message.extend_timeout});
  if (message.watchdog) events.push_back(core::WatchdogPing{});
  if (message.ready) events.push_back(core::Ready{});
  if (message.stopping) events.push_back(core::WorkerStopping{});
  for (const core::Event& event : events) {
    execute(supervisor_.on(*id, event, host_.clock.now()));
    if (workers_.slot_of(worker) != id) return;  // the worker's lane is gone
  }
}

void Daemon::on_timer(const TimerKey& key) {
  const core::TimePoint now = host_.clock.now();
  switch (key.kind) {
    case TimerKey::Kind::Lane: {
      const std::optional<unsigned> token = timers_.fired(key);
      if (!token) return;
      execute(
          supervisor_.on({key.app, key.index, key.lane}, core::TimerFired{key.timer, *token}, now));
      break;
    }
    case TimerKey::Kind::Rollout: {
      const std::optional<unsigned> token = timers_.fired(key);
      if (!token) return;
      execute(supervisor_.on(core::RolloutTimerFired{key.app, *token}, now));
      break;
    }
    case TimerKey::Kind::Memory:
      for (const MemoryWatch::Replace& r : clocks_.memory.fired(supervisor_, workers_)) {
        replace_for_memory(r.verdict, r.pid);
      }
      clocks_.memory.arm(supervisor_, workers_);
      break;
    case TimerKey::Kind::AutoFollow:
      follow(key.app);
      break;
    case TimerKey::Kind::Schedule:
      if (clocks_.schedules.fired(key.app, supervisor_))
        rolling_restart(key.app, "restart_schedule");
      break;
    case TimerKey::Kind::Watch:
      if (clocks_.watches.fired(key.app, supervisor_)) rolling_restart(key.app, "watch");
      break;
  }
  finish_if_done();
}

void Daemon::execute(std::vector<core::SlotAction> actions) {
  std::deque<core::SlotAction> queue(std::make_move_iterator(actions.begin()),
                                     std::make_move_iterator(actions.end()));
  while (!queue.empty()) {
    core::SlotAction item = std::move(queue.front());
    queue.pop_front();
    std::vector<core::SlotAction> more;
    // Each action is its own exception boundary: the core has moved already, so one the host
    // failed at is logged and the rest of the batch goes on. What can become a core event does
    // (a spawn that throws is the worker's SpawnFailed exit: spawn()); a signal that did not
    // leave is covered by the core's own timeouts (stop_timeout ends in SIGKILL); a timer the
    // host refused is armed again below (LaneTimers::rearm); a socket close never throws (Fd).
    try {
      perform(item, more);
    } catch (const std::exception& e) {
      spdlog::error("{}: {} failed: {}; going on with the rest", lifecycle_.label(item.slot),
                    kActionNames[item.action.index()], e.what());
    }
    queue.insert(queue.begin(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  after_actions();
}

void Daemon::perform(const core::SlotAction& item, std::vector<core::SlotAction>& more) {
  const core::LaneId id = item.slot;
  std::visit(
      core::Overloaded{
          [&](const core::Spawn&) { spawn(id, more); },
          [&](const core::Signal& s) {
            if (s.group) {
              host_.runner.signal_tree(s.pid, s.signal);
            } else if (const std::optional<WorkerHandle> handle = workers_.handle_of(id)) {
              host_.runner.signal(*handle, s.signal);
            }
            spdlog::debug("{}: sent {} to {}{}", lifecycle_.label(id), core::signal_name(s.signal),
                          s.group ? "the tree of pid " : "pid ", s.pid);
          },
          [&](const core::ArmTimer& t) { timers_.arm(lane_key(id, t.timer), t.token, t.deadline); },
          [&](const core::CancelTimer& t) { timers_.cancel(lane_key(id, t.timer)); },
          [&](const core::ArmRolloutTimer& t) {
            timers_.arm({TimerKey::Kind::Rollout, id.app, 0, 0, core::LaneTimer::State}, t.token,
                        t.deadline);
          },
          [&](const core::Retire&) { retire(id); },
          [&](const core::Transition& t) { lifecycle_.transition(id, t); },
          [&](const core::Notice& n) { lifecycle_.notice(id, n); },
          [&](const core::Probe&) { probe(id); },
      },
      item.action);
}

void Daemon::spawn(core::LaneId id, std::vector<core::SlotAction>& more) {
  const core::TimePoint now = host_.clock.now();
  const config::AppSpec& spec = supervisor_.spec(id);
  const core::Lane& lane = supervisor_.lane(id);
  Generation* gen = nullptr;
  SpawnRequest request;
  StartedWorker spawned;
  try {
    gen = &runtimes_.generation_of(id, supervisor_);
    // A slot whose reuseport sockets went when it was retired, and that a failed reload gave
    // back (core: roll_back), gets them again.
    auto grown = listeners_.grow(*gen, id.index + 1);
    const bool bound = std::any_of(grown.begin(), grown.end(), [](const auto& g) {
      return std::any_of(g.second.begin(), g.second.end(),
                         [](const Fd& fd) { return static_cast<bool>(fd); });
    });
    listeners_.install(std::move(grown));
    if (bound) systemd_.sockets_changed();
    request = runtimes_.request(id, supervisor_, *gen, host_.machine.nofile_hard_limit());
    request.capture_output = output_.mode_of(spec.logs) != config::LogSpec::Mode::Inherit;
    listeners_.listen_for(*gen, id.index);  // a socket nobody served may have stopped
    spawned = host_.runner.spawn(request);
  } catch (const std::exception& e) {
    // No worker: its lane hears of a spawn that failed. SpawnFailure says whose fault that was;
    // anything else (no socket for the slot, a host that threw) is the master's.
    const auto* failure = dynamic_cast<const SpawnFailure*>(&e);
    const core::ExitStatus::Blame blame =
        failure != nullptr ? failure->blame() : core::ExitStatus::Blame::Master;
    lifecycle_.spawn_failed(id, e.what(), blame);
    more = supervisor_.on(
        id, core::Exited{core::ExitStatus::spawn_failed(e.what(), blame), host_.clock.random()},
        now);
    return;
  }
  // The worker runs: from here its lane hears of it whatever else fails.
  const unsigned uid = gen->ids ? gen->ids->uid : host_.machine.self_uid();
  workers_.add(
      spawned.handle, id, uid,
      spawned.cgroup_id != 0 ? std::optional<std::uint64_t>(spawned.cgroup_id) : std::nullopt,
      spawned.cgroup_path, spawned.memory_events);
  try {
    if (request.capture_output) {
      output_.attach(spawned.handle, {spec.name, id.index, lane.generation(), spawned.pid, uid,
                                      gen->ids ? gen->ids->gid : host_.machine.self_gid()});
    }
    lifecycle_.spawned(id, spawned.pid, request.cpu);
  } catch (const std::exception& e) {
    spdlog::error("{}: after spawning pid {}: {}", lifecycle_.label(id), spawned.pid, e.what());
  }
  more = supervisor_.on(id, core::Spawned{spawned.pid}, now);
}

void Daemon::notify_rejected(core::LaneId id, const std::string& why, bool late) {
  observer_.notify_rejected(lifecycle_.label(id), why, late);
}

// After each batch: each step is its own exception boundary too, so a host failing at one (a
// socket that will not listen, systemd's socket, a timer) does not keep the others from running.
void Daemon::after_actions() {
  const auto step = [](const char* what, auto&& run) {
    try {
      run();
    } catch (const std::exception& e) {
      spdlog::error("after a batch of actions: {} failed: {}", what, e.what());
    }
  };
  step("re-arming timers", [&] { timers_.rearm(); });
  step("reporting to reload waiters", [&] {
    if (!reloader_.waiters().empty()) reloader_.waiters().report(supervisor_);
  });
  step("closing unused generations", [&] {
    if (runtimes_.forget_unused(supervisor_)) systemd_.sockets_changed();
  });
  step("syncing listening sockets", [&] { sync_listening(); });
  step("telling systemd", [&] { systemd_.update(supervisor_, runtimes_.targets(supervisor_)); });
  // A worker without memory.high events may have started.
  step("arming the memory check", [&] { clocks_.memory.arm(supervisor_, workers_); });
  // A rollout may have ended: the restart a watch owed it is made now (its own rollout's
  // actions come back here, and find nothing owed).
  step("restarting for watch", [&] {
    for (std::size_t app : clocks_.watches.rollouts_over(supervisor_))
      rolling_restart(app, "watch");
  });
}

void Daemon::on_memory_high(WorkerHandle worker, std::uint64_t current_kb) {
  const std::optional<core::LaneId> id = workers_.slot_of(worker);
  if (!id) return;
  const int pid = supervisor_.lane(*id).pid();
  if (const std::optional<core::MemoryVerdict> verdict =
          core::MemoryPolicy::over_high(supervisor_, {*id, pid, current_kb})) {
    replace_for_memory(*verdict, pid);
  }
  finish_if_done();
}

void Daemon::replace_for_memory(const core::MemoryVerdict& verdict, int pid) {
  // The event names the worker replaced: the one in the slot's serving lane, with its generation.
  control::EventRecord e = lifecycle_.event_for({verdict.app, verdict.index, verdict.lane},
                                                "memory-limit", verdict.reason);
  e.pid = pid;
  lifecycle_.events().record(
      std::move(e), EventLog::Level::Warning,
      fmt::format("{}[{}]: {}; replacing it", supervisor_.apps()[verdict.app].spec.name,
                  verdict.index, verdict.reason));
  execute(
      supervisor_.replace(verdict.app, verdict.index, verdict.reason, host_.clock.now()).actions);
}

void Daemon::stop_all(const char* why) {
  if (supervisor_.stopping()) {
    spdlog::info("{}: already stopping; waiting for the workers to drain", why);
    return;
  }
  spdlog::info("{}: stopping every worker gracefully", why);
  systemd_.stopping();
  execute(supervisor_.stop_all(host_.clock.now()));  // after_actions: no sampling while stopping
  finish_if_done();
}

void Daemon::finish_if_done() {
  if (endpoints_.finished() || !supervisor_.stopping() || !supervisor_.no_workers()) return;
  lifecycle_.events().stop();
  output_.stop();
  endpoints_.finish();
}

}  // namespace clusterd::daemon
