// The status snapshot with the daemon's own parts: accept queues of the sockets it holds, the
// workers' cgroups, logs, upgrades. (The metrics endpoint, its counters and /healthz are the
// Observer's.)
#include "supervisor/daemon/adopter.h"
#include "supervisor/daemon/daemon.h"

namespace clusterd::daemon {
namespace {

void add_queue(Sampling& sampling, const Listener& listener, std::size_t index,
               std::vector<control::QueueStatus>& out) {
  if (index >= listener.fds.size() || !listener.fds[index]) return;
  if (const std::optional<os::AcceptQueue> q = sampling.accept_queue(listener.fds[index].get())) {
    out.push_back({listener.spec.name, q->queued, q->limit});
  }
}

}  // namespace

control::StatusSnapshot Daemon::snapshot(const std::string* app, bool remember, bool detail) {
  struct Extras final : StatusExtras {
    explicit Extras(Daemon& daemon) : d(daemon) {}
    std::string cgroup(core::LaneId id) const override { return d.cgroup_of(id); }
    void add(core::LaneId id, control::WorkerStatus& w) const override {
      const auto& generations = d.runtimes_.generations(id.app);
      const auto gen = generations.find(w.generation);
      if (gen == generations.end()) return;
      for (const std::shared_ptr<Listener>& l : gen->second.listeners) {
        if (l->spec.mode == config::ListenMode::ReusePort)
          add_queue(d.host_.sampling, *l, id.index, w.queues);
      }
    }
    void add(std::size_t a, control::AppStatus& s) const override {
      const core::AppState& state = d.supervisor_.apps()[a];
      s.logs = config::to_string(d.output_.mode_of(state.spec.logs));
      s.log_dropped_bytes = d.output_.dropped(s.name);
      s.next_restart = d.clocks_.schedules.next_text(a);
      s.watching = d.clocks_.watches.watching(a);
      s.watch_pending = d.clocks_.watches.pending(a);
      for (const config::Address& made : d.listeners_.adoption().made(s.name)) {
        s.adopted.push_back(made.text);
      }
      const auto gen = d.runtimes_.generations(a).find(state.generation);
      if (gen == d.runtimes_.generations(a).end()) return;
      for (const std::shared_ptr<Listener>& l : gen->second.listeners) {
        if (l->spec.mode == config::ListenMode::Shared)
          add_queue(d.host_.sampling, *l, 0, s.queues);
      }
    }
    Daemon& d;
  };
  const Extras extras(*this);
  control::StatusSnapshot snap =
      observer_.sampler().sample(supervisor_, app, &extras, remember, detail);
  snap.master.upgrades = upgrader_.upgrades();
  if (upgrader_.upgraded_at_ms() != 0) {
    snap.master.upgraded_at_s = static_cast<double>(upgrader_.upgraded_at_ms()) / 1000;
  }
  return snap;
}

std::string Daemon::cgroup_of(core::LaneId id) const {
  const std::optional<WorkerHandle> handle = workers_.handle_of(id);
  return handle ? workers_.cgroup_path_of(*handle) : std::string();
}

}  // namespace clusterd::daemon
