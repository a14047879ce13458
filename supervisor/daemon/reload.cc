// Reload: re-read the config file and apply all of it or none of it.
//  1. read and check the whole file (any error refuses the reload);
//  2. look up its users and groups outside the loop (NSS may be a network service: a slow one
//     delays this reload, never supervision); the reload goes on when the answers are in;
//  3. plan it, once, against the cluster as it is then (core/reload_plan.h: pure; refuses what
//     cannot be done in place), and prepare everything that can fail: commands, credentials,
//     every new socket (bound, not yet used), a moved control socket. Any failure refuses the
//     reload, and what was prepared is closed again as it goes out of scope;
//  4. apply: core calls and installing what was prepared, none of which can fail.
// The reply then waits for the rollouts to end, with progress lines, unless the client asked
// not to wait.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>
#include <tuple>

#include "supervisor/daemon/adopter.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/daemon/names.h"

namespace clusterd::daemon {

struct Daemon::Prepared {
  struct App {
    std::optional<Generation> generation;  // a new app's first, or a rolled app's next
    std::vector<std::pair<Listener*, std::vector<Fd>>> grown;  // the running generation's
  };
  std::vector<App> apps;  // parallel to the plan's apps
  std::optional<control::ServerOptions> control;
  std::optional<int> moved_control;  // a control server on the new socket path
  std::optional<int> metrics;        // the metrics endpoint on its new address
};

void Daemon::refuse_reload(const control::ReplyPtr& reply, const std::string& why) {
  // One log line per line of the reason (a config's errors, one each): the sink escapes a
  // newline inside a message, which would run them together.
  std::string_view rest = why;
  for (bool first = true; !rest.empty() || first; first = false) {
    const std::size_t end = std::min(rest.find('\n'), rest.size());
    if (first) {
      control::EventRecord e;
      e.kind = "reload-refused";
      e.reason = why;
      lifecycle_.events().record(
          std::move(e), EventLog::Level::Error,
          "reload refused, nothing changed: " + std::string(rest.substr(0, end)));
    } else {
      spdlog::error("  {}", rest.substr(0, end));
    }
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  ++observer_.counters().reloads["refused"];
  after_actions();  // READY=1 again: the running config goes on
  if (reply) reply->finish(control::encode_error("reload refused, nothing changed: " + why));
}

void Daemon::reload(const std::optional<std::string>& only, bool wait, control::ReplyPtr reply) {
  if (reloader_.resolving()) {
    if (reply) reply->finish(control::encode_error("a reload is being prepared; try again"));
    return;
  }
  systemd_.reloading(reloader_.config().path);
  if (supervisor_.stopping()) return refuse_reload(reply, "clusterd is stopping");
  config::ParseResult parsed = host_.configs.load_config(reloader_.config().path);
  if (parsed.config) {
    for (config::ConfigError& e : host_.configs.check_environment(*parsed.config)) {
      parsed.errors.push_back(std::move(e));
    }
  }
  if (!parsed.errors.empty()) return refuse_reload(reply, describe(parsed.errors));
  auto next = std::make_shared<config::Config>(std::move(*parsed.config));
  reloader_.resolving_names();
  host_.configs.resolve_names(
      names_of(*next), [this, next, only, wait, reply](os::ResolvedNames names) mutable {
        reloader_.names_resolved();
        finish_reload(std::move(*next), names, only, wait, std::move(reply));
      });
}

void Daemon::finish_reload(config::Config next, const os::ResolvedNames& names,
                           const std::optional<std::string>& only, bool wait,
                           control::ReplyPtr reply) {
  if (supervisor_.stopping()) return refuse_reload(reply, "clusterd is stopping");
  if (const auto errors = name_errors(next, names); !errors.empty()) {
    return refuse_reload(reply, describe(errors));
  }
  const os::CpuBudget cpus = host_.machine.cpus();
  const auto planned =
      core::plan_reload(reloader_.config(), next, supervisor_, {cpus.count, cpus.reason}, only);
  if (const core::Refused* refused = std::get_if<core::Refused>(&planned)) {
    return refuse_reload(reply, refused->reason);
  }
  const core::ReloadPlan& plan = std::get<core::ReloadPlan>(planned);
  std::optional<Prepared> prepared;
  try {
    prepared.emplace(prepare(next, plan, names));
  } catch (const std::exception& e) {
    return refuse_reload(reply, e.what());
  }
  output_.configure(next);  // before the new workers start
  const std::vector<std::string> rolled = apply(std::move(next), plan, std::move(*prepared));
  control::EventRecord e;
  e.kind = "reload";
  e.reason = plan.summary;
  lifecycle_.events().record(std::move(e), EventLog::Level::Info, "reload: " + plan.summary);
  ++observer_.counters().reloads["applied"];
  after_actions();  // READY=1 now if nothing rolls; else once the rollouts are over
  if (!reply) return;
  if (!wait || rolled.empty() || !supervisor_.rolling()) {
    const auto [ok, text] = ReloadWaiters::outcome(
        supervisor_, wait ? rolled : std::vector<std::string>{}, plan.summary);
    reply->finish(ok ? control::encode_done(text) : control::encode_error(text));
    return;
  }
  reloader_.waiters().add(std::move(reply), rolled, plan.summary);
  reloader_.waiters().report(supervisor_);
}

Daemon::Prepared Daemon::prepare(const config::Config& next, const core::ReloadPlan& plan,
                                 const os::ResolvedNames& names) {
  Prepared prepared;
  for (const core::AppPlan& p : plan.apps) {
    const config::AppSpec& spec = next.apps[p.spec];
    Prepared::App app;
    const std::optional<os::Ids> ids = ids_for(spec, names, host_.machine.self_uid());
    make_app_dirs(spec, ids);
    if (!p.running) {
      app.generation = listeners_.prepare(spec, p.instances, nullptr, nullptr, ids, names);
    } else {
      const core::AppState& state = supervisor_.apps()[*p.running];
      const Generation& running = runtimes_.generations(*p.running).at(state.generation);
      if (p.roll) {
        app.generation = listeners_.prepare(spec, p.instances, &running, &p.listeners, ids, names);
      }
      // New slots need sockets in the running generation too: a scale runs it there, and a
      // rollback of a rollout that added slots starts it there.
      if (p.instances > state.instances) app.grown = listeners_.grow(running, p.instances);
    }
    prepared.apps.push_back(std::move(app));
  }
  if (plan.control_changed) {
    prepared.control = control_options(next.control, names);
    if (plan.control_moved) {
      prepared.moved_control = endpoints_.open_moved_control(*prepared.control);
    }
  }
  // Last: nothing after it can fail, so a new endpoint is never left open by a refused reload.
  if (plan.metrics_changed && next.metrics.address) {
    try {
      prepared.metrics = endpoints_.open_metrics(*next.metrics.address);
    } catch (...) {
      if (prepared.moved_control) endpoints_.discard_control(*prepared.moved_control);
      throw;
    }
  }
  return prepared;
}

std::vector<std::string> Daemon::apply(config::Config next, const core::ReloadPlan& plan,
                                       Prepared prepared) {
  const core::TimePoint now = host_.clock.now();
  std::vector<std::string> rolled;
  for (std::size_t a : plan.remove) execute(supervisor_.remove_app(a, now));
  for (std::size_t k = 0; k < plan.apps.size(); ++k) {
    const core::AppPlan& p = plan.apps[k];
    Prepared::App& app = prepared.apps[k];
    const config::AppSpec& spec = next.apps[p.spec];
    if (!p.running) {
      core::AppState state;
      state.spec = spec;
      state.instances = p.instances;
      state.instances_reason = p.instances_reason;
      add_app_runtime(spec, host_.machine.cpus().allowed);
      runtimes_.generations(runtimes_.size() - 1)
          .emplace(state.generation, std::move(*app.generation));
      std::vector<core::SlotAction> actions;
      supervisor_.add_app(std::move(state), now, actions);
      execute(std::move(actions));
      continue;
    }
    const std::size_t a = *p.running;
    clocks_.follow.set_followed(a, p.instances);
    listeners_.install(std::move(app.grown));
    if (p.roll) {
      listeners_.apply_backlogs(*app.generation);
      runtimes_.generations(a)[supervisor_.next_generation(a)] = std::move(*app.generation);
      execute(supervisor_.roll(a, spec, p.instances, p.instances_reason, now).actions);
      rolled.push_back(spec.name);
    } else if (p.scale) {
      if (p.instances < supervisor_.apps()[a].instances) {
        listeners_.scale_down(spec.name, runtimes_.generations(a), p.instances);
      }
      execute(supervisor_.scale(a, p.instances, p.instances_reason, now).actions);
    }
  }
  listeners_.adoption().keep_only(next);
  systemd_.sockets_changed();
  config::Config& running = reloader_.config();
  if (prepared.control) endpoints_.use_control(*prepared.control, prepared.moved_control);
  if (plan.control_changed) running.control = std::move(next.control);
  // What a live upgrade hands over as the running config: control, metrics and logs as this
  // reload left them (each app's own spec travels with its generation).
  running.text = next.text;
  if (plan.metrics_changed) {
    endpoints_.use_metrics(prepared.metrics);
    running.metrics = next.metrics;
  }
  clocks_.memory.arm(supervisor_, workers_);
  migrate_queues();
  // auto_follow is never a reason to replace workers: every kept app takes the new one here.
  for (const config::AppSpec& spec : next.apps) {
    if (const std::optional<std::size_t> a = supervisor_.find_app(spec.name)) {
      clocks_.follow.set_interval(*a, spec.auto_follow);
      clocks_.schedules.set_schedule(*a, spec.restart_schedule);
      clocks_.watches.set_watch(*a, spec.watch, spec.cwd);
    }
  }
  clocks_.follow.arm(supervisor_);
  clocks_.schedules.arm(supervisor_);
  clocks_.watches.arm(supervisor_);  // watches anew what changed, stops a removed app's
  return rolled;
}

}  // namespace clusterd::daemon
