// A live upgrade of the master (docs/upgrade.md). The old master writes down everything it holds
// (UpgradeState), has the new binary rehearse reading it, then execs it in place: same pid, so
// the workers stay its children and systemd's MAINPID stays right. The new master takes it all
// over before its loop runs. Every refusal leaves the old master exactly as it was.
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "supervisor/daemon/adopter.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/daemon/names.h"
#include "supervisor/daemon/upgrade_handshake.h"
#include "supervisor/daemon/upgrade_state.h"

namespace clusterd::daemon {

void Daemon::upgrade_command(const control::Request& request, const control::Peer& peer,
                             control::ReplyPtr reply) {
  // The binary runs as the master. An admin by control.admin or control.group acts on the apps
  // the config (root's file) names; choosing code to run as the master is root's (or the
  // daemon's own user's), as replacing the binary on disk would be.
  if (request.binary && peer.uid != 0 && peer.uid != host_.machine.self_uid()) {
    reply->finish(control::encode_error(
        "upgrade failed: --binary is for root or the daemon's own user (uid " +
        std::to_string(host_.machine.self_uid()) + "): the binary runs as the master; uid " +
        std::to_string(peer.uid) + " may upgrade to the binary the master was started from"));
    return;
  }
  upgrade(request.binary, std::move(reply));
}

void Daemon::upgrade(const std::optional<std::string>& binary, control::ReplyPtr reply) {
  const std::string path = binary ? *binary : upgrader_.binary();
  const auto refuse = [&](const std::string& why) {
    spdlog::error("upgrade to {} failed: {}; this master goes on", path, why);
    if (reply) reply->finish(control::encode_error("upgrade failed: " + why));
  };
  if (supervisor_.stopping()) return refuse("clusterd is stopping");
  if (reloader_.resolving()) return refuse("a reload waits for its name lookups; retry");
  if (!reloader_.waiters().empty()) return refuse("a client waits for a reload to finish; retry");
  if (const std::optional<std::string> blocker = host_.upgrade.upgrade_blocker()) {
    return refuse(*blocker + "; retry");
  }
  if (path.empty()) return refuse("the running binary's path is unknown; name one");
  std::string text;
  UpgradeState state;
  try {
    state = hand_over_state(reply ? reply->handover_fd() : -1);
    text = encode_upgrade_state(state);
  } catch (const std::exception& e) {
    return refuse(std::string("writing the state: ") + e.what());
  }
  spdlog::info("upgrade: {} rehearses taking over ({} workers, {} bytes of state)", path,
               state.workers.size(), text.size());
  refuse(upgrader_.run(path, text, state.fds()));
}

UpgradeState Daemon::hand_over_state(int reply_fd) const {
  const config::Config& config = reloader_.config();
  if (!config.text) throw std::runtime_error("the running config's text is unknown");
  UpgradeState s;
  s.version = CLUSTERD_VERSION;
  s.argv = upgrader_.argv();
  s.binary = upgrader_.binary();
  s.upgraded_at_ms = upgrader_.upgraded_at_ms();
  s.config_path = config.path;
  s.config_text = *config.text;
  s.control_socket = config.control.socket;
  s.started = upgrader_.started();
  s.upgrades = upgrader_.upgrades();
  s.fd_store = systemd_.fd_store();
  s.inherited_nofile = runtimes_.context().inherited_nofile;
  s.reply_fd = reply_fd;
  s.control_fd = endpoints_.control_fd();
  s.control_options = endpoints_.control_options();
  s.metrics_fd = endpoints_.metrics_fd();
  s.notify_dir = host_.upgrade.notify_dir();
  s.cgroup_root = host_.upgrade.cgroup_root();
  s.cgroup_mode = host_.machine.cgroup_mode();
  s.stopping = supervisor_.stopping();
  s.next_token = supervisor_.next_token();
  s.apps = supervisor_.apps();
  std::map<const Listener*, std::size_t> seen;
  for (std::size_t a = 0; a < runtimes_.size(); ++a) {
    for (const auto& [number, gen] : runtimes_.generations(a)) {
      HandedGeneration handed{a, number, gen.executable, gen.ids, {}};
      for (std::size_t l = 0; l < gen.listeners.size(); ++l) {
        const Listener* listener = gen.listeners[l].get();
        const auto [it, first] = seen.emplace(listener, s.listeners.size());
        if (first) {
          HandedListener out{a, number, l, {}, listeners_.created_file(listener->spec.address)};
          for (const Fd& fd : listener->fds) out.fds.push_back(fd.get());
          s.listeners.push_back(std::move(out));
        }
        handed.listeners.push_back(it->second);
      }
      s.generations.push_back(std::move(handed));
    }
    s.followed.push_back(clocks_.follow.followed(a));
    s.auto_follow.push_back(clocks_.follow.interval(a));
  }
  for (const WorkerHandle handle : workers_.handles()) {
    s.workers.push_back({*workers_.slot_of(handle), workers_.uid_of(handle),
                         workers_.cgroup_of(handle), host_.upgrade.hand_over(handle)});
  }
  for (const auto& [key, timer] : timers_.armed()) {
    s.timers.push_back({key, timer.token, timer.deadline});
  }
  s.start_reasons = lifecycle_.start_reasons();
  s.made_sockets = listeners_.adoption().hand_over();
  return s;
}

namespace {

config::Config parse_running(const UpgradeState& state) {
  config::ParseResult parsed = config::parse_config(state.config_text, state.config_path);
  if (!parsed.config) {
    throw std::runtime_error("the running config does not parse: " + describe(parsed.errors));
  }
  parsed.config->control.socket = state.control_socket;
  return std::move(*parsed.config);
}

// An app's restart_schedule and watch in the running config (a reload changes them without a
// generation).
const config::AppSpec* running_spec(const config::Config& config, const std::string& app) {
  for (const config::AppSpec& spec : config.apps) {
    if (spec.name == app) return &spec;
  }
  return nullptr;
}

}  // namespace

Daemon::Daemon(HostRoles host, UpgradeState state)
    : host_(host),
      reloader_(parse_running(state)),
      supervisor_(state.apps, state.stopping, state.next_token),
      runtimes_(spawn_context(host.machine, host.occupancy, state.inherited_nofile)),
      listeners_(host.sockets, host.machine, host.systemd, host.occupancy),
      timers_(host.timers),
      observer_(host.clock, host.machine, host.sampling, reloader_.config().path, state.started),
      lifecycle_(host.clock, supervisor_, observer_.counters()),
      output_(host.sinks, host.clock),
      systemd_(host.systemd, host.clock, state.fd_store),
      clocks_(host.timers, host.clock, host.sampling, host.machine, host.files),
      upgrader_(host.upgrade, host.systemd, state.argv, state.binary, state.started, state.upgrades,
                state.upgraded_at_ms),
      endpoints_(host.endpoints, control_handler(*this), http_handler(*this)) {
  const std::vector<int> cpus = host_.machine.cpus().allowed;
  for (std::size_t a = 0; a < supervisor_.apps().size(); ++a) {
    runtimes_.add_app(cpus);
    clocks_.follow.add_app(state.auto_follow[a], state.followed[a]);
    // The running config's schedule and watch (a reload changes them without a new generation).
    const std::string& name = supervisor_.apps()[a].spec.name;
    const config::AppSpec* running = running_spec(reloader_.config(), name);
    clocks_.schedules.add_app(running ? running->restart_schedule : std::nullopt);
    clocks_.watches.add_app(name, running ? running->watch : std::nullopt,
                            running ? running->cwd : supervisor_.apps()[a].spec.cwd);
  }
  adopt_sockets(state);
  output_.configure(reloader_.config());
  // No name is looked up again (NSS may be slow or down now): the control server keeps the
  // previous master's resolved access list.
  control::ServerOptions control = state.control_options;
  control.adopt_fd = state.control_fd;
  endpoints_.open_control(std::move(control));
  if (const auto& address = reloader_.config().metrics.address) {
    try {
      endpoints_.use_metrics(endpoints_.open_metrics(*address, state.metrics_fd));
    } catch (const std::exception& e) {  // the workers matter more than the endpoint
      spdlog::error("metrics: {}; /metrics is off until a reload", e.what());
    }
  }
  adopt_workers(state);
  // Last, once nothing can throw: from here on this master removes those files at its exit.
  for (const HandedListener& l : state.listeners) {
    if (l.socket_file) {
      listeners_.keep_socket_file(
          state.apps[l.app].specs.at(l.generation).listeners.at(l.index).address);
    }
  }
}

void Daemon::adopt_sockets(const UpgradeState& state) {
  std::vector<std::shared_ptr<Listener>> listeners;
  for (const HandedListener& l : state.listeners) {
    auto listener = std::make_shared<Listener>();
    listener->spec = supervisor_.apps()[l.app].specs.at(l.generation).listeners.at(l.index);
    for (const int fd : l.fds) {
      // A socket of a stopped app, a failed slot or one in a long backoff does not listen; the
      // listening vector says Unknown, and sync_listening() makes each one what it should be.
      const std::string mismatch = host_.sockets.socket_mismatch(fd, listener->spec.address, true);
      if (!mismatch.empty()) {
        const std::string why = "listener " + listener->spec.name + ": fd " + std::to_string(fd) +
                                " is not its socket (" + mismatch + ")";
        if (!state.taking_back) throw std::runtime_error(why);
        spdlog::error("upgrade: taking the state back: {}; kept as it was", why);
      }
      listener->fds.emplace_back(host_.sockets, fd);
    }
    listeners.push_back(std::move(listener));
  }
  listeners_.adoption().take_over(state.made_sockets, state.taking_back);
  for (const HandedGeneration& g : state.generations) {
    Generation gen;
    gen.executable = g.executable;
    gen.ids = g.ids;
    for (const std::size_t l : g.listeners) gen.listeners.push_back(listeners[l]);
    runtimes_.generations(g.app).emplace(g.generation, std::move(gen));
  }
}

void Daemon::adopt_workers(const UpgradeState& state) {
  for (const HandedLaneWorker& w : state.workers) {
    const core::Lane& lane = supervisor_.lane(w.slot);
    if (lane.pid() != w.host.pid) {
      throw std::runtime_error("worker pid " + std::to_string(w.host.pid) +
                               " is not the one its lane runs");
    }
    const WorkerHandle handle = host_.upgrade.adopt(w.host);
    workers_.add(handle, w.slot, w.uid, w.cgroup_id, w.host.cgroup_path, w.host.memory_events);
    if (w.host.out_fd >= 0 || w.host.err_fd >= 0) {
      // Its lines go on where its app's logs: say, as they did before the upgrade.
      const auto& gens = runtimes_.generations(w.slot.app);
      const auto gen = gens.find(lane.generation());
      const std::optional<os::Ids> ids = gen == gens.end() ? std::nullopt : gen->second.ids;
      output_.attach(handle,
                     {supervisor_.apps()[w.slot.app].spec.name, w.slot.index, lane.generation(),
                      w.host.pid, w.uid, ids ? ids->gid : host_.machine.self_gid()});
      if (w.host.out_fd < 0) output_.end(handle, OutputStream::Out);
      if (w.host.err_fd < 0) output_.end(handle, OutputStream::Err);
    }
  }
  for (const HandedTimer& t : state.timers) {
    timers_.arm(t.key, t.token, t.deadline);
  }
  lifecycle_.take_start_reasons(state.start_reasons);
}

void Daemon::resume(const std::string& failed) {
  if (failed.empty()) {
    upgrader_.upgraded(host_.clock.unix_ms());
    const std::string line = "upgraded to clusterd " + std::string(CLUSTERD_VERSION) +
                             " (upgrade " + std::to_string(upgrader_.upgrades()) +
                             "): " + std::to_string(workers_.size()) + " workers taken over";
    control::EventRecord e;
    e.kind = "upgrade";
    e.reason = line;
    lifecycle_.events().record(std::move(e), EventLog::Level::Info, line);
  } else {
    spdlog::error("upgrade failed: {}; the previous binary took its state back", failed);
  }
  clocks_.follow.arm(supervisor_);
  clocks_.schedules.arm(supervisor_);  // from now: a fire during the hand-over is not made up for
  clocks_.watches.arm(supervisor_);    // anew: a change during the hand-over is not seen
  after_actions();                     // READY=1 / STATUS= and the memory check, as before
  finish_if_done();
}

}  // namespace clusterd::daemon
