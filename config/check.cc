#include "config/check.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "config/check_parts.h"
#include "config/values.h"

namespace clusterd::config {
namespace {

// glibc's search path when PATH is unset (see execvp(3)).
constexpr std::string_view kDefaultPath = "/bin:/usr/bin";

// `name` relative to `cwd`, and both relative to our own working directory: the result is
// absolute, so that the worker, which changes to `cwd` before its exec, runs the same file.
std::string resolve(std::string_view name, std::string_view cwd) {
  if (!name.empty() && name.front() == '/') return std::string(name);
  std::string out;
  if (cwd.empty() || cwd.front() != '/') {
    char here[4096];
    if (getcwd(here, sizeof here) != nullptr) out = here;
  }
  if (!cwd.empty()) {
    if (!out.empty() && out.back() != '/') out += '/';
    out += cwd;
  }
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

// fs.nr_open: the highest RLIMIT_NOFILE the kernel allows anyone.
std::optional<std::uint64_t> nr_open() {
  std::FILE* f = std::fopen("/proc/sys/fs/nr_open", "r");
  if (f == nullptr) return std::nullopt;
  unsigned long long value = 0;
  const bool ok = std::fscanf(f, "%llu", &value) == 1;
  std::fclose(f);
  return ok ? std::optional<std::uint64_t>(value) : std::nullopt;
}

void check_nofile(const AppSpec& app, const std::string& file, const std::string& prefix,
                  std::vector<ConfigError>& errors) {
  if (!app.nofile) return;
  const std::optional<std::uint64_t> kernel_max = nr_open();
  if (kernel_max && *app.nofile > *kernel_max) {
    errors.push_back({file, app.nofile_at, prefix + "limits.nofile",
                      std::to_string(*app.nofile) + " is above the kernel's fs.nr_open (" +
                          std::to_string(*kernel_max) + "): every start would fail"});
    return;
  }
  rlimit own{};
  if (geteuid() != 0 && getrlimit(RLIMIT_NOFILE, &own) == 0 && *app.nofile > own.rlim_max) {
    errors.push_back({file, app.nofile_at, prefix + "limits.nofile",
                      std::to_string(*app.nofile) + " is above clusterd's own hard limit (" +
                          std::to_string(own.rlim_max) + "), and only root may raise it"});
  }
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Calls getpw*_r / getgr*_r for `key` with a growing buffer. Returns 1 found, 0 absent, -errno on
// error.
template <class Entry, class Key, class Lookup>
int lookup_entry(Key key, Lookup lookup) {
  std::vector<char> buf(16384);
  for (;;) {
    Entry entry{};
    Entry* result = nullptr;
    int rc = lookup(key, &entry, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (std::size_t{1} << 24)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (result != nullptr) return 1;
    if (lookup_not_found(rc)) return 0;
    return -rc;
  }
}

// A name must exist; a number is a uid whether or not it has a passwd entry (but the lookup of
// the entry, for its home and groups, must not fail).
void check_user(const std::string& name, const std::string& file, Mark at, const std::string& key,
                std::vector<ConfigError>& errors) {
  if (all_digits(name)) {
    const std::optional<std::uint32_t> uid = numeric_id(name);
    if (!uid) {
      errors.push_back({file, at, key, id_out_of_range("user", name)});
    } else if (int r = lookup_entry<passwd>(static_cast<uid_t>(*uid), ::getpwuid_r); r < 0) {
      errors.push_back(
          {file, at, key, "cannot look up user id " + name + ": " + std::strerror(-r)});
    }
    return;
  }
  int r = lookup_entry<passwd>(name.c_str(), ::getpwnam_r);
  if (r == 0) errors.push_back({file, at, key, "user " + quoted(name) + " does not exist"});
  if (r < 0) {
    errors.push_back(
        {file, at, key, "cannot look up user " + quoted(name) + ": " + std::strerror(-r)});
  }
}

// A name must exist; a number is a gid, with no lookup.
void check_group(const std::string& name, const std::string& file, Mark at, const std::string& key,
                 std::vector<ConfigError>& errors) {
  if (all_digits(name)) {
    if (!numeric_id(name)) errors.push_back({file, at, key, id_out_of_range("group", name)});
    return;
  }
  int r = lookup_entry<group>(name.c_str(), ::getgrnam_r);
  if (r == 0) errors.push_back({file, at, key, "group " + quoted(name) + " does not exist"});
  if (r < 0) {
    errors.push_back(
        {file, at, key, "cannot look up group " + quoted(name) + ": " + std::strerror(-r)});
  }
}

// control.group, and the users and @groups of control.read and control.admin.
void check_control_names(const ControlSpec& control, const std::string& file,
                         std::vector<ConfigError>& errors) {
  if (!control.group.empty()) {
    check_group(control.group, file, control.group_at, "control.group", errors);
  }
  for (const auto& [list, key] :
       {std::pair{&control.read, "control.read"}, std::pair{&control.admin, "control.admin"}}) {
    for (const Principal& p : *list) {
      (p.group ? check_group : check_user)(p.name, file, p.at, key, errors);
    }
  }
}

// An app's user and group, and its unix: listeners' socket_user and socket_group.
void check_app_names(const AppSpec& app, const std::string& file, const std::string& prefix,
                     std::vector<ConfigError>& errors) {
  if (!app.user.empty()) check_user(app.user, file, app.user_at, prefix + "user", errors);
  if (!app.group.empty()) check_group(app.group, file, app.group_at, prefix + "group", errors);
  for (const ListenerSpec& l : app.listeners) {
    const std::string key = prefix + "listen." + l.name;
    if (!l.socket_user.empty()) {
      check_user(l.socket_user, file, l.socket_owner_at, key + ".socket_user", errors);
    }
    if (!l.socket_group.empty()) {
      check_group(l.socket_group, file, l.socket_owner_at, key + ".socket_group", errors);
    }
  }
}

// The directories of the system's own files. A log file among them would be appended to and
// rotated (renamed to FILE.1.., the oldest removed) there: `logs.file: /etc/passwd` would eat it.
constexpr std::string_view kSystemDirs[] = {"/etc",   "/usr",   "/boot",   "/bin", "/sbin", "/lib",
                                            "/lib32", "/lib64", "/libx32", "/dev", "/proc", "/sys"};

// The system directory `path` (absolute, without symbolic links) is in, or an empty view.
std::string_view system_dir_of(std::string_view path) {
  for (std::string_view dir : kSystemDirs) {
    if (path.starts_with(dir) && (path.size() == dir.size() || path[dir.size()] == '/')) {
      return dir;
    }
  }
  return {};
}

// The master appends a `capture` app's output to logs.file, creating it, and rotates it beside
// itself: its directory must exist and not be a system directory (symbolic links resolved), and
// the path, if something is there already, must be a regular file (the master opens it without
// following a symbolic link).
void check_log_file(const AppSpec& app, const std::string& file, const std::string& prefix,
                    std::vector<ConfigError>& errors) {
  if (app.logs.file.empty()) return;
  const std::string& path = app.logs.file;
  auto problem = [&](const std::string& message) {
    errors.push_back({file, app.logs.file_at, prefix + "logs.file", message});
  };
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    problem(err == ENOENT ? "its directory " + quoted(dir) + " does not exist"
                          : "cannot use its directory " + quoted(dir) + ": " + std::strerror(err));
    return;
  }
  if (!S_ISDIR(st.st_mode)) return problem(quoted(dir) + " is not a directory");
  char real[PATH_MAX];
  if (::realpath(dir.c_str(), real) != nullptr) {
    if (const std::string_view system = system_dir_of(real); !system.empty()) {
      return problem(quoted(path) + " is in " + std::string(system) +
                     ", a system directory: the log and its rotations must go elsewhere");
    }
  }
  if (::lstat(path.c_str(), &st) != 0) return;  // created at the first line
  if (S_ISLNK(st.st_mode)) {
    problem(quoted(path) + " is a symbolic link; name the file itself");
  } else if (S_ISDIR(st.st_mode)) {
    problem(quoted(path) + " is a directory; expected a file (or nothing yet) there");
  } else if (!S_ISREG(st.st_mode)) {
    problem(quoted(path) + " is not a regular file");
  }
}

// What execve takes of argv and envp together: a quarter of the stack limit, at most 3/4 of
// _STK_LIM (6 MiB) and at least ARG_MAX (128 KiB); each string at most MAX_ARG_STRLEN (32
// pages) with its NUL (fs/exec.c). The worker inherits the master's stack limit.
struct ExecLimits {
  std::uint64_t total = 0;
  std::string why;  // where `total` comes from
  std::uint64_t string = 0;
};

ExecLimits exec_limits() {
  ExecLimits out;
  constexpr std::uint64_t kMost = std::uint64_t{6} << 20;
  constexpr std::uint64_t kLeast = 128 * 1024;
  rlimit stack{};
  out.total = kMost;
  out.why = "its most, whatever the stack limit";
  if (getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY &&
      stack.rlim_cur / 4 < kMost) {
    out.total = std::max<std::uint64_t>(kLeast, stack.rlim_cur / 4);
    out.why = out.total == kLeast
                  ? "its least, whatever the stack limit"
                  : "a quarter of the stack limit, " + std::to_string(stack.rlim_cur);
  }
  const long page = sysconf(_SC_PAGESIZE);
  out.string = static_cast<std::uint64_t>(page > 0 ? page : 4096) * 32 - 1;
  return out;
}

// Bytes and count of the strings a worker inherits of our environment (inherit_env).
std::pair<std::uint64_t, std::uint64_t> inherited_size(const AppSpec& app) {
  EnvInherit::Mode mode = app.inherit_env.mode;
  if (mode == EnvInherit::Mode::Auto) {
    mode = app.user.empty() ? EnvInherit::Mode::All : EnvInherit::Mode::None;
  }
  std::uint64_t bytes = 64;  // the PATH given to a worker that does not inherit one
  std::uint64_t count = 1;
  if (mode == EnvInherit::Mode::None) return {bytes, count};
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string_view name = text.substr(0, text.find('='));
    const auto& names = app.inherit_env.names;
    if (mode == EnvInherit::Mode::Listed &&
        std::find(names.begin(), names.end(), name) == names.end()) {
      continue;
    }
    bytes += text.size() + 1;
    ++count;
  }
  return {bytes, count};
}

// Each argument and each env entry must fit in one execve string, and all of them together,
// with what the worker inherits and clusterd's own variables, in what execve accepts.
void check_exec_size(const AppSpec& app, const std::string& file, const std::string& prefix,
                     std::vector<ConfigError>& errors) {
  const ExecLimits limits = exec_limits();
  const std::string strlen_limit = std::to_string(limits.string);
  // clusterd's own variables (CLUSTER_*, LISTEN_*, NOTIFY_SOCKET, WATCHDOG_*, a user's HOME,
  // SHELL, ..., the service directories): an allowance, and each listener's name and address.
  std::uint64_t bytes = 4096;
  std::uint64_t count = 16;
  for (const ListenerSpec& l : app.listeners) bytes += 2 * (l.name.size() + l.address.text.size());
  for (std::size_t i = 0; i < app.command.size(); ++i) {
    const std::uint64_t size = app.command[i].size();
    bytes += size + 1 + (i == 0 ? size + 1 : 0);  // the program's path is copied once more
    if (size > limits.string) {
      errors.push_back({file, app.command_at, prefix + "command[" + std::to_string(i) + "]",
                        "an argument of " + std::to_string(size) + " bytes; the kernel takes " +
                            strlen_limit + " at most (MAX_ARG_STRLEN)"});
    }
  }
  for (std::size_t i = 0; i < app.env.size(); ++i) {
    const auto& [name, value] = app.env[i];
    const std::uint64_t size = name.size() + 1 + value.size();
    bytes += size + 1;
    if (size > limits.string) {
      errors.push_back({file, i < app.env_at.size() ? app.env_at[i] : app.command_at,
                        prefix + "env." + name,
                        "NAME=value is " + std::to_string(size) + " bytes; the kernel takes " +
                            strlen_limit + " at most in one variable (MAX_ARG_STRLEN)"});
    }
  }
  const auto [inherited, inherited_count] = inherited_size(app);
  bytes += inherited + (app.command.size() + app.env.size() + count + inherited_count + 2) * 8;
  if (bytes > limits.total) {
    errors.push_back({file, app.command_at, prefix + "command",
                      "with its environment the command takes about " + std::to_string(bytes) +
                          " bytes; execve accepts at most " + std::to_string(limits.total) +
                          " here (" + limits.why + ")"});
  }
}

// The master binds a unix: listener's socket in its directory: one that is missing, is not a
// directory or is read-only (systemd's ProtectSystem=strict makes all but a few paths so) would
// fail every start.
void check_unix_listener(const ListenerSpec& listener, const std::string& file,
                         const std::string& prefix, std::vector<ConfigError>& errors) {
  if (listener.address.family != Address::Family::Unix || listener.mode == ListenMode::Worker) {
    return;
  }
  const std::string& path = listener.address.path;
  if (path.empty() || path.front() == '@') return;  // abstract: no file
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string key = prefix + "listen." + listener.name;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    errors.push_back({file, listener.at, key,
                      err == ENOENT
                          ? "directory " + quoted(dir) + " does not exist"
                          : "cannot use directory " + quoted(dir) + ": " + std::strerror(err)});
  } else if (!S_ISDIR(st.st_mode)) {
    errors.push_back({file, listener.at, key, quoted(dir) + " is not a directory"});
  } else if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    std::string message = "cannot create a socket in " + quoted(dir) + ": " + std::strerror(err);
    if (err == EROFS) {
      message +=
          " (under the shipped clusterd.service only /run, /tmp and /var/tmp are "
          "writable; add ReadWritePaths=" +
          dir + ")";
    }
    errors.push_back({file, listener.at, key, message});
  }
}

// Socket adoption needs a kernel feature: one error per app that uses it, at its adopt key, when
// the feature is missing (never a silent fallback to the worker's own bind).
void check_adoption(const Config& config, std::vector<ConfigError>& errors) {
  std::string problem;
  bool probed = false;
  for (const AppSpec& app : config.apps) {
    if (!uses_adoption(app)) continue;
    if (!probed) problem = adoption_unsupported();
    probed = true;
    if (problem.empty()) return;
    const auto listener = std::find_if(app.listeners.begin(), app.listeners.end(),
                                       [](const ListenerSpec& l) { return l.adopt; });
    const bool at_app = app.adopt_all || listener == app.listeners.end();
    errors.push_back({config.path, at_app ? app.adopt_at : listener->adopt_at,
                      "apps." + app.name + (at_app ? "" : ".listen." + listener->name) + ".adopt",
                      "socket adoption needs seccomp user notification with "
                      "SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9 or later), and here " +
                          problem});
  }
}

}  // namespace

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint32_t> numeric_id(std::string_view text) {
  if (!all_digits(text)) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > kMaxId) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

std::string id_out_of_range(std::string_view kind, std::string_view digits) {
  return std::string(kind) + " id " + std::string(digits) + " is out of range (at most " +
         std::to_string(kMaxId) + ")";
}

bool lookup_not_found(int rc) {
  return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

std::optional<std::string> find_executable(std::string_view name, std::string_view path_env,
                                           std::string_view cwd) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) {
    std::string path = resolve(name, cwd);
    if (is_executable_file(path)) return path;
    return std::nullopt;
  }
  // Each ':'-separated entry; an empty entry means the current directory, as for execvp.
  std::size_t start = 0;
  for (;;) {
    std::size_t end = path_env.find(':', start);
    std::string_view dir = path_env.substr(
        start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::string candidate =
        dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name);
    candidate = resolve(candidate, cwd);
    if (is_executable_file(candidate)) return candidate;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return std::nullopt;
}

std::vector<ConfigError> check_environment(const Config& config, bool names) {
  std::vector<ConfigError> errors;
  const std::string& file = config.path;
  const char* path_var = std::getenv("PATH");
  std::string_view path_env = path_var != nullptr ? std::string_view(path_var) : kDefaultPath;

  if (names) check_control_names(config.control, file, errors);

  for (const AppSpec& app : config.apps) {
    const std::string prefix = "apps." + app.name + ".";
    bool cwd_ok = true;
    if (!app.cwd.empty()) {
      struct stat st {};
      if (::stat(app.cwd.c_str(), &st) != 0) {
        int err = errno;
        cwd_ok = false;
        errors.push_back({file, app.cwd_at, prefix + "cwd",
                          err == ENOENT
                              ? quoted(app.cwd) + " does not exist"
                              : "cannot use " + quoted(app.cwd) + ": " + std::strerror(err)});
      } else if (!S_ISDIR(st.st_mode)) {
        cwd_ok = false;
        errors.push_back(
            {file, app.cwd_at, prefix + "cwd", quoted(app.cwd) + " is not a directory"});
      }
    }

    if (!app.command.empty()) {
      const std::string& name = app.command[0];
      bool has_slash = name.find('/') != std::string::npos;
      bool relative_to_cwd = has_slash && name.front() != '/' && !app.cwd.empty();
      if (!(relative_to_cwd && !cwd_ok) && !find_executable(name, path_env, app.cwd)) {
        std::string message;
        if (has_slash) {
          struct stat st {};
          std::string path = resolve(name, app.cwd);
          message = ::stat(path.c_str(), &st) == 0 ? quoted(name) + " is not executable"
                                                   : quoted(name) + " not found";
        } else {
          message = quoted(name) + " not found in PATH (" + std::string(path_env) + ")";
        }
        errors.push_back({file, app.command_at, prefix + "command", message});
      }
    }

    check_nofile(app, file, prefix, errors);
    for (const ListenerSpec& listener : app.listeners) {
      check_unix_listener(listener, file, prefix, errors);
    }
    check_log_file(app, file, prefix, errors);
    check_exec_size(app, file, prefix, errors);
    check_schedule_zone(app, file, prefix, errors);
    check_watch_paths(app, file, prefix, errors);
    if (names) check_app_names(app, file, prefix, errors);
  }
  check_adoption(config, errors);
  return errors;
}

}  // namespace clusterd::config
