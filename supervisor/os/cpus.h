// How many CPUs this process may really use: its affinity mask, capped by the CPU quota of its
// cgroup and every ancestor (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us).
// Never the host's core count and never a language runtime's variable such as GOMAXPROCS.
#pragma once

#include <sched.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/os/facts.h"

namespace clusterd::os {

/// Reads the affinity mask and the cgroup quota of the calling process. Throws std::system_error
/// only if sched_getaffinity fails; unreadable cgroup files count as "no quota".
CpuBudget detect_cpus();

/// Pure pieces, for tests.
/// "max 100000" -> nullopt; "150000 100000" -> 1.5. Malformed text -> nullopt.
std::optional<double> parse_cpu_max(std::string_view text);
/// cfs quota and period file contents ("-1", "100000") -> CPUs, nullopt for no quota.
std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period);
/// The CPUs of an affinity mask, in order.
std::vector<int> cpus_in(const cpu_set_t& set);
/// {0,1,2,5} -> "0-2,5".
std::string format_cpu_list(const std::vector<int>& cpus);
/// The budget from its parts (count and reason).
CpuBudget make_budget(std::vector<int> allowed, std::optional<double> quota,
                      std::string quota_source);

}  // namespace clusterd::os
