#include "config/parse.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "config/cron.h"
#include "config/values.h"
#include "config/walker.h"
#include "config/yaml_documents.h"

namespace clusterd::config {

Config Walker::walk(const YAML::Node& root) {
  Config config;
  config.path = origin_;
  Mark root_at = mark_of(root, Mark{1, 1});
  if (!tag_ok(root, root_at, "")) return config;
  const YAML::Node top = as_read(root);
  if (top.IsNull()) {
    error(root_at, "apps", "required key is missing");
    return config;
  }
  auto entries =
      map_entries(top, root_at, "", {"control", "cgroups", "metrics", "apps"}, Place::Top);
  if (!entries) return config;
  bool have_apps = false;
  for (const Entry& e : *entries) {
    if (e.key == "control") {
      control(e, config.control);
    } else if (e.key == "metrics") {
      metrics(e, config.metrics);
    } else if (e.key == "cgroups") {
      if (auto s = string(e)) {
        if (*s == "auto" || *s == "off" ||
            (s->front() == '/' && s->find("/..") == std::string::npos)) {
          config.cgroups = *s;
        } else {
          error(e.value_at, e.path, "expected auto, off or an absolute path, got " + quoted(*s));
        }
      }
    } else {
      have_apps = true;
      apps(e, config);
    }
  }
  if (!have_apps) missing(root_at, "apps");
  port_ranges(config);
  port_envs(config);
  if (!environment_.empty() && !environment_found_ && errors.empty()) environment_missing(config);
  if (config.metrics.address) {
    for (const Bound& b : bound_.all()) {
      if (addresses_conflict(b.address, *config.metrics.address)) {
        error(config.metrics.at, "metrics.address",
              config.metrics.address->text + " is already used by " + b.path + " at line " +
                  std::to_string(b.at.line));
        break;
      }
    }
  }
  return config;
}

void Walker::control(const Entry& e, ControlSpec& out) {
  auto entries = map_entries(e.value, e.value_at, e.path,
                             {"socket", "group", "read", "admin", "max_clients", "idle_timeout"});
  if (!entries) return;
  for (const Entry& c : *entries) {
    if (c.key == "read" || c.key == "admin") {
      principals(c, c.key == "read" ? out.read : out.admin);
    } else if (c.key == "max_clients") {
      if (auto n = integer(c, 1, 65536)) out.max_clients = static_cast<unsigned>(*n);
    } else if (c.key == "idle_timeout") {
      if (auto d = duration(c, true)) out.idle_timeout = *d;
    } else if (auto s = string(c)) {
      if (c.key == "socket") {
        if (std::string why = unix_path_problem(*s); !why.empty()) error(c.value_at, c.path, why);
        out.socket = *s;
        out.socket_at = c.value_at;
      } else {
        out.group = *s;
        out.group_at = c.value_at;
      }
    }
  }
}

// `read: [alice, "@ops", 1001]`: users, and groups written with a leading '@'.
void Walker::principals(const Entry& e, std::vector<Principal>& out) {
  if (!e.value.IsSequence()) {
    error(e.value_at, e.path, "expected a sequence of user names and @group names");
    return;
  }
  std::size_t i = 0;
  for (const YAML::Node& node : e.value) {
    const std::optional<Entry> one = item(e, node, i++);
    std::optional<std::string> s = one ? string(*one) : std::nullopt;
    if (!s) continue;
    Principal p{(*s)[0] == '@', (*s)[0] == '@' ? s->substr(1) : *s, one->value_at};
    if (p.name.empty()) {
      error(one->value_at, one->path, "expected a group name after '@'");
      continue;
    }
    out.push_back(std::move(p));
  }
}

void Walker::apps(const Entry& e, Config& out) {
  if (e.value.IsSequence()) {  // PM2's ecosystem file has a list of apps, each with a name
    error(e.value_at, e.path,
          "expected a map of app name -> app, got a sequence (a PM2 ecosystem file? clusterctl "
          "import FILE converts one)");
    return;
  }
  auto entries = map_entries(e.value, e.value_at, e.path, {});
  if (!entries) return;
  if (entries->empty() && e.value.size() == 0) {
    error(e.value_at, e.path, "expected at least one app");
    return;
  }
  for (const Entry& a : *entries) {
    if (!is_app_name(a.key)) {
      error(a.key_at, a.path,
            "invalid app name; expected 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'");
    }
    AppSpec spec;
    spec.name = a.key;
    spec.at = a.key_at;
    app(a, spec);
    out.apps.push_back(std::move(spec));
  }
}

void Walker::app(const Entry& e, AppSpec& app) {
  // clang-format off
  auto entries = map_entries(e.value, e.value_at, e.path,
      {"command", "instances", "cpu_affinity", "listen", "ready", "ready_timeout", "min_ready",
       "stop_signal", "stop_timeout", "restart", "min_uptime", "max_restarts", "restart_window",
       "backoff", "env", "cwd", "user", "group", "limits", "rollout", "watchdog", "max_memory",
       "memory_check_interval", "inherit_env", "logs", "auto_follow", "memory_max",
       "cpu_weight", "pids_max", "umask", "restart_schedule", "watch", "adopt"}, Place::App);
  // clang-format on
  if (!entries) return;
  bool have_command = false;
  Environment chosen;  // env_NAME of the environment clusterd runs in
  for (const Entry& k : *entries) {
    have_command = have_command || k.key == "command";
    if (environment_key(k.key)) {
      environment(k, app, chosen);
    } else if (!lifecycle_key(k, app)) {
      runtime_key(k, app);
    }
  }
  if (!have_command) missing(e.key_at, join(e.path, "command"));
  merge_environment(chosen, app);
  nofile_floor(app, join(e.path, "limits.nofile"));
  if (app.adopt_all) {
    const auto worker_mode =
        std::find_if(app.listeners.begin(), app.listeners.end(),
                     [](const ListenerSpec& l) { return l.mode == ListenMode::Worker; });
    if (worker_mode != app.listeners.end()) {
      error(app.adopt_at, join(e.path, "adopt"),
            "all takes over every TCP bind of the app's workers, and listener '" +
                worker_mode->name +
                "' has mode worker (each worker binds it itself); use shared or reuseport there");
    }
  }
  if (app.auto_follow &&
      (app.instances.count || app.instances.cpus == Instances::Cpus::AllButOne)) {
    error(app.auto_follow_at, join(e.path, "auto_follow"),
          "follows the CPU limit for instances: auto or max only; instances is " +
              (app.instances.count ? std::to_string(*app.instances.count) : std::string("-1")));
  }
  ready_listen(*entries, app);
  const auto given = [&](const char* key) {
    return std::any_of(entries->begin(), entries->end(),
                       [key](const Entry& k) { return k.key == key; });
  };
  // Without `ready:`, the strongest mode that works for the command unchanged: an app whose
  // binds are adopted is ready when its worker calls listen() (it reached its server-start line,
  // as PM2's cluster mode waits for 'listening'); any other is ready once started (exec).
  if (!given("ready") && uses_adoption(app)) app.ready = ReadyMode::Listen;
  ready_probe(*entries, app);
  // ready: exec says nothing about the program's start: unless told otherwise, a worker counts as
  // ready once it stayed up kDefaultExecMinReady, so a generation that dies at start is rolled
  // back instead of rolled out.
  if (!given("min_ready") && app.ready == ReadyMode::Exec) app.min_ready = kDefaultExecMinReady;
}

// `ready: listen` is the moment a worker's listen() is adopted: without adoption it never comes.
void Walker::ready_listen(const std::vector<Entry>& entries, const AppSpec& app) {
  if (app.ready != ReadyMode::Listen || uses_adoption(app)) return;
  for (const Entry& k : entries) {
    if (k.key != "ready") continue;
    error(k.value_at, k.path,
          "ready: listen waits for the worker's listen() to be adopted: it needs adopt: all on "
          "the app or adopt: true on a listener (else use exec, with min_ready)");
  }
}

// The keys of how workers start, stop and come back.
bool Walker::lifecycle_key(const Entry& k, AppSpec& app) {
  const std::string& key = k.key;
  if (key == "ready") {
    ready(k, app);
  } else if (key == "ready_timeout") {
    if (auto d = duration(k, true)) app.ready_timeout = *d;
  } else if (key == "min_ready") {
    if (auto d = duration(k)) app.min_ready = *d;
  } else if (key == "restart_schedule") {
    restart_schedule(k, app);
  } else if (key == "stop_signal") {
    stop_signal(k, app);
  } else if (key == "stop_timeout") {
    if (auto d = duration(k, true)) app.stop_timeout = *d;
  } else if (key == "restart") {
    if (auto v = one_of<RestartPolicy>(k, {{"always", RestartPolicy::Always},
                                           {"on-failure", RestartPolicy::OnFailure},
                                           {"never", RestartPolicy::Never}})) {
      app.restart = *v;
    }
  } else if (key == "min_uptime") {
    if (auto d = duration(k)) app.min_uptime = *d;
  } else if (key == "max_restarts") {
    if (auto n = integer(k, 0, 1000000)) app.max_restarts = static_cast<unsigned>(*n);
  } else if (key == "restart_window") {
    if (auto d = duration(k)) app.restart_window = *d;
  } else if (key == "backoff") {
    backoff(k, app);
  } else if (key == "rollout") {
    rollout(k, app);
  } else if (key == "watchdog") {
    if (auto d = duration(k, true)) app.watchdog = *d;
  } else if (key == "max_memory") {
    if (auto n = memory(k)) app.max_memory = *n;
  } else if (key == "memory_check_interval") {
    if (auto d = duration(k, true)) app.memory_check_interval = *d;
  } else if (key == "memory_max") {
    if (auto n = memory(k)) app.cgroup_limits.memory_max = *n;
  } else if (key == "cpu_weight") {
    if (auto n = integer(k, 1, 10000)) app.cgroup_limits.cpu_weight = static_cast<unsigned>(*n);
  } else if (key == "pids_max") {
    if (auto n = integer(k, 1, 4194304)) app.cgroup_limits.pids_max = static_cast<unsigned>(*n);
  } else if (key == "auto_follow") {
    if (auto d = duration(k, true)) {
      if (*d < std::chrono::seconds(1)) {
        error(k.value_at, k.path, "expected at least 1s, got " + k.value.Scalar());
      } else {
        app.auto_follow = *d;
        app.auto_follow_at = k.value_at;
      }
    }
  } else {
    return false;
  }
  return true;
}

// The keys of what a worker runs, where, and as whom.
bool Walker::runtime_key(const Entry& k, AppSpec& app) {
  const std::string& key = k.key;
  if (key == "command") {
    command(k, app);
  } else if (key == "instances") {
    instances(k, app);
  } else if (key == "cpu_affinity") {
    if (auto v = one_of<CpuAffinity>(
            k, {{"per-worker", CpuAffinity::PerWorker}, {"none", CpuAffinity::None}})) {
      app.cpu_affinity = *v;
    }
  } else if (key == "listen") {
    listeners(k, app);
  } else if (key == "env") {
    env(k, app.env, app.env_at);
  } else if (key == "watch") {
    watch(k, app);
  } else if (key == "cwd") {
    if (auto s = string(k)) app.cwd = *s;
    app.cwd_at = k.value_at;
  } else if (key == "user") {
    if (auto s = string(k)) app.user = *s;
    app.user_at = k.value_at;
  } else if (key == "group") {
    if (auto s = string(k)) app.group = *s;
    app.group_at = k.value_at;
  } else if (key == "limits") {
    limits(k, app);
  } else if (key == "inherit_env") {
    inherit_env(k, app);
  } else if (key == "logs") {
    logs(k, app);
  } else if (key == "adopt") {
    app.adopt_at = k.value_at;
    if (auto v = one_of<bool>(k, {{"all", true}, {"none", false}})) app.adopt_all = *v;
  } else if (key == "umask") {
    const std::string_view hint = "an octal umask such as 022 or 0027";
    if (!k.value.IsScalar()) {
      error(k.value_at, k.path, "expected " + std::string(hint));
    } else if (Result<unsigned> r = parse_octal_mode(k.value.Scalar(), hint); r.value) {
      app.umask = *r.value;
    } else {
      error(k.value_at, k.path, r.error);
    }
  } else {
    return false;
  }
  return true;
}

ParseResult parse_config(std::string_view yaml, std::string_view origin,
                         std::string_view environment) {
  Walker walker(yaml, origin, environment);
  ParseResult result;
  if (yaml.size() > kMaxConfigBytes) {
    walker.error(Mark{}, "",
                 "larger than " + std::to_string(kMaxConfigBytes) + " bytes (" +
                     std::to_string(yaml.size()) + ")");
    result.errors = std::move(walker.errors);
    return result;
  }
  YAML::Node root;
  std::vector<YAML::Mark> starts;  // where each document's root node is
  try {
    starts = document_roots(std::string(yaml));
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp 0.7 labels it "bad file"
    walker.error(Mark{e.mark.line + 1, e.mark.column + 1}, "", "the document is nested too deeply");
    result.errors = std::move(walker.errors);
    return result;
  } catch (const YAML::ParserException& e) {
    Mark at{e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.column >= 0 ? e.mark.column + 1 : 0};
    walker.error(at, "", e.msg);
    result.errors = std::move(walker.errors);
    return result;
  } catch (const std::exception& e) {
    walker.error(Mark{}, "", e.what());
    result.errors = std::move(walker.errors);
    return result;
  }
  if (starts.size() > 1) {
    YAML::Mark m = starts[1];
    walker.error(m.line >= 0 ? Mark{m.line + 1, m.column + 1} : Mark{}, "",
                 "expected a single YAML document, found " + std::to_string(starts.size()));
  }
  Config config;
  try {
    config = walker.walk(root);
    config.environment = std::string(environment);
  } catch (const std::exception& e) {  // not expected; keeps the "never throws" promise
    walker.error(Mark{}, "", std::string("internal error: ") + e.what());
  }
  result.errors = std::move(walker.errors);
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     return std::pair(a.at.line, a.at.column) < std::pair(b.at.line, b.at.column);
                   });
  if (walker.dropped > 0) {
    result.errors.push_back({std::string(origin), Mark{}, "",
                             "and " + std::to_string(walker.dropped) + " more errors (at most " +
                                 std::to_string(kMaxErrors) + " are listed)"});
  }
  if (result.errors.empty()) {
    config.text = std::make_shared<const std::string>(yaml);
    for (AppSpec& app : config.apps) app.source = config.text;
    result.config = std::move(config);
  }
  return result;
}

ParseResult load_config(const std::string& path, std::string_view environment) {
  auto fail = [&](const std::string& why) {
    return ParseResult{std::nullopt, {ConfigError{path, Mark{}, "", why}}};
  };
  // O_NONBLOCK: a FIFO put where the file should be must not block the open (or the loop).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail("cannot read: " + std::string(std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  if (st.st_size > static_cast<off_t>(kMaxConfigBytes)) {
    ::close(fd);
    return fail("larger than " + std::to_string(kMaxConfigBytes) + " bytes (" +
                std::to_string(st.st_size) + ")");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail("cannot read: " + std::string(std::strerror(err)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) {  // it grew since fstat()
      ::close(fd);
      return fail("larger than " + std::to_string(kMaxConfigBytes) + " bytes");
    }
  }
  ::close(fd);
  return parse_config(text, path, environment);
}

}  // namespace clusterd::config
