// What a worker says of itself without sd_notify: its own bind() and listen() under socket
// adoption (docs/adoption.md: which worker and generation called, the answer from
// daemon/adopter.h, and `ready: listen`), a line on its ready fd (`ready: fd`), and what its
// ready probe found (`ready: http`, `ready: tcp`; the core decides when to try and what it means).
#include <spdlog/spdlog.h>

#include "supervisor/daemon/adopter.h"
#include "supervisor/daemon/daemon.h"

namespace clusterd::daemon {

SocketAnswer Daemon::on_socket_call(WorkerHandle worker, const os::SocketCall& call) {
  const std::optional<core::LaneId> id = workers_.slot_of(worker);
  if (!id) return {};  // what a reaped worker left behind: the kernel answers as without us
  const core::Lane& lane = supervisor_.lane(*id);
  const auto& generations = runtimes_.generations(id->app);
  const auto gen = generations.find(lane.generation());
  if (gen == generations.end()) return {};
  const config::AppSpec& spec = supervisor_.spec(*id);
  const unsigned uid = gen->second.ids ? gen->second.ids->uid : host_.machine.self_uid();
  const Adopter::Answered answered =
      listeners_.adoption().answer({spec, gen->second, id->index, uid == 0}, call);
  if (answered.made) {
    spdlog::info("{}: pid {} {}", lifecycle_.label(*id), call.pid, answered.what);
  } else {
    spdlog::debug("{}: pid {} {}", lifecycle_.label(*id), call.pid, answered.what);
  }
  // ready: listen: the worker reached the line where its server starts.
  if (answered.listening && spec.ready == config::ReadyMode::Listen) {
    execute(supervisor_.on(*id, core::Ready{}, host_.clock.now()));
  }
  return answered.answer;
}

// ready: fd: a line on the worker's ready pipe (s6's notification-fd).
void Daemon::on_ready_line(WorkerHandle worker) {
  const std::optional<core::LaneId> id = workers_.slot_of(worker);
  if (!id || supervisor_.spec(*id).ready != config::ReadyMode::Fd) return;
  execute(supervisor_.on(*id, core::Ready{}, host_.clock.now()));
}

// ready: http, tcp: one try at the worker's own port, as the lane asked (core::Probe).
void Daemon::probe(core::LaneId id) {
  const std::optional<WorkerHandle> handle = workers_.handle_of(id);
  if (!handle) return;
  const config::AppSpec& spec = supervisor_.spec(id);
  const std::optional<config::Address> target = core::probe_target(spec, id.index);
  if (!target) {
    spdlog::warn("{}: no address to probe (the port would pass 65535)", lifecycle_.label(id));
    return;
  }
  host_.probes.probe(*handle,
                     {*target, core::probe_request(spec, *target), core::probe_limit(spec)});
}

void Daemon::on_probe(WorkerHandle worker, const core::ProbeReply& reply) {
  const std::optional<core::LaneId> id = workers_.slot_of(worker);
  if (!id) return;  // its worker is gone
  const core::ProbeResult result = core::judge_probe(supervisor_.spec(*id), reply);
  if (!result.ok) spdlog::debug("{}: ready probe: {}", lifecycle_.label(*id), result.failure);
  execute(supervisor_.on(*id, result, host_.clock.now()));
}

}  // namespace clusterd::daemon
