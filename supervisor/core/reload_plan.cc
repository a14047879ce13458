#include "supervisor/core/reload_plan.h"

#include <algorithm>
#include <tuple>

#include "config/diff.h"

namespace clusterd::core {

namespace {

bool master_bound(config::ListenMode mode) { return mode != config::ListenMode::Worker; }

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::vector<ListenerStep> fresh_listeners(const config::AppSpec& spec) {
  std::vector<ListenerStep> steps;
  for (std::size_t l = 0; l < spec.listeners.size(); ++l) {
    steps.push_back({ListenerStep::Kind::Bind, l, std::nullopt, false});
  }
  return steps;
}

}  // namespace

std::pair<unsigned, std::string> resolve_instances(const config::AppSpec& spec,
                                                   const AutoInstances& auto_instances) {
  if (spec.instances.count) {
    return {*spec.instances.count, std::to_string(*spec.instances.count) + ": set in config"};
  }
  // The derivation without its leading count: "affinity 0-3, no cgroup quota".
  const std::string count = std::to_string(auto_instances.count) + ": ";
  const std::string why = auto_instances.reason.starts_with(count)
                              ? auto_instances.reason.substr(count.size())
                              : auto_instances.reason;
  switch (spec.instances.cpus) {
    case config::Instances::Cpus::Auto:
      break;
    case config::Instances::Cpus::Max:
      return {auto_instances.count, count + "max: " + why};
    case config::Instances::Cpus::AllButOne: {
      const unsigned n = auto_instances.count > 1 ? auto_instances.count - 1 : 1;
      return {n, std::to_string(n) + ": -1: all but one of " +
                     std::to_string(auto_instances.count) +
                     (auto_instances.count > 1 ? "" : " (at least 1)") + ": " + why};
    }
  }
  return {auto_instances.count, auto_instances.reason};
}

std::optional<Refused> plan_listeners(const config::AppSpec& running, const config::AppSpec& next,
                                      std::vector<ListenerStep>& steps) {
  steps.clear();
  for (std::size_t l = 0; l < next.listeners.size(); ++l) {
    const config::ListenerSpec& want = next.listeners[l];
    ListenerStep step{ListenerStep::Kind::Bind, l, std::nullopt, false};
    for (std::size_t o = 0; o < running.listeners.size(); ++o) {
      const config::ListenerSpec& have = running.listeners[o];
      if (have.address.text != want.address.text) continue;
      if (have.mode == want.mode) {
        // Same socket; a listener of the same name wins over a renamed one.
        if (step.kind != ListenerStep::Kind::Reuse || have.name == want.name) {
          step = {ListenerStep::Kind::Reuse, l, o, have.backlog != want.backlog};
        }
        continue;
      }
      if (want.address.family == config::Address::Family::Unix) {
        return Refused{"listener " + want.name + ": unix socket " + want.address.text +
                       " cannot change from " + config::to_string(have.mode) + " to " +
                       config::to_string(want.mode) +
                       " mode in one reload (one path, one socket); use a new path, or stop the "
                       "app first"};
      }
      if (!master_bound(want.mode) || !master_bound(have.mode)) continue;
      if (step.kind == ListenerStep::Kind::Bind) step = {ListenerStep::Kind::Beside, l, o, false};
    }
    steps.push_back(step);
  }
  return std::nullopt;
}

std::variant<ReloadPlan, Refused> plan_reload(const config::Config& running,
                                              const config::Config& next,
                                              const Supervisor& supervisor,
                                              const AutoInstances& auto_instances,
                                              const std::optional<std::string>& only) {
  if (supervisor.rolling()) return Refused{"a rollout is still in progress"};
  if (running.cgroups != next.cgroups) {
    return Refused{"cgroups: " + next.cgroups + " (running: " + running.cgroups +
                   ") takes a restart of clusterd; change it back or restart"};
  }
  if (only && std::none_of(next.apps.begin(), next.apps.end(),
                           [&](const config::AppSpec& a) { return a.name == *only; })) {
    return Refused{"no app named '" + *only + "' in " + next.path};
  }
  auto selected = [&](const std::string& name) { return !only || *only == name; };
  ReloadPlan plan;
  std::vector<std::string> changes;
  std::vector<std::string> rolled;
  for (std::size_t a = 0; a < supervisor.apps().size(); ++a) {
    const AppState& app = supervisor.apps()[a];
    if (app.removed || !selected(app.spec.name)) continue;
    const bool kept =
        std::any_of(next.apps.begin(), next.apps.end(),
                    [&](const config::AppSpec& s) { return s.name == app.spec.name; });
    if (!kept) {
      plan.remove.push_back(a);
      changes.push_back("removed " + app.spec.name);
    }
  }
  for (std::size_t s = 0; s < next.apps.size(); ++s) {
    const config::AppSpec& spec = next.apps[s];
    if (!selected(spec.name)) continue;
    AppPlan app;
    app.spec = s;
    app.running = supervisor.find_app(spec.name);
    std::tie(app.instances, app.instances_reason) = resolve_instances(spec, auto_instances);
    if (!app.running) {
      app.listeners = fresh_listeners(spec);
      changes.push_back("added " + spec.name);
      plan.apps.push_back(std::move(app));
      continue;
    }
    const AppState& state = supervisor.apps()[*app.running];
    config::AppSpec same_count = spec;
    same_count.instances = state.spec.instances;
    app.roll = only.has_value() || !config::same_app(same_count, state.spec);
    app.scale = app.instances != state.instances;
    if (app.roll) {
      if (std::optional<Refused> refused = plan_listeners(state.spec, spec, app.listeners)) {
        return *refused;
      }
      if (state.stopped) {
        changes.push_back(spec.name + " changed (stopped: nothing to roll)");
      } else {
        rolled.push_back(spec.name);
      }
    }
    if (app.scale) {
      changes.push_back(spec.name + " instances " + std::to_string(state.instances) + " -> " +
                        std::to_string(app.instances) +
                        (state.stopped ? " (stopped: none starts until `start`)" : ""));
    }
    if (app.roll || app.scale) plan.apps.push_back(std::move(app));
  }
  if (!only) {
    plan.control_changed = !config::same_control(running.control, next.control);
    plan.control_moved = running.control.socket != next.control.socket;
    if (plan.control_changed) changes.push_back("control settings applied");
    plan.metrics_changed = !(running.metrics == next.metrics);
    if (plan.metrics_changed) {
      changes.push_back(next.metrics.address ? "metrics on " + next.metrics.address->text
                                             : "metrics off");
    }
  }
  plan.summary = join(changes, "; ");
  if (!rolled.empty()) {
    plan.summary += std::string(plan.summary.empty() ? "" : "; ") + "rolling " + join(rolled, ", ");
  }
  if (plan.summary.empty()) plan.summary = "nothing changed";
  return plan;
}

}  // namespace clusterd::core
