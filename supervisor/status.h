// Builds a control::StatusSnapshot from the core's slots and fresh /proc readings, at the moment of
// the request. Keeps the previous CPU-time sample of each pid so cpu_percent covers the interval
// since the last status request (or the process's whole life on the first).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "supervisor/control/status.h"
#include "supervisor/core/supervisor.h"

namespace clusterd {

class StatusSampler {
 public:
  StatusSampler(std::string config_path, core::TimePoint started);

  /// Everything, or only the app named `app` (the totals always cover the whole tree).
  control::StatusSnapshot sample(const core::Supervisor& supervisor, core::TimePoint now,
                                 const std::string* app = nullptr);

 private:
  struct CpuSample {
    pid_t pid = 0;
    std::uint64_t ticks = 0;
    std::chrono::steady_clock::time_point at;
  };
  /// The sample of `pid` from the last full status, or null.
  CpuSample* previous(pid_t pid);

  std::string config_path_;
  core::TimePoint started_;
  // Sorted by pid; one block, replaced by each full status. (A map would allocate a node per
  // worker while the reply's JSON is being built, and those nodes, outliving it, would keep
  // the freed JSON's pages from going back to the kernel.)
  std::vector<CpuSample> previous_;
};

}  // namespace clusterd
