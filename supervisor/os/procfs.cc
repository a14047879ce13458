#include "supervisor/os/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include "supervisor/os/cgroup.h"
#include "supervisor/os/cpus.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

namespace {

// Reads a small /proc file (path relative to `dir`, or absolute) into `buffer` with one read:
// the kernel formats these whole on the first read. Empty if the process is gone.
template <std::size_t N>
std::string_view read_small(int dir, const char* path, char (&buffer)[N]) {
  const UniqueFd fd(openat(dir, path, O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  const ssize_t n = read(fd.get(), buffer, N);
  return n > 0 ? std::string_view(buffer, static_cast<std::size_t>(n)) : std::string_view();
}

}  // namespace

// /proc itself, opened once: the reads below start their path there rather than at "/". -1 when
// /proc cannot be opened: every read then fails as for a process that is gone, and the next
// call tries again (a first call made while the master was out of fds must not last).
int proc_dir() {
  static int fd = -1;
  if (fd < 0) fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd;
}

namespace {

// A small text file (relative to `dir`) whole; empty when it cannot be read.
std::string read_text_at(int dir, const char* path) {
  char buffer[1024];
  return std::string(read_small(dir, path, buffer));
}

// A /proc/PID/stat line is a few hundred bytes, whatever comm holds.
constexpr std::size_t kStatBuffer = 1024;

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
  // Fields after ") ": 3 state, 4 ppid, 5 pgrp, 6 session, ..., 14 utime, 15 stime, ..., 20
  // num_threads, 22 starttime.
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
  if (!parse_number(fields[1], stat.ppid) || !parse_number(fields[2], stat.pgrp) ||
      !parse_number(fields[3], stat.session) || !parse_number(fields[11], utime) ||
      !parse_number(fields[12], stime) || !parse_number(fields[17], stat.threads) ||
      !parse_number(trim(fields[19]), stat.start_ticks)) {
    return std::nullopt;
  }
  stat.cpu_ticks = utime + stime;
  stat.user_ticks = utime;
  stat.system_ticks = stime;
  return stat;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "%d/stat", static_cast<int>(pid));
  char text[kStatBuffer];
  return parse_proc_stat(read_small(proc_dir(), path, text));
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
  std::snprintf(path, sizeof path, "%d/statm", static_cast<int>(pid));
  char text[256];
  const std::optional<std::uint64_t> pages =
      parse_statm_resident(read_small(proc_dir(), path, text));
  if (!pages) return std::nullopt;
  return *pages * page_kb;
}

std::optional<SharedMemory> parse_smaps_rollup(std::string_view text) {
  SharedMemory out;
  bool pss = false;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (value.size() > 3 && value.substr(value.size() - 3) == " kB") value.remove_suffix(3);
    std::uint64_t kb = 0;
    if (!parse_number(value, kb)) continue;
    if (key == "Pss") {
      out.pss_kb = kb;
      pss = true;
    } else if (key == "Private_Clean" || key == "Private_Dirty") {
      out.uss_kb += kb;
    }
  }
  return pss ? std::optional<SharedMemory>(out) : std::nullopt;
}

std::optional<SharedMemory> read_smaps_rollup(pid_t pid) {
  char path[40];
  std::snprintf(path, sizeof path, "/proc/%d/smaps_rollup", static_cast<int>(pid));
  char text[4096];
  return parse_smaps_rollup(read_small(AT_FDCWD, path, text));
}

int count_fds(pid_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/fd", static_cast<int>(pid));
  DIR* dir = opendir(path);
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

std::string allowed_cpus(pid_t pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(pid, sizeof set, &set) != 0) return {};
  return format_cpu_list(cpus_in(set));
}

std::optional<std::vector<pid_t>> read_pid_list(int dir, const char* file) {
  const UniqueFd fd(openat(dir, file, O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buffer[16384];
  for (ssize_t n; (n = read(fd.get(), buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  std::vector<pid_t> out;
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    pid_t pid = 0;
    if (parse_number(rest.substr(0, end), pid)) out.push_back(pid);
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return out;
}

std::optional<std::vector<pid_t>> thread_children(pid_t pid, pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "%d/task/%d/children", static_cast<int>(pid),
                static_cast<int>(tid));
  return read_pid_list(proc_dir(), path);  // nullopt: no such file (no CONFIG_PROC_CHILDREN)
}

std::optional<std::vector<pid_t>> children_of(pid_t pid) {
  char path[48];
  std::snprintf(path, sizeof path, "%d/task", static_cast<int>(pid));
  const int task_fd = openat(proc_dir(), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* tasks = task_fd >= 0 ? fdopendir(task_fd) : nullptr;
  if (tasks == nullptr) {
    if (task_fd >= 0) close(task_fd);
    return std::nullopt;
  }
  std::vector<pid_t> out;
  bool any = false;
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    char file[sizeof entry->d_name + 16];
    std::snprintf(file, sizeof file, "%s/children", entry->d_name);
    if (const std::optional<std::vector<pid_t>> pids = read_pid_list(task_fd, file)) {
      out.insert(out.end(), pids->begin(), pids->end());
      any = true;
    }
  }
  closedir(tasks);
  if (!any) return std::nullopt;  // no children files: the kernel lacks CONFIG_PROC_CHILDREN
  return out;
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
    char text[kStatBuffer];
    if (std::optional<ProcStat> stat = parse_proc_stat(read_small(proc_fd, path, text))) {
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

std::vector<pid_t> ProcessTree::pids() const {
  std::vector<pid_t> out;
  out.reserve(stats_.size());
  for (const auto& [pid, stat] : stats_) out.push_back(pid);
  return out;
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
  char buffer[128];
  const std::string_view text = read_small(AT_FDCWD, "/proc/uptime", buffer);
  double seconds = 0;
  std::from_chars(text.data(), text.data() + text.size(), seconds);  // "12345.67 23456.78\n"
  return seconds;
}

long clock_ticks_per_second() { return sysconf(_SC_CLK_TCK); }

namespace {

// What /proc/PID/stat says of a process, and its RSS.
ProcessFacts stat_facts(pid_t pid, const ProcStat& stat) {
  ProcessFacts facts;
  facts.alive = true;
  facts.threads = stat.threads;
  facts.cpu_ticks = stat.cpu_ticks;
  facts.user_ticks = stat.user_ticks;
  facts.system_ticks = stat.system_ticks;
  facts.start_ticks = stat.start_ticks;
  facts.rss_kb = read_rss_kb(pid).value_or(0);
  return facts;
}

// A worker's own numbers: those, its affinity, and with `detail` PSS, USS and fds.
ProcessFacts own_facts(pid_t pid, const ProcStat& stat, bool detail) {
  ProcessFacts facts = stat_facts(pid, stat);
  facts.cpus = allowed_cpus(pid);
  if (detail) {
    if (const std::optional<SharedMemory> shared = read_smaps_rollup(pid)) {
      facts.pss_kb = shared->pss_kb;
      facts.uss_kb = shared->uss_kb;
    }
    facts.fds = count_fds(pid);
  }
  return facts;
}

void sample_master(ProcessSample& out, const ProcStat* stat, bool detail) {
  const pid_t self = getpid();
  out.master_pid = self;
  // The master's affinity and PSS are shown nowhere: only its stat, RSS and (detail) fds.
  if (stat != nullptr) out.master = stat_facts(self, *stat);
  if (detail) out.master.fds = count_fds(self);
  out.system_uptime_s = system_uptime_s();
  out.ticks_per_second = clock_ticks_per_second();
}

// With a cgroup per worker: each worker's tree is its cgroup's members, and the whole tree is the
// master plus them, so nothing else on the host is read. Each cgroup is read through its own
// directory fd when the host has one (`dirs[k]` >= 0: no path walk through the hierarchy), and
// cgroup.threads only when a worker's tree has more than its own process (whose stat already
// counts its threads). False (and `out` untouched) when a cgroup cannot be read: the caller scans
// /proc instead.
bool sample_by_cgroups(const std::vector<pid_t>& pids, const std::vector<std::string>& cgroups,
                       const std::vector<int>& dirs, bool tree_rss, bool detail,
                       ProcessSample& out) {
  ProcessSample sample;
  const std::optional<ProcStat> self = read_proc_stat(getpid());
  sample_master(sample, self ? &*self : nullptr, detail);
  sample.total_processes = 1;
  sample.total_threads = sample.master.threads;
  sample.workers.reserve(pids.size());
  for (std::size_t k = 0; k < pids.size(); ++k) {
    // A file of the worker's cgroup: relative to its fd when there is one, else by path.
    const bool has_dir = k < dirs.size() && dirs[k] >= 0;
    const int dir = has_dir ? dirs[k] : AT_FDCWD;
    const std::string prefix = has_dir ? std::string() : cgroups[k] + "/";
    const auto members = [&](const char* file) {
      return read_pid_list(dir, (prefix + file).c_str());
    };
    const std::optional<std::vector<pid_t>> procs = members("cgroup.procs");
    if (!procs) return false;
    ProcessFacts facts;
    const std::optional<ProcStat> stat = read_proc_stat(pids[k]);
    const bool alone = stat && procs->size() == 1 && procs->front() == pids[k];
    unsigned threads = alone ? stat->threads : 0;
    if (!alone) {
      const std::optional<std::vector<pid_t>> all = members("cgroup.threads");
      if (!all) return false;
      threads = static_cast<unsigned>(all->size());
    }
    if (stat) {
      facts = own_facts(pids[k], *stat, detail);
      facts.tree_processes = static_cast<unsigned>(procs->size());
      facts.tree_threads = threads;
      for (pid_t member : *procs) {
        if (tree_rss)
          facts.tree_rss_kb += member == pids[k] ? facts.rss_kb : read_rss_kb(member).value_or(0);
      }
      if (detail) {
        const std::string text = read_text_at(dir, (prefix + "cpu.stat").c_str());
        if (const std::optional<CgroupCpu> cpu = parse_cgroup_cpu(text)) facts.tree_cpu = *cpu;
      }
    }
    sample.total_processes += static_cast<unsigned>(procs->size());
    sample.total_threads += threads;
    sample.workers.emplace_back(pids[k], std::move(facts));
  }
  out = std::move(sample);
  return true;
}

}  // namespace

ProcessSample sample_processes(const std::vector<pid_t>& pids,
                               const std::vector<std::string>& cgroups, bool tree_rss, bool detail,
                               const std::vector<int>& cgroup_dirs) {
  ProcessSample out;
  const bool every_worker_has_one =
      cgroups.size() == pids.size() &&
      std::none_of(cgroups.begin(), cgroups.end(), [](const std::string& c) { return c.empty(); });
  if (every_worker_has_one && sample_by_cgroups(pids, cgroups, cgroup_dirs, tree_rss, detail, out))
    return out;

  const ProcessTree tree = ProcessTree::scan();
  const pid_t self = getpid();
  sample_master(out, tree.stat(self), detail);
  for (pid_t pid : tree.subtree(self)) {
    if (const ProcStat* stat = tree.stat(pid)) {
      ++out.total_processes;
      out.total_threads += stat->threads;
    }
  }
  out.workers.reserve(pids.size());
  for (pid_t pid : pids) {
    ProcessFacts facts;
    if (const ProcStat* stat = tree.stat(pid)) {
      facts = own_facts(pid, *stat, detail);
      for (pid_t member : tree.subtree(pid)) {
        const ProcStat* s = tree.stat(member);
        if (s == nullptr) continue;  // started after the scan
        ++facts.tree_processes;
        facts.tree_threads += s->threads;
        if (tree_rss)
          facts.tree_rss_kb += member == pid ? facts.rss_kb : read_rss_kb(member).value_or(0);
      }
    }
    out.workers.emplace_back(pid, std::move(facts));
  }
  return out;
}

}  // namespace clusterd::os
