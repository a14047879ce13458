#include "supervisor/daemon/runtimes.h"

#include <string>

#include "supervisor/core/upkeep.h"

namespace clusterd::daemon {

SpawnContext spawn_context(Machine& machine, Occupancy& occupancy,
                           std::optional<core::NofileLimit> inherited_nofile) {
  SpawnContext context;
  context.inherited_env = machine.environment();
  context.service_dirs = service_dirs(context.inherited_env);
  context.inherited_nofile = inherited_nofile;
  context.instance = occupancy.instance_id();
  return context;
}

Generation& Runtimes::generation_of(core::LaneId id, const core::Supervisor& supervisor) {
  const unsigned number = supervisor.lane(id).generation();
  auto& gens = apps_[id.app].generations;
  const auto gen = gens.find(number);
  if (gen == gens.end()) {
    throw SpawnFailure("generation " + std::to_string(number) + " is not prepared",
                       core::ExitStatus::Blame::Master);
  }
  return gen->second;
}

SpawnRequest Runtimes::request(core::LaneId id, const core::Supervisor& supervisor,
                               const Generation& gen, unsigned long nofile_hard_now) {
  const core::AppState& app = supervisor.apps()[id.app];
  const config::AppSpec& spec = supervisor.spec(id);
  context_.nofile_hard_now = nofile_hard_now;
  SpawnRequest request =
      spawn_request(spec, gen, id.index, app.instances, apps_[id.app].cpus, context_);
  request.cgroup = app.spec.name + "/" + std::to_string(id.index);
  request.limits = spec.cgroup_limits;
  request.memory_high = spec.max_memory.value_or(0);
  return request;
}

bool Runtimes::forget_unused(const core::Supervisor& supervisor) {
  bool forgot = false;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    const core::AppState& state = supervisor.apps()[a];
    std::map<unsigned, Generation>& gens = apps_[a].generations;
    for (auto it = gens.begin(); it != gens.end();) {
      if (core::generation_kept(state, it->first)) {
        ++it;
      } else {
        it = gens.erase(it);
        forgot = true;
      }
    }
  }
  return forgot;
}

std::vector<const Generation*> Runtimes::targets(const core::Supervisor& supervisor) const {
  std::vector<const Generation*> out;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    const core::AppState& state = supervisor.apps()[a];
    if (state.removed) continue;
    const auto gen = apps_[a].generations.find(state.generation);
    if (gen != apps_[a].generations.end()) out.push_back(&gen->second);
  }
  return out;
}

}  // namespace clusterd::daemon
