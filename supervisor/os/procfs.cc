#include "supervisor/os/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "supervisor/os/cpus.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

namespace {

// Reads a small /proc file in one go; nullopt if it is gone.
std::optional<std::string> slurp(const char* path) {
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const std::size_t open_paren = text.find('(');
  const std::size_t close_paren = text.rfind(')');
  if (open_paren == std::string_view::npos || close_paren == std::string_view::npos ||
      close_paren + 2 >= text.size()) {
    return std::nullopt;
  }
  ProcStat stat;
  if (!parse_number(trim(text.substr(0, open_paren)), stat.pid)) return std::nullopt;
  // Fields after ") ": 3 state, 4 ppid, ..., 14 utime, 15 stime, ..., 20 num_threads,
  // 22 starttime.
  std::string_view rest = text.substr(close_paren + 2);
  std::vector<std::string_view> fields;
  fields.reserve(20);
  while (!rest.empty() && fields.size() < 20) {
    const std::size_t space = rest.find(' ');
    fields.push_back(rest.substr(0, space));
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  if (fields.size() < 20 || fields[0].empty()) return std::nullopt;
  stat.state = fields[0][0];
  std::uint64_t utime = 0, stime = 0;
  if (!parse_number(fields[1], stat.ppid) || !parse_number(fields[11], utime) ||
      !parse_number(fields[12], stime) || !parse_number(fields[17], stat.threads) ||
      !parse_number(trim(fields[19]), stat.start_ticks)) {
    return std::nullopt;
  }
  stat.cpu_ticks = utime + stime;
  return stat;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::optional<std::string> text = slurp(path.c_str());
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

std::optional<std::uint64_t> parse_statm_resident(std::string_view text) {
  const std::size_t first = text.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  text.remove_prefix(first + 1);
  std::uint64_t pages = 0;
  if (!parse_number(text.substr(0, text.find(' ')), pages)) return std::nullopt;
  return pages;
}

std::optional<std::uint64_t> read_rss_kb(pid_t pid) {
  static const std::uint64_t page_kb = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
  const UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char text[256];
  const ssize_t n = read(fd.get(), text, sizeof text);
  if (n <= 0) return std::nullopt;
  const std::optional<std::uint64_t> pages =
      parse_statm_resident({text, static_cast<std::size_t>(n)});
  if (!pages) return std::nullopt;
  return *pages * page_kb;
}

std::string allowed_cpus(pid_t pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(pid, sizeof set, &set) != 0) return {};
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return format_cpu_list(cpus);
}

ProcessTree ProcessTree::scan() {
  ProcessTree tree;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return tree;
  const int proc_fd = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    pid_t pid = 0;
    const std::string_view name(entry->d_name);
    if (!parse_number(name, pid)) continue;
    char path[32];
    const int path_length = std::snprintf(path, sizeof path, "%s/stat", entry->d_name);
    if (path_length <= 0 || path_length >= static_cast<int>(sizeof path)) continue;
    const UniqueFd fd(openat(proc_fd, path, O_RDONLY | O_CLOEXEC));
    if (!fd) continue;  // gone since readdir
    char text[1024];    // a stat line is a few hundred bytes, whatever comm holds
    const ssize_t n = read(fd.get(), text, sizeof text);
    if (n <= 0) continue;
    if (std::optional<ProcStat> stat = parse_proc_stat({text, static_cast<std::size_t>(n)})) {
      tree.children_[stat->ppid].push_back(pid);
      tree.stats_.emplace(pid, *stat);
    }
  }
  closedir(dir);
  return tree;
}

ProcessTree ProcessTree::from(const std::vector<std::pair<pid_t, pid_t>>& parents) {
  ProcessTree tree;
  for (const auto& [pid, ppid] : parents) tree.children_[ppid].push_back(pid);
  return tree;
}

std::vector<pid_t> ProcessTree::subtree(pid_t pid) const {
  std::vector<pid_t> out{pid};
  for (std::size_t i = 0; i < out.size() && out.size() < 1'000'000; ++i) {
    const auto it = children_.find(out[i]);
    if (it == children_.end()) continue;
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

const ProcStat* ProcessTree::stat(pid_t pid) const {
  const auto it = stats_.find(pid);
  return it == stats_.end() ? nullptr : &it->second;
}

double system_uptime_s() {
  std::optional<std::string> text = slurp("/proc/uptime");
  return text ? std::strtod(text->c_str(), nullptr) : 0.0;
}

long clock_ticks_per_second() { return sysconf(_SC_CLK_TCK); }

}  // namespace clusterd::os
