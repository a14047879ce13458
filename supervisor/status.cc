#include "supervisor/status.h"

#include <unistd.h>

#include <algorithm>

#include "supervisor/os/procfs.h"

namespace clusterd {

StatusSampler::StatusSampler(std::string config_path, core::TimePoint started)
    : config_path_(std::move(config_path)), started_(started) {}

StatusSampler::CpuSample* StatusSampler::previous(pid_t pid) {
  const auto it = std::lower_bound(previous_.begin(), previous_.end(), pid,
                                   [](const CpuSample& s, pid_t p) { return s.pid < p; });
  return it != previous_.end() && it->pid == pid ? &*it : nullptr;
}

control::StatusSnapshot StatusSampler::sample(const core::Supervisor& supervisor,
                                              core::TimePoint now, const std::string* app) {
  control::StatusSnapshot out;
  const os::ProcessTree tree = os::ProcessTree::scan();
  const pid_t self = getpid();

  out.master.pid = self;
  out.master.uptime_s = std::chrono::duration<double>(now - started_).count();
  out.master.config = config_path_;
  out.master.version = CLUSTERD_VERSION;
  if (const os::ProcStat* stat = tree.stat(self)) out.master.threads = stat->threads;
  out.master.rss_kb = os::read_rss_kb(self).value_or(0);
  for (pid_t pid : tree.subtree(self)) {
    if (const os::ProcStat* stat = tree.stat(pid)) {
      ++out.totals.processes;
      out.totals.threads += stat->threads;
    }
  }

  // CPU% since the last status, or over the process's life when it is new.
  const double hz = static_cast<double>(os::clock_ticks_per_second());
  const double uptime_s = os::system_uptime_s();
  std::vector<CpuSample> next;
  if (app == nullptr) next.reserve(previous_.size() + 64);
  auto cpu_percent = [&](pid_t pid, const os::ProcStat& stat) {
    CpuSample* last = previous(pid);
    double percent = 0;
    if (last != nullptr && now > last->at && stat.cpu_ticks >= last->ticks) {
      const double seconds = std::chrono::duration<double>(now - last->at).count();
      percent = 100.0 * static_cast<double>(stat.cpu_ticks - last->ticks) / hz / seconds;
    } else {
      const double age = uptime_s - static_cast<double>(stat.start_ticks) / hz;
      if (age > 0) percent = 100.0 * static_cast<double>(stat.cpu_ticks) / hz / age;
    }
    if (app == nullptr) {
      next.push_back(CpuSample{pid, stat.cpu_ticks, now});
    } else if (last != nullptr) {  // one app's status: keep the others' samples as they are
      *last = CpuSample{pid, stat.cpu_ticks, now};
    }
    return percent;
  };
  for (const core::AppState& state : supervisor.apps()) {
    if (app != nullptr && state.spec.name != *app) continue;
    if (state.removed && app == nullptr) {
      bool live = false;
      for (const core::Slot& s : state.slots) live = live || s.lanes[0].pid() || s.lanes[1].pid();
      if (!live) continue;  // dropped by a reload and gone
    }
    control::AppStatus a;
    a.name = state.spec.name;
    a.instances = state.instances;
    a.instances_reason = state.instances_reason;
    a.generation = state.generation;
    // Each slot's active worker; during a rollout also the other lane's (the new worker starting,
    // or the old one draining), so both generations are visible.
    std::vector<std::pair<unsigned, const core::WorkerSlot*>> shown;
    for (unsigned i = 0; i < state.slots.size(); ++i) {
      shown.emplace_back(i, &state.slots[i].current());
      if (state.slots[i].other().pid() != 0) shown.emplace_back(i, &state.slots[i].other());
    }
    for (const auto& [i, lane] : shown) {
      const core::WorkerSlot& slot = *lane;
      const bool active = &state.slots[i].current() == lane;
      control::WorkerStatus w;
      w.id = i;
      w.pid = slot.pid();
      w.state = core::to_string(slot.state());
      w.generation = slot.generation();
      w.restarts = slot.restarts();
      if (slot.last_exit()) w.last_exit = slot.last_exit()->to_string();
      w.status_text = slot.status_text();
      if (active && slot.state() == core::SlotState::Running) ++a.ready;
      if (w.pid != 0) {
        if (slot.started_at()) {
          w.uptime_s = std::chrono::duration<double>(now - *slot.started_at()).count();
        }
        if (const os::ProcStat* stat = tree.stat(w.pid)) {
          w.threads = stat->threads;
          w.rss_kb = os::read_rss_kb(w.pid).value_or(0);
          w.cpus = os::allowed_cpus(w.pid);
          w.cpu_percent = cpu_percent(w.pid, *stat);
        }
        for (pid_t pid : tree.subtree(w.pid)) {
          const os::ProcStat* stat = tree.stat(pid);
          if (stat == nullptr) continue;  // started after the scan
          ++w.processes;
          w.tree_threads += stat->threads;
        }
      }
      a.workers.push_back(std::move(w));
    }
    out.apps.push_back(std::move(a));
  }
  if (app == nullptr) {  // pids that are gone are forgotten with the old vector
    std::sort(next.begin(), next.end(),
              [](const CpuSample& a, const CpuSample& b) { return a.pid < b.pid; });
    previous_ = std::move(next);
  }
  return out;
}

}  // namespace clusterd
