// Counting usable CPUs. The affinity mask says which CPUs the scheduler may use for us; a cgroup
// quota says how much time we get on them in total. A container limited to 1.5 CPUs on a 64-core
// node must run 2 workers, not 64. Quotas apply at every level of the hierarchy, so the walk goes
// from our cgroup up to the root of the mount and keeps the tightest one.
#include "supervisor/os/cpus.h"

#include <sched.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

namespace clusterd::os {

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(sep, start);
    parts.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return std::string(text);
}

struct Mount {
  std::string root;   // the cgroup path that the mount point shows
  std::string point;  // where it is mounted
};

// Finds the mount of a cgroup hierarchy: fstype "cgroup2", or "cgroup" whose super options name
// `controller`.
std::optional<Mount> find_mount(bool v2, const std::string& controller) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const std::vector<std::string> left = split(line.substr(0, dash), ' ');
    const std::vector<std::string> right = split(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    if (v2 && right[0] == "cgroup2") return Mount{left[3], left[4]};
    if (!v2 && right[0] == "cgroup") {
      for (const std::string& option : split(right[2], ',')) {
        if (option == controller) return Mount{left[3], left[4]};
      }
    }
  }
  return std::nullopt;
}

// Walks from the directory of `cgroup_path` up to the mount point, calling read_quota on each.
template <typename ReadQuota>
void walk_up(const Mount& mount, std::string cgroup_path, ReadQuota read_quota) {
  if (mount.root != "/" && cgroup_path.rfind(mount.root, 0) == 0) {
    cgroup_path = cgroup_path.substr(mount.root.size());
  }
  while (true) {
    read_quota(mount.point + cgroup_path);
    if (cgroup_path.empty() || cgroup_path == "/") break;
    const std::size_t slash = cgroup_path.rfind('/');
    cgroup_path = slash == 0 || slash == std::string::npos ? "/" : cgroup_path.substr(0, slash);
  }
}

}  // namespace

std::optional<double> parse_cpu_max(std::string_view text) {
  const std::vector<std::string> fields = split(trim(text), ' ');
  if (fields.size() != 2 || fields[0] == "max") return std::nullopt;
  try {
    const double quota = std::stod(fields[0]);
    const double period = std::stod(fields[1]);
    if (quota <= 0 || period <= 0) return std::nullopt;
    return quota / period;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period) {
  return parse_cpu_max(trim(quota) + " " + trim(period));
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

CpuBudget make_budget(std::vector<int> allowed, std::optional<double> quota,
                      std::string quota_source) {
  CpuBudget budget;
  budget.allowed = std::move(allowed);
  budget.quota = quota;
  budget.quota_source = std::move(quota_source);
  double count = static_cast<double>(budget.allowed.size());
  if (quota && std::ceil(*quota) < count) count = std::ceil(*quota);
  budget.count = count < 1 ? 1u : static_cast<unsigned>(count);
  char quota_text[32];
  if (quota) std::snprintf(quota_text, sizeof quota_text, "%.2f", *quota);
  budget.reason = std::to_string(budget.count) + ": affinity " + format_cpu_list(budget.allowed) +
                  (quota ? std::string(", cgroup quota ") + quota_text : ", no cgroup quota");
  return budget;
}

std::vector<int> cpus_in(const cpu_set_t& set) {
  // The set bits only, a word at a time: testing all 1,024 CPU numbers of every worker was a
  // thirtieth of a status call's CPU at 1,024 workers (perf).
  std::vector<int> cpus;
  constexpr int kWordBits = 8 * sizeof set.__bits[0];
  for (std::size_t w = 0; w < sizeof set.__bits / sizeof set.__bits[0]; ++w) {
    for (auto bits = set.__bits[w]; bits != 0; bits &= bits - 1) {
      cpus.push_back(static_cast<int>(w) * kWordBits + __builtin_ctzl(bits));
    }
  }
  return cpus;
}

CpuBudget detect_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    throw std::system_error(errno, std::system_category(), "sched_getaffinity");
  }
  std::vector<int> allowed = cpus_in(set);

  std::optional<double> quota;
  std::string source;
  auto consider = [&](std::optional<double> q, const std::string& file) {
    if (q && (!quota || *q < *quota)) {
      quota = q;
      source = file;
    }
  };
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    const std::size_t first = line.find(':');
    const std::size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (line.compare(0, first, "0") == 0 && controllers.empty()) {
      if (std::optional<Mount> mount = find_mount(true, "")) {
        walk_up(*mount, path, [&](const std::string& dir) {
          if (auto text = read_file(dir + "/cpu.max"))
            consider(parse_cpu_max(*text), dir + "/cpu.max");
        });
      }
      continue;
    }
    for (const std::string& controller : split(controllers, ',')) {
      if (controller != "cpu") continue;
      if (std::optional<Mount> mount = find_mount(false, "cpu")) {
        walk_up(*mount, path, [&](const std::string& dir) {
          auto q = read_file(dir + "/cpu.cfs_quota_us");
          auto p = read_file(dir + "/cpu.cfs_period_us");
          if (q && p) consider(parse_cfs_quota(*q, *p), dir + "/cpu.cfs_quota_us");
        });
      }
    }
  }
  return make_budget(std::move(allowed), quota, source);
}

}  // namespace clusterd::os
