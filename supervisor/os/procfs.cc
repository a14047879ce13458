#include "supervisor/os/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>

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
  // Fields after ") ": 3 state, 4 ppid, ..., 14 utime, 15 stime, ..., 22 starttime.
  std::string_view rest = text.substr(close_paren + 2);
  std::vector<std::string_view> fields;
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
      !parse_number(fields[12], stime) || !parse_number(trim(fields[19]), stat.start_ticks)) {
    return std::nullopt;
  }
  stat.cpu_ticks = utime + stime;
  return stat;
}

ProcStatus parse_proc_status(std::string_view text) {
  ProcStatus status;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view key = line.substr(0, colon);
      std::string_view value = trim(line.substr(colon + 1));
      if (key == "Threads") {
        parse_number(value, status.threads);
      } else if (key == "VmRSS") {
        if (value.size() > 3 && value.substr(value.size() - 3) == " kB") {
          value.remove_suffix(3);
        }
        parse_number(trim(value), status.rss_kb);
      } else if (key == "Cpus_allowed_list") {
        status.cpus = std::string(value);
      }
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return status;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::optional<std::string> text = slurp(path.c_str());
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

std::optional<ProcStatus> read_proc_status(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::optional<std::string> text = slurp(path.c_str());
  if (!text) return std::nullopt;
  return parse_proc_status(*text);
}

ProcessTree ProcessTree::scan() {
  ProcessTree tree;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return tree;
  while (dirent* entry = readdir(dir)) {
    pid_t pid = 0;
    const std::string_view name(entry->d_name);
    if (!parse_number(name, pid)) continue;
    if (std::optional<ProcStat> stat = read_proc_stat(pid)) {
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
