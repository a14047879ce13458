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

class StatusSampler {
 public:
  StatusSampler(std::string config_path, core::TimePoint started)
      : config_path_(std::move(config_path)), started_(started) {}

  /// Everything, or only the app named `app` (the totals always cover the whole tree).
  control::StatusSnapshot sample(Host& host, const core::Supervisor& supervisor,
                                 const std::string* app = nullptr);
  void set_config_path(std::string path) { config_path_ = std::move(path); }

 private:
  struct CpuSample {
    int pid = 0;
    std::uint64_t ticks = 0;
    core::TimePoint at;
  };
  CpuSample* previous(int pid);
  control::WorkerStatus worker(unsigned index, const core::Lane& lane,
                               const os::ProcessFacts* facts, core::TimePoint now,
                               const ProcessSample& sample, bool whole,
                               std::vector<CpuSample>& next);
  double cpu_percent(int pid, const os::ProcessFacts& facts, core::TimePoint now,
                     const ProcessSample& sample, bool whole, std::vector<CpuSample>& next);

  std::string config_path_;
  core::TimePoint started_;
  // Sorted by pid; one block, replaced by each full status. (A map would allocate a node per
  // worker while the reply's JSON is being built, and those nodes, outliving it, would keep
  // the freed JSON's pages from going back to the kernel.)
  std::vector<CpuSample> previous_;
};

}  // namespace clusterd::daemon
