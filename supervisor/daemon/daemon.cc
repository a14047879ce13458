// The daemon loop's shell. Every event reaches the core with the time the host read; the actions
// that come back are carried out here, in order (depth first: what an action leads to runs
// before the next one), through the host. Nothing here decides.
#include "supervisor/daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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

TimerKey lane_key(core::SlotId id, core::LaneTimer timer) {
  return {TimerKey::Kind::Lane, id.app, id.index, id.lane, timer};
}

}  // namespace

Daemon::Daemon(HostRoles host, DaemonOptions options)
    : host_(host),
      config_(std::move(options.config)),
      supervisor_(make_apps(config_, auto_instances(host.machine))),
      listeners_(host.sockets, host.machine, host.systemd, host.occupancy),
      events_(host.clock),
      output_(host.sinks, host.clock),
      sampler_(host.clock, host.machine, host.sampling, config_.path, host.clock.now()),
      systemd_(host.systemd, host.clock, options.fd_store),
      argv_(std::move(options.argv)),
      binary_(host.upgrade.own_binary()),
      fd_store_(options.fd_store),
      started_(host.clock.now()) {
  listeners_.adopt_passed();
  // What a killed predecessor left holding our addresses may be ended until the workers start.
  listeners_.occupied().starting(config_.control.socket + ".instance");
  // Before the loop runs, a blocking lookup is fine (and a slow NSS only delays the start).
  const os::ResolvedNames names = host_.configs.lookup_names(names_of(config_));
  if (const auto errors = name_errors(config_, names); !errors.empty()) {
    throw std::runtime_error(describe(errors));
  }
  spawn_context_.inherited_env = host_.machine.environment();
  spawn_context_.service_dirs = service_dirs(spawn_context_.inherited_env);
  spawn_context_.inherited_nofile = options.inherited_nofile;
  spawn_context_.instance = host_.occupancy.instance_id();
  const std::vector<int> cpus = host_.machine.cpus().allowed;
  for (const core::AppState& app : supervisor_.apps()) {
    AppRuntime runtime;
    runtime.cpus = cpus;
    runtime.auto_follow = app.spec.auto_follow;
    const std::optional<os::Ids> ids = ids_for(app.spec, names, host_.machine.self_uid());
    make_app_dirs(app.spec, ids);
    runtime.generations.emplace(
        app.generation, listeners_.prepare(app.spec, app.instances, nullptr, nullptr, ids, names));
    apps_.push_back(std::move(runtime));
  }
  listeners_.close_unclaimed_passed();
  migrate_queues();
  output_.configure(config_);
  open_control(names);
  if (config_.metrics.address) metrics_ = open_metrics(*config_.metrics.address);
  listeners_.occupied().started();  // this master is the one to end leftovers of from now on
}

Daemon::~Daemon() {
  if (metrics_) host_.endpoints.close_metrics(*metrics_);
  if (control_) host_.endpoints.close_control(*control_);
}

// A worker with `user:` gets its own directory in each of the master's service directories.
void Daemon::make_app_dirs(const config::AppSpec& spec, const std::optional<os::Ids>& ids) {
  if (!ids) return;
  for (const auto& [name, dir] : app_dirs(spec, spawn_context_)) {
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
  arm_auto_follow();
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
      spdlog::info("SIGHUP: reloading {}", config_.path);
      reload(std::nullopt, false, nullptr);
      break;
    default:
      break;
  }
}

void Daemon::on_exit(WorkerHandle worker, const core::ExitStatus& status) {
  const std::optional<core::SlotId> id = workers_.remove(worker);
  if (!id) return;
  on_exited(*id, status);
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
  const std::optional<core::SlotId> id = workers_.slot_of(worker);
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
    spdlog::debug("{}: STATUS={}", label(*id), *message.status);
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
      const auto it = timers_.find(key);
      if (it == timers_.end()) return;
      const unsigned token = it->second.token;
      timers_.erase(it);
      execute(
          supervisor_.on({key.app, key.index, key.lane}, core::TimerFired{key.timer, token}, now));
      break;
    }
    case TimerKey::Kind::Rollout: {
      const auto it = timers_.find(key);
      if (it == timers_.end()) return;
      const unsigned token = it->second.token;
      timers_.erase(it);
      execute(supervisor_.on(core::RolloutTimerFired{key.app, token}, now));
      break;
    }
    case TimerKey::Kind::Memory:
      memory_timer_armed_ = false;
      check_memory();
      arm_memory_check();
      break;
    case TimerKey::Kind::AutoFollow:
      follow(key.app);
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
    perform(item, more);
    queue.insert(queue.begin(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  after_actions();
}

void Daemon::perform(const core::SlotAction& item, std::vector<core::SlotAction>& more) {
  const core::SlotId id = item.slot;
  std::visit(
      core::Overloaded{
          [&](const core::Spawn&) { spawn(id, more); },
          [&](const core::Signal& s) {
            if (s.group) {
              host_.runner.signal_tree(s.pid, s.signal);
            } else if (const std::optional<WorkerHandle> handle = workers_.handle_of(id)) {
              host_.runner.signal(*handle, s.signal);
            }
            spdlog::debug("{}: sent {} to {}{}", label(id), core::signal_name(s.signal),
                          s.group ? "the tree of pid " : "pid ", s.pid);
          },
          [&](const core::ArmTimer& t) {
            timers_[lane_key(id, t.timer)] = {t.token, t.deadline};
            host_.timers.arm(lane_key(id, t.timer), t.deadline);
          },
          [&](const core::CancelTimer& t) {
            timers_.erase(lane_key(id, t.timer));
            host_.timers.cancel(lane_key(id, t.timer));
          },
          [&](const core::ArmRolloutTimer& t) {
            const TimerKey key{TimerKey::Kind::Rollout, id.app, 0, 0, core::LaneTimer::State};
            timers_[key] = {t.token, t.deadline};
            host_.timers.arm(key, t.deadline);
          },
          [&](const core::Retire&) { retire(id); },
          [&](const core::Transition& t) { on_transition(id, t); },
          [&](const core::Notice& n) { on_notice(id, n); },
      },
      item.action);
}

void Daemon::spawn(core::SlotId id, std::vector<core::SlotAction>& more) {
  const core::TimePoint now = host_.clock.now();
  const config::AppSpec& spec = supervisor_.spec(id);
  const core::Lane& lane = supervisor_.lane(id);
  try {
    AppRuntime& app = apps_[id.app];
    const auto gen = app.generations.find(lane.generation());
    if (gen == app.generations.end()) {
      throw SpawnFailure("generation " + std::to_string(lane.generation()) + " is not prepared",
                         core::ExitStatus::Blame::Master);
    }
    SpawnRequest request;
    try {
      // A slot whose reuseport sockets went when it was retired, and that a failed reload gave
      // back (core: roll_back), gets them again.
      auto grown = listeners_.grow(gen->second, id.index + 1);
      const bool bound = std::any_of(grown.begin(), grown.end(), [](const auto& g) {
        return std::any_of(g.second.begin(), g.second.end(),
                           [](const Fd& fd) { return static_cast<bool>(fd); });
      });
      listeners_.install(std::move(grown));
      if (bound) systemd_.sockets_changed();
      spawn_context_.nofile_hard_now = host_.machine.nofile_hard_limit();
      request = spawn_request(spec, gen->second, id.index, supervisor_.apps()[id.app].instances,
                              app.cpus, spawn_context_);
    } catch (const std::runtime_error& e) {
      throw SpawnFailure(e.what(), core::ExitStatus::Blame::Master);
    }
    request.cgroup = supervisor_.apps()[id.app].spec.name + "/" + std::to_string(id.index);
    request.limits = spec.cgroup_limits;
    request.memory_high = spec.max_memory.value_or(0);
    request.capture_output = output_.mode_of(spec.logs) != config::LogSpec::Mode::Inherit;
    listeners_.listen_for(gen->second, id.index);  // a socket nobody served may have stopped
    const Spawned spawned = host_.runner.spawn(request);
    const unsigned uid = gen->second.ids ? gen->second.ids->uid : host_.machine.self_uid();
    workers_.add(
        spawned.handle, id, uid,
        spawned.cgroup_id != 0 ? std::optional<std::uint64_t>(spawned.cgroup_id) : std::nullopt,
        spawned.cgroup_path, spawned.memory_events);
    if (request.capture_output) {
      output_.attach(spawned.handle,
                     {spec.name, id.index, lane.generation(), spawned.pid, uid,
                      gen->second.ids ? gen->second.ids->gid : host_.machine.self_gid()});
    }
    on_spawned(id, spawned.pid, request.cpu);
    more = supervisor_.on(id, core::Spawned{spawned.pid}, now);
  } catch (const SpawnFailure& e) {
    log_spawn_failure(id, e.what(), e.blame());
    more = supervisor_.on(
        id, core::Exited{core::ExitStatus::spawn_failed(e.what(), e.blame()), host_.clock.random()},
        now);
  }
}

// A flood of forged datagrams must not become a flood of log lines: the first of each minute is
// logged, the others counted and summed up in the next line.
void Daemon::notify_rejected(core::SlotId id, const std::string& why, bool late) {
  ++notify_rejected_total_;
  if (late) {
    // Read once its worker was dead, it could change nothing: often a process of the worker's,
    // killed with it before the master could place it (systemd-notify among them).
    spdlog::debug("{}: ignored a notify message read after the worker exited, {}", label(id), why);
    return;
  }
  const core::TimePoint now = host_.clock.now();
  if (now < notify_log_next_) {
    ++notify_rejected_quiet_;
    return;
  }
  const std::string more =
      notify_rejected_quiet_ == 0
          ? ""
          : fmt::format(" ({} more rejected since the last such line)", notify_rejected_quiet_);
  spdlog::warn("{}: ignored a notify message {}{}", label(id), why, more);
  notify_rejected_quiet_ = 0;
  notify_log_next_ = now + std::chrono::minutes(1);
}

void Daemon::after_actions() {
  if (!reload_waiters_.empty()) reload_waiters_.report(supervisor_);
  forget_unused_generations();
  sync_listening();
  systemd_.update(supervisor_, target_generations());
  arm_memory_check();  // a worker without memory.high events may have started
}

// Closes the sockets of generations no lane runs any more.
void Daemon::forget_unused_generations() {
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    const core::AppState& state = supervisor_.apps()[a];
    std::map<unsigned, Generation>& gens = apps_[a].generations;
    for (auto it = gens.begin(); it != gens.end();) {
      bool live = !state.removed && state.specs.count(it->first) != 0;
      for (const core::Slot& slot : state.slots) {
        for (const core::Lane& lane : slot.lanes) {
          live = live || (lane.generation() == it->first && lane.state() != core::LaneState::Idle);
        }
      }
      if (live) {
        ++it;
      } else {
        it = gens.erase(it);
        systemd_.sockets_changed();
      }
    }
  }
}

std::vector<const Generation*> Daemon::target_generations() const {
  std::vector<const Generation*> out;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    const core::AppState& state = supervisor_.apps()[a];
    if (state.removed) continue;
    const auto gen = apps_[a].generations.find(state.generation);
    if (gen != apps_[a].generations.end()) out.push_back(&gen->second);
  }
  return out;
}

bool Daemon::memory_sampling_needed() const {
  for (std::size_t a = 0; a < supervisor_.apps().size(); ++a) {
    const core::AppState& app = supervisor_.apps()[a];
    if (app.removed || !app.spec.max_memory) continue;
    for (unsigned i = 0; i < app.slots.size(); ++i) {
      for (unsigned l = 0; l < 2; ++l) {
        if (app.slots[i].lanes[l].pid() == 0) continue;
        const std::optional<WorkerHandle> handle = workers_.handle_of({a, i, l});
        if (!handle || !workers_.memory_events_of(*handle)) return true;
      }
    }
  }
  return false;
}

void Daemon::arm_memory_check() {
  std::optional<core::Duration> interval = core::MemoryPolicy::interval(supervisor_);
  const TimerKey key{TimerKey::Kind::Memory, 0, 0, 0, core::LaneTimer::State};
  if (interval && !memory_sampling_needed()) interval.reset();  // the kernel tells us instead
  if (!interval) {
    if (memory_timer_armed_) host_.timers.cancel(key);
    memory_timer_armed_ = false;
    return;
  }
  if (memory_timer_armed_) return;
  host_.timers.arm(key, core::later(host_.clock.now(), *interval));
  memory_timer_armed_ = true;
}

void Daemon::check_memory() {
  const std::vector<core::SlotId> watched = core::MemoryPolicy::watched(supervisor_);
  if (watched.empty()) return;
  std::vector<int> pids;
  std::vector<std::string> cgroups;
  std::vector<core::SlotId> sampled;  // those whose memory.high the host does not report
  for (const core::SlotId& id : watched) {
    const std::optional<WorkerHandle> handle = workers_.handle_of(id);
    if (handle && workers_.memory_events_of(*handle)) continue;
    sampled.push_back(id);
    pids.push_back(supervisor_.lane(id).pid());
    cgroups.push_back(cgroup_of(id));
  }
  if (sampled.empty()) return;
  const ProcessSample sample = host_.sampling.sample(pids, cgroups, true, false);
  std::vector<core::MemoryReading> readings;
  for (std::size_t k = 0; k < sampled.size() && k < sample.workers.size(); ++k) {
    if (!sample.workers[k].second.alive) continue;
    readings.push_back({sampled[k], sample.workers[k].first, sample.workers[k].second.tree_rss_kb});
  }
  for (const core::MemoryVerdict& verdict : memory_.check(supervisor_, readings)) {
    int pid = 0;
    for (const core::MemoryReading& reading : readings) {
      if (reading.slot == core::SlotId{verdict.app, verdict.index, verdict.lane}) pid = reading.pid;
    }
    replace_for_memory(verdict, pid);
  }
}

void Daemon::on_memory_high(WorkerHandle worker, std::uint64_t current_kb) {
  const std::optional<core::SlotId> id = workers_.slot_of(worker);
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
  control::EventRecord e =
      event_for({verdict.app, verdict.index, verdict.lane}, "memory-limit", verdict.reason);
  e.pid = pid;
  events_.record(std::move(e), EventLog::Level::Warning,
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
  if (finished_ || !supervisor_.stopping() || !supervisor_.no_workers()) return;
  finished_ = true;
  events_.stop();
  output_.stop();
  if (control_) host_.endpoints.close_control(*control_);
  control_.reset();
  spdlog::info("clusterd stopped");
  host_.endpoints.quit();
}

std::string Daemon::label(core::SlotId id) const {
  const core::AppState& app = supervisor_.apps()[id.app];
  if (id.index >= app.slots.size()) return fmt::format("{}[{}]", app.spec.name, id.index);
  return fmt::format("{}[{}] gen {}", app.spec.name, id.index, supervisor_.lane(id).generation());
}

}  // namespace clusterd::daemon
