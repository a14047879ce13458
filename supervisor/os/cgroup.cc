#include "supervisor/os/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>

#include "supervisor/os/procfs.h"

namespace clusterd::os {

namespace {

// The inode of the initial cgroup namespace (PROC_CGROUP_INIT_INO in the kernel): any other
// value means we run in a cgroup namespace of our own.
constexpr ino_t kInitialCgroupNamespace = 0xEFFFFFFBU;

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::system_category(), what);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  const UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) fail("open " + path);
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    fail("write " + path);
  }
}

void make_dirs(const std::string& path) {
  std::size_t slash = 1;
  while (slash != std::string::npos) {
    slash = path.find('/', slash + 1);
    const std::string part = path.substr(0, slash);
    if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) fail("mkdir " + part);
  }
}

}  // namespace

bool parse_populated(const std::string& events) {
  const std::size_t at = events.find("populated ");
  return at != std::string::npos && at + 10 < events.size() && events[at + 10] == '1';
}

namespace {

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

// Turns `controller` on for the children of `dir`, unless it is on already.
void enable_controller(const std::string& dir, const std::string& controller) {
  const std::string file = dir + "/cgroup.subtree_control";
  const std::string enabled = " " + read_file(file) + " ";
  if (enabled.find(controller) != std::string::npos) return;
  const UniqueFd fd(open(file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) fail("open " + file);
  const std::string text = "+" + controller;
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    fail("write " + text + " to " + file);
  }
}

}  // namespace

std::vector<std::string> apply_limits(const std::string& root, const std::string& leaf,
                                      const config::CgroupLimits& limits,
                                      std::optional<std::uint64_t> memory_high) {
  struct Want {
    const char* key;
    const char* controller;
    const char* file;
    std::string value;
  };
  std::vector<Want> wants;
  if (limits.memory_max) {
    wants.push_back({"memory_max", "memory", "memory.max", std::to_string(*limits.memory_max)});
  }
  if (limits.cpu_weight) {
    wants.push_back({"cpu_weight", "cpu", "cpu.weight", std::to_string(*limits.cpu_weight)});
  }
  if (limits.pids_max) {
    wants.push_back({"pids_max", "pids", "pids.max", std::to_string(*limits.pids_max)});
  }
  if (memory_high) {
    wants.push_back({"max_memory", "memory", "memory.high", std::to_string(*memory_high)});
  }
  std::vector<std::string> dirs;  // root, ..., the leaf's parent
  for (std::string d = parent_of(leaf); d.size() >= root.size(); d = parent_of(d)) {
    dirs.insert(dirs.begin(), d);
    if (d == root || d == "/") break;
  }
  std::vector<std::string> problems;
  for (const Want& want : wants) {
    try {
      for (const std::string& dir : dirs) enable_controller(dir, want.controller);
      write_file(leaf + "/" + want.file, want.value);
    } catch (const std::system_error& e) {
      problems.push_back(std::string(want.key) + " not applied (the " + want.controller +
                         " controller): " + e.what());
    }
  }
  return problems;
}

namespace {

template <typename T>
bool parse_id(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

// Calls `on(key, value)` for each "key value" line of a cgroup counters file.
template <typename F>
void for_each_counter(std::string_view text, F on) {
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    const std::size_t space = line.find(' ');
    std::uint64_t value = 0;
    if (space != std::string_view::npos && parse_id(line.substr(space + 1), value))
      on(line.substr(0, space), value);
  }
}

std::optional<MemoryEvents> parse_memory_events(std::string_view text) {
  MemoryEvents out;
  bool high = false;
  for_each_counter(text, [&](std::string_view key, std::uint64_t value) {
    if (key == "high") {
      out.high = value;
      high = true;
    } else if (key == "max") {
      out.max = value;
    } else if (key == "oom") {
      out.oom = value;
    } else if (key == "oom_kill") {
      out.oom_kill = value;
    }
  });
  return high ? std::optional<MemoryEvents>(out) : std::nullopt;
}

std::optional<MemoryEvents> read_memory_events(int fd) {
  char buffer[512];
  const ssize_t n = pread(fd, buffer, sizeof buffer, 0);
  if (n <= 0) return std::nullopt;
  return parse_memory_events(std::string_view(buffer, static_cast<std::size_t>(n)));
}

std::optional<std::uint64_t> read_memory_current(const std::string& cgroup) {
  const std::string text = read_file(cgroup + "/memory.current");
  std::uint64_t bytes = 0;
  const std::size_t end = text.find_first_of("\n");
  if (!parse_id(std::string_view(text).substr(0, end), bytes)) return std::nullopt;
  return bytes;
}

std::optional<CgroupCpu> parse_cgroup_cpu(std::string_view stat) {
  CgroupCpu out;
  bool usage = false;
  for_each_counter(stat, [&](std::string_view key, std::uint64_t value) {
    if (key == "usage_usec") {
      out.usage_usec = value;
      usage = true;
    } else if (key == "user_usec") {
      out.user_usec = value;
    } else if (key == "system_usec") {
      out.system_usec = value;
    }
  });
  return usage ? std::optional<CgroupCpu>(out) : std::nullopt;
}

// The cgroup v2 mount point, from /proc/self/mountinfo; empty when there is none.
std::string cgroup_v2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, devices, root, point;
    fields >> id >> parent >> devices >> root >> point;
    return point;
  }
  return {};
}

// The master's own cgroup v2 path ("0::/system.slice/clusterd.service").
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return {};
}

bool delegated(const std::string& path) {
  for (const char* name : {"trusted.delegate", "user.delegate"}) {
    char value[8] = {};
    const ssize_t n = getxattr(path.c_str(), name, value, sizeof value - 1);
    if (n > 0 && value[0] == '1') return true;
  }
  return false;
}

bool in_own_cgroup_namespace() {
  struct stat st {};
  return stat("/proc/self/ns/cgroup", &st) == 0 && st.st_ino != kInitialCgroupNamespace;
}

bool writable_dir(const std::string& path) { return access(path.c_str(), W_OK) == 0; }

void prepare_cgroup_tree(const CgroupTree& tree) {
  make_dirs(tree.root + "/workers");
  if (!tree.own) return;
  make_dirs(tree.root + "/master");
  write_file(tree.root + "/master/cgroup.procs", "0");  // this process
}

std::uint64_t cgroup_id(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

Cgroup::Cgroup(std::string path) : path_(std::move(path)) {
  make_dirs(path_);
  dir_ = UniqueFd(open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir_) fail("open " + path_);
  events_ = UniqueFd(open((path_ + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
  if (!events_) fail("open " + path_ + "/cgroup.events");
  id_ = cgroup_id(path_);
}

bool Cgroup::populated() const {
  char text[256];
  const ssize_t n = pread(events_.get(), text, sizeof text - 1, 0);
  return n > 0 && parse_populated(std::string(text, static_cast<std::size_t>(n)));
}

void Cgroup::kill() const {
  const UniqueFd fd(open((path_ + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC));
  if (fd && write(fd.get(), "1", 1) == 1) return;
  signal(SIGKILL);  // before Linux 5.14: one by one
}

void Cgroup::signal(int signal) const {
  for (pid_t pid : procs()) ::kill(pid, signal);
}

std::vector<pid_t> Cgroup::procs() const {
  return read_pid_list(AT_FDCWD, (path_ + "/cgroup.procs").c_str()).value_or(std::vector<pid_t>{});
}

bool Cgroup::remove() const { return rmdir(path_.c_str()) == 0 || errno == ENOENT; }

}  // namespace clusterd::os
