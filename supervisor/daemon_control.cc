// Control requests: status, scale, start, stop, restart, version, and reload (also SIGHUP).
//
// A reload re-reads the config file and either applies all of it or none of it: parse errors,
// missing commands, unknown users and sockets that cannot be bound are found before anything
// changes, and are the error reply. Then removed apps stop, new apps start, and every changed app
// (or the one named) is rolled to a new generation by the core. The reply waits for the rollouts
// to end, sending progress lines meanwhile, unless the client asked not to wait.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <cstdio>

#include "config/check.h"
#include "config/diff.h"
#include "config/parse.h"
#include "supervisor/control/paths.h"
#include "supervisor/control/protocol.h"
#include "supervisor/daemon_impl.h"
#include "supervisor/os/cpus.h"
#include "supervisor/os/listeners.h"
#include "systemd/notify.h"

namespace clusterd {

namespace {

bool tcp_migrate_req_enabled() {
  std::FILE* f = std::fopen("/proc/sys/net/ipv4/tcp_migrate_req", "r");
  if (f == nullptr) return false;
  const int c = std::fgetc(f);
  std::fclose(f);
  return c == '1';
}

std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

}  // namespace

void Daemon::Impl::open_control(const config::ControlSpec& spec) {
  control::ServerOptions options;
  options.path = spec.socket.empty() ? control::default_socket_path() : spec.socket;
  options.max_clients = spec.max_clients;
  options.idle_timeout = spec.idle_timeout;
  if (!spec.group.empty()) options.group = os::resolve_ids("", spec.group).gid;
  control_ = std::make_unique<control::ControlServer>(
      io_, options,
      [this](const control::Request& request, const control::Peer& peer, Reply reply) {
        handle(request, peer, reply);
      });
  spdlog::info("control socket {}", options.path);
}

void Daemon::Impl::handle(const control::Request& request, const control::Peer& peer,
                          const Reply& reply) {
  using control::Command;
  auto done = [&](const std::string& line) { reply(line, true); };
  const std::size_t* app = nullptr;
  if (request.app) {
    app = supervisor_.find_app(*request.app);
    if (app == nullptr && request.command != Command::Reload) {
      std::vector<std::string> names;
      for (const core::AppState& a : supervisor_.apps()) {
        if (!a.removed) names.push_back(a.spec.name);
      }
      done(control::encode_error("no app named '" + *request.app + "'; apps: " + join(names)));
      return;
    }
  }
  if (request.command == Command::Status) {
    done(control::encode_status(
        sampler_.sample(supervisor_, now(), request.app ? &*request.app : nullptr)));
    // A status of 1024 workers builds about 2 MB of short-lived JSON; hand it back to the
    // kernel once the reply is on its way, so the master's RSS stays what it needs.
    asio::post(io_, [] { malloc_trim(0); });
    return;
  }
  if (request.command == Command::Version) {
    done(control::encode_version(CLUSTERD_VERSION));
    return;
  }
  if (supervisor_.stopping()) {
    done(control::encode_error("clusterd is stopping; no changes accepted"));
    return;
  }
  spdlog::info("control: {}{}{} from uid {} pid {}",
               control::kCommands[static_cast<int>(request.command)].name, request.app ? " " : "",
               request.app ? *request.app : "", peer.uid, peer.pid);
  if (request.command == Command::Reload) {
    reload(request.app, request.wait, reply);
    return;
  }
  const std::string& name = *request.app;
  if (supervisor_.apps()[*app].rollout) {
    done(control::encode_error(name + " is being rolled out; try again when the reload is over"));
    return;
  }
  switch (request.command) {
    case Command::Scale: {
      const unsigned n = *request.instances;
      if (n == 0) {
        done(control::encode_error("scale needs at least 1 instance; use `stop " + name + "`"));
        return;
      }
      const unsigned before = supervisor_.apps()[*app].instances;
      try {
        grow_slots(*app, n);
      } catch (const std::exception& e) {
        done(control::encode_error("cannot scale " + name + " to " + std::to_string(n) + ": " +
                                   e.what()));
        return;
      }
      if (n < before) close_retiring_sockets(*app, n);
      execute(supervisor_.scale(*app, n, now()));
      done(control::encode_done("scaled " + name + " from " + std::to_string(before) + " to " +
                                std::to_string(n)));
      return;
    }
    case Command::Start:
      execute(supervisor_.on_app(*app, core::StartRequested{}, now()));
      done(control::encode_done("starting " + name));
      return;
    case Command::Stop:
      execute(supervisor_.on_app(*app, core::StopRequested{}, now()));
      done(control::encode_done("stopping " + name));
      return;
    case Command::Restart:
      if (request.worker) {
        if (*request.worker >= supervisor_.apps()[*app].instances) {
          done(control::encode_error(name + " has no worker " + std::to_string(*request.worker)));
          return;
        }
        const unsigned lane = supervisor_.apps()[*app].slots[*request.worker].active;
        execute(supervisor_.on({*app, *request.worker, lane}, core::RestartRequested{}, now()));
        done(control::encode_done("restarting " + name + " worker " +
                                  std::to_string(*request.worker)));
        return;
      }
      execute(supervisor_.on_app(*app, core::RestartRequested{}, now()));
      done(control::encode_done("restarting " + name));
      return;
    case Command::Status:
    case Command::Version:
    case Command::Reload:
      break;
  }
}

// Makes room for `n` slots of an app: runtime state and, in reuseport mode, a socket per slot.
// Binds before anything changes, so a failure leaves the app as it was.
void Daemon::Impl::grow_slots(std::size_t a, unsigned n) {
  Generation& gen = apps_[a].generations.at(supervisor_.apps()[a].generation);
  std::vector<std::pair<Listener*, std::vector<os::UniqueFd>>> fresh;
  for (const std::shared_ptr<Listener>& listener : gen.listeners) {
    if (listener->spec.mode != config::ListenMode::ReusePort) continue;
    config::Address address = listener->spec.address;
    if (!listener->fds.empty() && listener->fds[0]) {
      address.port = os::local_port(listener->fds[0].get());
    }
    std::vector<os::UniqueFd> fds;
    for (unsigned i = 0; i < n; ++i) {
      const bool have = i < listener->fds.size() && listener->fds[i];
      fds.push_back(have ? os::UniqueFd()
                         : os::bind_listener(address, listener->spec.backlog, true));
    }
    fresh.emplace_back(listener.get(), std::move(fds));
  }
  for (auto& [listener, fds] : fresh) {
    if (listener->fds.size() < n) listener->fds.resize(n);
    for (unsigned i = 0; i < n; ++i) {
      if (fds[i]) listener->fds[i] = std::move(fds[i]);
    }
  }
  while (slots_[a].size() < n) slots_[a].push_back(std::make_unique<SlotRuntime>());
  store_dirty_ = true;
}

// Scaling down: the master lets go of the reuseport sockets of slots >= n right away, so each
// listener closes as soon as its draining worker closes its copy. With net.ipv4.tcp_migrate_req=1
// the kernel then moves the connections still queued on it to the remaining slots' sockets;
// without it they are reset, and we say so.
void Daemon::Impl::close_retiring_sockets(std::size_t a, unsigned n) {
  bool closed = false;
  for (auto& [number, gen] : apps_[a].generations) {
    for (const std::shared_ptr<Listener>& listener : gen.listeners) {
      if (listener->spec.mode != config::ListenMode::ReusePort) continue;
      for (std::size_t i = n; i < listener->fds.size(); ++i) {
        closed = closed || static_cast<bool>(listener->fds[i]);
        listener->fds[i].reset();
      }
    }
  }
  store_dirty_ = store_dirty_ || closed;
  if (closed && !tcp_migrate_req_enabled()) {
    spdlog::warn(
        "{}: net.ipv4.tcp_migrate_req is 0: connections still queued on the removed slots' "
        "sockets will be reset; set it to 1 (Linux 5.14+) to migrate them",
        supervisor_.apps()[a].spec.name);
  }
}

// A scaled-down slot is gone: drop its runtime state and the master's copy of its sockets.
void Daemon::Impl::retire(core::SlotId id) {
  if (id.app >= slots_.size() || id.index + 1 != slots_[id.app].size()) return;
  slots_[id.app].pop_back();
  store_dirty_ = true;
  for (auto& [number, gen] : apps_[id.app].generations) {
    for (const std::shared_ptr<Listener>& listener : gen.listeners) {
      if (listener->spec.mode == config::ListenMode::ReusePort && listener->fds.size() > id.index) {
        listener->fds.resize(id.index);
      }
    }
  }
}

void Daemon::Impl::reload(const std::optional<std::string>& only, bool wait, Reply reply) {
  sd::notify("RELOADING=1\n" + sd::monotonic_usec() + "\nSTATUS=reloading " + config_.path);
  reloading_ = true;
  auto refuse = [&](const std::string& why) {
    spdlog::error("reload refused, nothing changed: {}", why);
    tell_systemd();  // READY=1 again: the old config keeps running
    if (reply) reply(control::encode_error("reload refused, nothing changed: " + why), true);
  };
  if (supervisor_.rolling()) {
    refuse("a reload is still in progress");
    return;
  }
  // 1. Read and check the whole file; any error refuses the reload.
  config::ParseResult parsed = config::load_config(config_.path);
  if (parsed.config) {
    for (config::ConfigError& e : config::check_environment(*parsed.config)) {
      parsed.errors.push_back(std::move(e));
    }
  }
  if (!parsed.errors.empty()) {
    std::vector<std::string> lines;
    for (const config::ConfigError& e : parsed.errors) lines.push_back(e.to_string());
    refuse(std::to_string(lines.size()) + (lines.size() == 1 ? " error" : " errors") + "\n" +
           join(lines, "\n"));
    return;
  }
  config::Config next = std::move(*parsed.config);
  const config::ConfigDiff diff = config::diff_configs(config_, next);
  if (only) {
    const bool known = std::any_of(next.apps.begin(), next.apps.end(),
                                   [&](const config::AppSpec& a) { return a.name == *only; });
    if (!known) {
      refuse("no app named '" + *only + "' in " + config_.path);
      return;
    }
  }
  auto selected = [&](const std::string& name) { return !only || *only == name; };

  // 2. Prepare everything that can fail: commands, users, sockets, CPU counts.
  const os::CpuBudget cpus = os::detect_cpus();
  struct Plan {
    const config::AppSpec* spec;
    std::optional<std::size_t> index;  // running app, if any
    unsigned instances;
    std::string reason;
    bool roll = false;
    Generation gen;
  };
  std::vector<Plan> plans;
  try {
    for (const config::AppSpec& spec : next.apps) {
      if (!selected(spec.name)) continue;
      const std::size_t* running = supervisor_.find_app(spec.name);
      Plan plan{&spec, running ? std::optional<std::size_t>(*running) : std::nullopt, 0, {}, false,
                {}};
      plan.instances = spec.instances.count ? *spec.instances.count : cpus.count;
      plan.reason =
          spec.instances.count ? std::to_string(plan.instances) + ": set in config" : cpus.reason;
      if (running) {
        const core::AppState& state = supervisor_.apps()[*running];
        config::AppSpec same_count = spec;
        same_count.instances = state.spec.instances;
        plan.roll = only.has_value() || !config::same_app(same_count, state.spec);
        if (plan.roll) {
          const Generation& current = apps_[*running].generations.at(state.generation);
          plan.gen = prepare_generation(spec, std::max(plan.instances, state.instances), &current);
        }
      } else {
        plan.gen = prepare_generation(spec, plan.instances, nullptr);
      }
      plans.push_back(std::move(plan));
    }
  } catch (const std::exception& e) {
    refuse(e.what());  // sockets bound so far close with their Generation
    return;
  }

  // 3. Apply: removed apps stop, new apps start, changed apps scale and roll.
  std::vector<std::string> changes;
  std::vector<std::string> rolled;
  for (const std::string& name : diff.removed) {
    if (!selected(name)) continue;
    if (const std::size_t* index = supervisor_.find_app(name)) {
      execute(supervisor_.remove_app(*index, now()));
      changes.push_back("removed " + name);
    }
  }
  for (Plan& plan : plans) {
    if (!plan.index) {
      core::AppState state;
      state.spec = *plan.spec;
      state.instances = plan.instances;
      state.instances_reason = plan.reason;
      AppRuntime runtime;
      runtime.cpus = cpus.allowed;
      runtime.generations.emplace(state.generation, std::move(plan.gen));
      apps_.push_back(std::move(runtime));
      slots_.emplace_back();
      for (unsigned i = 0; i < plan.instances; ++i) {
        slots_.back().push_back(std::make_unique<SlotRuntime>());
      }
      std::vector<core::SlotAction> actions;
      supervisor_.add_app(std::move(state), now(), actions);
      execute(std::move(actions));
      changes.push_back("added " + plan.spec->name);
      continue;
    }
    const std::size_t a = *plan.index;
    if (plan.instances != supervisor_.apps()[a].instances) {
      const unsigned before = supervisor_.apps()[a].instances;
      grow_slots(a, plan.instances);
      if (plan.instances < before) close_retiring_sockets(a, plan.instances);
      execute(supervisor_.scale(a, plan.instances, now()));
      changes.push_back(plan.spec->name + " instances " + std::to_string(before) + " -> " +
                        std::to_string(plan.instances));
    }
    if (plan.roll) {
      // The generation number is the core's; register the prepared runtime before any spawn.
      const unsigned next_generation = supervisor_.next_generation(a);
      apps_[a].generations[next_generation] = std::move(plan.gen);
      unsigned generation = 0;
      std::vector<core::SlotAction> actions = supervisor_.roll(a, *plan.spec, now(), &generation);
      if (generation != next_generation) {
        spdlog::error("{}: generation mismatch {} != {}", plan.spec->name, generation,
                      next_generation);
      }
      rolled.push_back(plan.spec->name);
      execute(std::move(actions));
    }
  }
  if (diff.control_changed) changes.push_back("control settings need a restart (unchanged)");
  config_ = std::move(next);
  forget_unused_generations();
  arm_memory_check();

  std::string summary = changes.empty() && rolled.empty() ? "nothing changed" : join(changes);
  if (!rolled.empty()) {
    summary += std::string(changes.empty() ? "" : "; ") + "rolling " + join(rolled);
  }
  spdlog::info("reload: {}", summary);
  tell_systemd();  // READY=1 now if nothing rolls; else once the rollouts are over
  if (!reply) return;
  if (!wait || rolled.empty() || !supervisor_.rolling()) {
    std::string outcome = summary;
    bool ok = true;
    if (wait) {
      for (const std::string& name : rolled) {
        const std::size_t* index = supervisor_.find_app(name);
        const core::AppState* state = index ? &supervisor_.apps()[*index] : nullptr;
        if (state && state->last_rollout) {
          outcome += "; " + state->last_rollout->message;
          ok = ok && state->last_rollout->ok;
        }
      }
    }
    reply(ok ? control::encode_done(outcome) : control::encode_error(outcome), true);
    return;
  }
  reloads_.push_back(PendingReload{reply, rolled, summary, {}});
  report_reloads();
}

// Sends progress to the clients waiting on a reload, and the outcome once no rollout is left.
void Daemon::Impl::report_reloads() {
  for (auto it = reloads_.begin(); it != reloads_.end();) {
    bool running = false;
    bool ok = true;
    std::string outcome = it->summary;
    for (const std::string& name : it->apps) {
      const std::size_t* index = supervisor_.find_app(name);
      if (index == nullptr) continue;
      const core::AppState& state = supervisor_.apps()[*index];
      if (state.rollout) {
        running = true;
        const core::Rollout& r = *state.rollout;
        const std::string line = name + ": " + (r.rollback ? "rolling back, " : "") +
                                 std::to_string(r.moved.size()) + "/" + std::to_string(r.total) +
                                 " slots at generation " + std::to_string(r.to);
        if (it->progress[name] != line) {
          it->progress[name] = line;
          it->reply(control::encode_progress(line), false);
        }
      } else if (state.last_rollout) {
        outcome += "; " + state.last_rollout->message;
        ok = ok && state.last_rollout->ok;
      }
    }
    if (running && !supervisor_.stopping()) {
      ++it;
      continue;
    }
    if (supervisor_.stopping()) {
      outcome += "; abandoned: clusterd is stopping";
      ok = false;
    }
    it->reply(ok ? control::encode_done(outcome) : control::encode_error(outcome), true);
    it = reloads_.erase(it);
  }
}

}  // namespace clusterd
