// What a worker says of itself without sd_notify: its own bind() and listen() under socket
// adoption (docs/adoption.md: which worker and generation called, the answer from
// daemon/adopter.h, and `ready: listen`), and a line on its ready fd (`ready: fd`).
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

}  // namespace clusterd::daemon
