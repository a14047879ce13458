// Builds a control::StatusSnapshot from the core's slots and fresh /proc readings, at the moment of
// the request. Keeps the previous CPU-time sample of each pid so cpu_percent covers the interval
// since the last status request (or the process's whole life on the first).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <unordered_map>

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
    std::uint64_t ticks = 0;
    std::chrono::steady_clock::time_point at;
    unsigned round = 0;  // the last full sample() that saw this pid
  };
  double cpu_percent(pid_t pid, std::uint64_t ticks, std::uint64_t start_ticks,
                     std::chrono::steady_clock::time_point now);

  std::string config_path_;
  core::TimePoint started_;
  // Updated in place: a status of 1024 workers allocates no new nodes for the pids it knows,
  // which would otherwise be left between the freed JSON and keep the heap from shrinking.
  std::unordered_map<pid_t, CpuSample> previous_;
  unsigned round_ = 0;
};

}  // namespace clusterd
