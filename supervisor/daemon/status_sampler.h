// Builds a control::StatusSnapshot from the core's slots and a fresh reading of /proc (through
// the host), at the moment of the request. Keeps the previous CPU-time sample of each pid so that
// cpu_percent covers the interval since the last status request (or the process's whole life on
// the first).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/control/status.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

/// What the daemon adds to a snapshot besides the core's state and /proc: each shown worker's
/// and app's sockets, cgroup and logs (daemon/observe.cc).
class StatusExtras {
 public:
  virtual ~StatusExtras() = default;
  /// The worker's sockets (its `cgroup` is already set, from cgroup()).
  virtual void add(core::LaneId id, control::WorkerStatus& worker) const = 0;
  virtual void add(std::size_t app, control::AppStatus& status) const = 0;
  /// The path of the lane's worker's own cgroup; empty without one.
  virtual std::string cgroup(core::LaneId id) const = 0;
};

class StatusSampler {
 public:
  StatusSampler(Clock& clock, Machine& machine, Sampling& sampling, std::string config_path,
                core::TimePoint started)
      : clock_(clock),
        machine_(machine),
        sampling_(sampling),
        config_path_(std::move(config_path)),
        started_(started) {}

  /// Everything, or only the app named `app` (the totals always cover the whole tree). A full
  /// sample with `remember` starts the next interval of every worker's cpu_percent (a status
  /// request); metrics scrapes do not, so they do not shorten the interval `status` shows.
  control::StatusSnapshot sample(const core::Supervisor& supervisor,
                                 const std::string* app = nullptr,
                                 const StatusExtras* extras = nullptr, bool remember = true,
                                 bool detail = true);
  void set_config_path(std::string path) { config_path_ = std::move(path); }

 private:
  struct CpuSample {
    int pid = 0;
    std::uint64_t ticks = 0;
    core::TimePoint at;
  };
  // What a sample does with the CPU times it read: starts every worker's next interval, only its
  // workers' (one app's status), or none (a metrics scrape).
  enum class Memory { Replace, Update, Leave };
  CpuSample* previous(int pid);
  control::MasterStatus master(const ProcessSample& sample, core::TimePoint now) const;
  control::WorkerStatus worker(unsigned index, const core::Lane& lane, unsigned restarts,
                               const core::Boxed<core::ExitStatus>& last_exit,
                               const os::ProcessFacts* facts, core::TimePoint now,
                               const ProcessSample& sample, Memory memory,
                               std::vector<CpuSample>& next);
  double cpu_percent(int pid, const os::ProcessFacts& facts, core::TimePoint now,
                     const ProcessSample& sample, Memory memory, std::vector<CpuSample>& next);

  Clock& clock_;
  Machine& machine_;
  Sampling& sampling_;
  std::string config_path_;
  core::TimePoint started_;
  // Sorted by pid; one block, replaced by each full status. (A map would allocate a node per
  // worker while the reply's JSON is being built, and those nodes, outliving it, would keep
  // the freed JSON's pages from going back to the kernel.)
  std::vector<CpuSample> previous_;
};

}  // namespace clusterd::daemon
