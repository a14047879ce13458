// Changing an app's number of workers: `clusterctl scale APP N|+N|-N|auto`, and `auto_follow:`,
// which re-derives `instances: auto` from the CPU limit on an interval (a container resized in
// place, a CPU quota changed) and scales to it, draining the workers it removes.
#include <spdlog/spdlog.h>

#include "supervisor/daemon/daemon.h"

namespace clusterd::daemon {

static_assert(control::kMaxInstances == config::kMaxInstances,
              "the protocol and the config allow the same number of workers");

std::optional<std::string> Daemon::scale_to(std::size_t app, unsigned n, const std::string& reason,
                                            std::string* done) {
  const std::string& name = supervisor_.apps()[app].spec.name;
  if (std::optional<core::Refused> refused = supervisor_.check_scale(app, n)) {
    return refused->reason;
  }
  const unsigned before = supervisor_.apps()[app].instances;
  std::map<unsigned, Generation>& gens = runtimes_.generations(app);
  try {  // every socket the new slots need, before anything changes
    listeners_.install(listeners_.grow(gens.at(supervisor_.apps()[app].generation), n));
  } catch (const std::exception& e) {
    return "cannot scale " + name + " to " + std::to_string(n) + ": " + e.what();
  }
  if (n < before) listeners_.scale_down(name, gens, n);
  systemd_.sockets_changed();
  const core::Outcome outcome = supervisor_.scale(app, n, reason, host_.clock.now());
  if (outcome.refused) return outcome.refused->reason;
  execute(outcome.actions);
  if (done != nullptr) {
    *done = "scaled " + name + " from " + std::to_string(before) + " to " + std::to_string(n);
  }
  return std::nullopt;
}

void Daemon::scale(const control::Request& request, const control::Peer&, control::ReplyPtr reply) {
  const std::optional<std::size_t> app = app_of(request, reply);
  if (!app) return;
  const unsigned before = supervisor_.apps()[*app].instances;
  unsigned n = request.instances.value_or(0);
  std::string reason = std::to_string(n) + ": set by scale (was " + std::to_string(before) + ")";
  std::string by;  // a relative scale: "+1", "-2"
  if (request.delta) {
    // From the count at this moment, not from whatever status the client saw.
    const core::RelativeScale target = supervisor_.relative_scale(*app, *request.delta);
    if (target.refused) {
      reply->finish(control::encode_error(target.refused->reason));
      return;
    }
    n = target.instances;
    by = (*request.delta > 0 ? "+" : "") + std::to_string(*request.delta);
    reason = std::to_string(n) + ": set by scale " + by + " (was " + std::to_string(before) + ")";
  } else if (request.instances_auto) {
    const os::CpuBudget cpus = host_.machine.cpus();
    n = cpus.count;
    reason = cpus.reason + " (scale auto, was " + std::to_string(before) + ")";
    clocks_.follow.set_followed(*app, n);
  }
  std::string done;
  if (const std::optional<std::string> error = scale_to(*app, n, reason, &done)) {
    reply->finish(control::encode_error(*error));
    return;
  }
  if (!by.empty()) done += " (" + by + ")";
  if (supervisor_.apps()[*app].stopped) {
    const std::string& name = supervisor_.apps()[*app].spec.name;
    done += "; " + name + " is stopped: none starts until `start`";
  }
  reply->finish(control::encode_done(done));
}

// The timer fired: AutoFollow says whether the limit moved; a refused scale (a rollout in
// progress) is tried again next time.
void Daemon::follow(std::size_t app) {
  const AutoFollow::Look look = clocks_.follow.fired(app, supervisor_);
  if (look.instances) {
    if (const std::optional<std::string> error =
            scale_to(app, *look.instances, look.reason, nullptr)) {
      spdlog::info("{}: auto_follow: not now: {}", supervisor_.apps()[app].spec.name, *error);
    } else {
      clocks_.follow.set_followed(app, *look.instances);
    }
  }
  clocks_.follow.arm(supervisor_);
}

}  // namespace clusterd::daemon
