#include "supervisor/daemon/status_sampler.h"

#include <algorithm>

namespace clusterd::daemon {

StatusSampler::CpuSample* StatusSampler::previous(int pid) {
  const auto it = std::lower_bound(previous_.begin(), previous_.end(), pid,
                                   [](const CpuSample& s, int p) { return s.pid < p; });
  return it != previous_.end() && it->pid == pid ? &*it : nullptr;
}

// CPU% since the last status, or over the process's life when it is new.
double StatusSampler::cpu_percent(int pid, const os::ProcessFacts& facts, core::TimePoint now,
                                  const ProcessSample& sample, Memory memory,
                                  std::vector<CpuSample>& next) {
  const double hz = static_cast<double>(sample.ticks_per_second);
  CpuSample* last = previous(pid);
  double percent = 0;
  if (last != nullptr && now > last->at && facts.cpu_ticks >= last->ticks) {
    const double seconds = std::chrono::duration<double>(now - last->at).count();
    percent = 100.0 * static_cast<double>(facts.cpu_ticks - last->ticks) / hz / seconds;
  } else {
    const double age = sample.system_uptime_s - static_cast<double>(facts.start_ticks) / hz;
    if (age > 0) percent = 100.0 * static_cast<double>(facts.cpu_ticks) / hz / age;
  }
  if (memory == Memory::Replace) {
    next.push_back(CpuSample{pid, facts.cpu_ticks, now});
  } else if (memory == Memory::Update && last != nullptr) {  // one app's status: keep the others'
    *last = CpuSample{pid, facts.cpu_ticks, now};
  }
  return percent;
}

control::WorkerStatus StatusSampler::worker(unsigned index, const core::Lane& lane,
                                            unsigned restarts,
                                            const core::Boxed<core::ExitStatus>& last_exit,
                                            const os::ProcessFacts* facts, core::TimePoint now,
                                            const ProcessSample& sample, Memory memory,
                                            std::vector<CpuSample>& next) {
  control::WorkerStatus w;
  w.id = index;
  w.pid = lane.pid();
  w.state = core::to_string(lane.state());
  w.generation = lane.generation();
  w.restarts = restarts;
  if (last_exit) {
    w.last_exit = last_exit->to_string();
    w.last_words = last_exit->last_words;
  }
  w.status_text = lane.status_text();
  if (w.pid == 0 || facts == nullptr) return w;
  if (lane.started_at())
    w.uptime_s = std::chrono::duration<double>(now - *lane.started_at()).count();
  if (facts->alive) {
    const double hz = static_cast<double>(sample.ticks_per_second);
    w.threads = facts->threads;
    w.rss_kb = facts->rss_kb;
    if (facts->pss_kb) w.pss_kb = static_cast<std::int64_t>(*facts->pss_kb);
    if (facts->uss_kb) w.uss_kb = static_cast<std::int64_t>(*facts->uss_kb);
    w.fds = facts->fds;
    w.cpu_user_s = static_cast<double>(facts->user_ticks) / hz;
    w.cpu_system_s = static_cast<double>(facts->system_ticks) / hz;
    if (facts->tree_cpu) {
      w.tree_cpu_user_s = static_cast<double>(facts->tree_cpu->user_usec) / 1e6;
      w.tree_cpu_system_s = static_cast<double>(facts->tree_cpu->system_usec) / 1e6;
    }
    w.cpus = facts->cpus;
    w.cpu_percent = cpu_percent(w.pid, *facts, now, sample, memory, next);
    w.processes = facts->tree_processes;
    w.tree_threads = facts->tree_threads;
  }
  return w;
}

control::MasterStatus StatusSampler::master(const ProcessSample& sample,
                                            core::TimePoint now) const {
  const double hz = static_cast<double>(sample.ticks_per_second);
  control::MasterStatus m;
  m.pid = sample.master_pid;
  m.uptime_s = std::chrono::duration<double>(now - started_).count();
  m.config = config_path_;
  m.version = CLUSTERD_VERSION;
  m.threads = sample.master.threads;
  m.rss_kb = sample.master.rss_kb;
  m.fds = sample.master.fds;
  m.cgroups = machine_.cgroup_mode();
  m.cpu_user_s = static_cast<double>(sample.master.user_ticks) / hz;
  m.cpu_system_s = static_cast<double>(sample.master.system_ticks) / hz;
  // Its start in /proc is in ticks since boot: now, less the time since then.
  m.start_time_s = static_cast<double>(clock_.unix_ms()) / 1000.0 -
                   (sample.system_uptime_s - static_cast<double>(sample.master.start_ticks) / hz);
  return m;
}

namespace {

// Each slot's active worker; during a replacement also the other lane's (the new worker
// starting, or the old one draining), so both generations are visible.
struct Shown {
  std::size_t app;
  unsigned index;
  unsigned lane_index;
  const core::Lane* lane;
  bool active;
};

std::vector<Shown> shown_lanes(const core::Supervisor& supervisor, const std::string* app) {
  std::vector<Shown> shown;
  for (std::size_t a = 0; a < supervisor.apps().size(); ++a) {
    const core::AppState& state = supervisor.apps()[a];
    if (app != nullptr && state.spec.name != *app) continue;
    for (unsigned i = 0; i < state.slots.size(); ++i) {
      const auto& slot = state.slots[i];
      const unsigned current = &slot.current() == &slot.lanes[0] ? 0 : 1;
      shown.push_back({a, i, current, &slot.current(), true});
      if (slot.other().pid() != 0) shown.push_back({a, i, 1 - current, &slot.other(), false});
    }
  }
  return shown;
}

}  // namespace

control::StatusSnapshot StatusSampler::sample(const core::Supervisor& supervisor,
                                              const std::string* app, const StatusExtras* extras,
                                              bool remember, bool detail) {
  const std::vector<Shown> shown = shown_lanes(supervisor, app);
  std::vector<int> pids;
  std::vector<std::string> cgroups;
  for (const Shown& s : shown) {
    if (s.lane->pid() == 0) continue;
    pids.push_back(s.lane->pid());
    if (extras != nullptr) cgroups.push_back(extras->cgroup({s.app, s.index, s.lane_index}));
  }
  const ProcessSample sample = sampling_.sample(pids, cgroups, false, detail);
  const core::TimePoint now = clock_.now();

  control::StatusSnapshot out;
  out.detail = detail;
  out.master = master(sample, now);
  out.totals.processes = sample.total_processes;
  out.totals.threads = sample.total_threads;

  const Memory memory = !remember        ? Memory::Leave
                        : app == nullptr ? Memory::Replace
                                         : Memory::Update;
  std::vector<CpuSample> next;
  if (memory == Memory::Replace) next.reserve(previous_.size() + 64);
  std::size_t facts = 0;
  std::size_t sampled = 0;  // the shown workers with a pid so far: their index in `cgroups`
  std::size_t listed = supervisor.apps().size();  // the app whose entry is out.apps.back()
  for (const Shown& s : shown) {
    const core::AppState& state = supervisor.apps()[s.app];
    if (listed != s.app) {
      const bool live = std::any_of(state.slots.begin(), state.slots.end(), [](const auto& slot) {
        return slot.lanes[0].pid() != 0 || slot.lanes[1].pid() != 0;
      });
      if (state.removed && !live) continue;  // dropped by a reload and gone
      listed = s.app;
      control::AppStatus entry;
      entry.name = state.spec.name;
      entry.instances = state.instances;
      entry.instances_reason = state.instances_reason;
      entry.generation = state.generation;
      entry.stopped = state.stopped;
      if (state.rollout) entry.rollout = core::to_string(state.rollout->phase);
      if (extras != nullptr) extras->add(s.app, entry);
      out.apps.push_back(std::move(entry));
    }
    control::AppStatus& a = out.apps.back();
    if (s.active && s.lane->state() == core::LaneState::Running) ++a.ready;
    const os::ProcessFacts* f = nullptr;
    if (s.lane->pid() != 0 && facts < sample.workers.size() &&
        sample.workers[facts].first == s.lane->pid()) {
      f = &sample.workers[facts++].second;
    }
    // The slot's counts, whichever lane: they go on across replacements and generations. The
    // last exit is the slot's, but on a draining old worker's row, that worker's own.
    const core::Boxed<core::ExitStatus>& last_exit =
        s.active ? state.slots[s.index].last_exit : s.lane->last_exit();
    a.workers.push_back(worker(s.index, *s.lane, state.restarts_of(s.index), last_exit, f, now,
                               sample, memory, next));
    if (s.lane->pid() != 0 && sampled < cgroups.size()) {
      a.workers.back().cgroup = std::move(cgroups[sampled]);  // looked up once, above
    }
    if (s.lane->pid() != 0) ++sampled;
    if (extras != nullptr)
      extras->add(core::LaneId{s.app, s.index, s.lane_index}, a.workers.back());
  }
  if (memory == Memory::Replace) {  // pids that are gone are forgotten with the old vector
    std::sort(next.begin(), next.end(),
              [](const CpuSample& x, const CpuSample& y) { return x.pid < y.pid; });
    previous_ = std::move(next);
  }
  return out;
}

}  // namespace clusterd::daemon
