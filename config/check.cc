#include "config/check.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace clusterd::config {
namespace {

// glibc's search path when PATH is unset (see execvp(3)).
constexpr std::string_view kDefaultPath = "/bin:/usr/bin";

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

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

// The master appends a `capture` app's output to logs.file: its directory must exist (the
// master creates the file, and rotates it beside itself, never a directory).
void check_log_file(const AppSpec& app, const std::string& file, const std::string& prefix,
                    std::vector<ConfigError>& errors) {
  if (app.logs.file.empty()) return;
  const std::size_t slash = app.logs.file.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : app.logs.file.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    errors.push_back({file, app.logs.file_at, prefix + "logs.file",
                      err == ENOENT
                          ? "its directory " + quoted(dir) + " does not exist"
                          : "cannot use its directory " + quoted(dir) + ": " + std::strerror(err)});
  } else if (!S_ISDIR(st.st_mode)) {
    errors.push_back(
        {file, app.logs.file_at, prefix + "logs.file", quoted(dir) + " is not a directory"});
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
    if (names) check_app_names(app, file, prefix, errors);
  }
  return errors;
}

}  // namespace clusterd::config
