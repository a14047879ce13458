// `describe APP`: the app's spec as the daemon runs it, its listeners, the sockets `adopt: all`
// made, the next scheduled restart, the paths it watches and each worker's last exit. Env values go
// out only when asked for, and never for a secret-looking name.
#include "supervisor/control/describe.h"
#include "supervisor/daemon/adopter.h"
#include "supervisor/daemon/daemon.h"

namespace clusterd::daemon {
namespace {

std::string duration(config::Duration d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

std::string address_text(const config::Address& a) {
  if (!a.text.empty()) return a.text;
  if (a.family == config::Address::Family::Unix) return "unix:" + a.path;
  const bool v6 = a.family == config::Address::Family::Ipv6;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) out += (out.empty() ? "" : " ") + word;
  return out;
}

std::vector<std::pair<std::string, std::string>> spec_fields(const config::AppSpec& spec,
                                                             const control::AppStatus& status,
                                                             const std::string& config_path) {
  return {
      {"command", joined(spec.command)},
      {"cwd", spec.cwd.empty() ? "(the daemon's)" : spec.cwd},
      {"user", spec.user.empty() ? "(the daemon's)" : spec.user},
      {"group", spec.group.empty() ? "(the user's)" : spec.group},
      {"ready", config::to_string(spec.ready)},
      {"ready_timeout", duration(spec.ready_timeout)},
      {"min_ready", duration(spec.min_ready)},
      {"restart", config::to_string(spec.restart)},
      {"stop_signal", core::signal_name(spec.stop_signal)},
      {"stop_timeout", duration(spec.stop_timeout)},
      {"instances", std::to_string(status.instances)},
      {"instances_reason", status.instances_reason},
      {"stopped", status.stopped ? "yes" : "no"},
      {"config", config_path},
      {"generation", std::to_string(status.generation)},
      {"next_restart", status.next_restart.empty() ? "none" : status.next_restart},
  };
}

}  // namespace

void Daemon::describe_app(const control::Request& request, const control::Peer&,
                          control::ReplyPtr reply) {
  const std::optional<std::size_t> app = app_of(request, reply);
  if (!app) return;
  const config::AppSpec& spec = supervisor_.apps()[*app].spec;
  const control::StatusSnapshot snap = snapshot(&spec.name, false, false);
  if (snap.apps.empty()) {
    reply->finish(control::encode_error("no status for app '" + spec.name + "'"));
    return;
  }
  const control::AppStatus& status = snap.apps.front();
  control::AppDescription d;
  d.name = spec.name;
  d.fields = spec_fields(spec, status, snap.master.config);
  // The running config's watch (a reload changes it without a new generation).
  if (const config::WatchSpec* watch = clocks_.watches.spec(*app)) {
    std::string text = joined(watch->paths) + " (" + std::to_string(status.watching) + " of " +
                       std::to_string(watch->paths.size()) + " watched)";
    if (!watch->ignore.empty()) text += "; ignore " + joined(watch->ignore);
    d.fields.emplace_back("watch", text + "; debounce " + duration(watch->debounce));
  } else {
    d.fields.emplace_back("watch", "none");
  }
  for (const config::ListenerSpec& l : spec.listeners) {
    d.listeners.push_back(
        {l.name, address_text(l.address), config::to_string(l.mode), l.backlog, l.adopt});
  }
  for (const config::Address& a : listeners_.adoption().made(spec.name)) {
    d.adopted.push_back(address_text(a));
  }
  for (const auto& [name, value] : spec.env) {
    std::optional<std::string> shown;
    if (control::secret_name(name)) {
      shown = std::string(control::kRedacted);
    } else if (request.env) {
      shown = value;
    }
    d.env.emplace_back(name, std::move(shown));
  }
  for (const control::WorkerStatus& w : status.workers) {
    d.workers.push_back({w.id, w.state, w.pid, w.last_exit, w.last_words});
  }
  reply->finish(control::encode_describe(d));
}

}  // namespace clusterd::daemon
