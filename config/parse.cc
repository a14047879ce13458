#include "config/parse.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "config/values.h"
#include "config/yaml_documents.h"

namespace clusterd::config {
namespace {

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// One key: value pair of a YAML map, with the marks to report problems at.
struct Entry {
  std::string key;
  std::string path;  // dotted path of the key
  YAML::Node value;
  Mark key_at;
  Mark value_at;  // the value's own mark; the key's for an implicit null (`key:` with nothing)
};

// A listener already seen, for the address-conflict check.
struct Bound {
  std::string path;  // apps.NAME.listen.LNAME
  Address address;
  Mark at;
};

class Walker {
 public:
  Walker(std::string_view source, std::string_view origin) : source_(source), origin_(origin) {}

  std::vector<ConfigError> errors;

  void error(Mark at, std::string key, std::string message) {
    errors.push_back({origin_, at, std::move(key), std::move(message)});
  }

  Config walk(const YAML::Node& root);

 private:
  Mark mark_of(const YAML::Node& node, Mark fallback) const;
  std::optional<std::vector<Entry>> map_entries(const YAML::Node& node, Mark at,
                                                const std::string& path,
                                                std::initializer_list<std::string_view> allowed);
  std::optional<std::string> string(const Entry& e, bool allow_empty = false);
  template <class T>
  std::optional<T> one_of(const Entry& e,
                          std::initializer_list<std::pair<std::string_view, T>> choices);
  std::optional<std::uint64_t> integer(const Entry& e, std::uint64_t min, std::uint64_t max);
  std::optional<Duration> duration(const Entry& e, bool positive = false);
  std::optional<std::uint64_t> size(const Entry& e);

  void control(const Entry& e, ControlSpec& out);
  void apps(const Entry& e, Config& out);
  void app(const Entry& e, AppSpec& app);
  void command(const Entry& e, AppSpec& app);
  void listeners(const Entry& e, AppSpec& app);
  void listener(const Entry& e, AppSpec& app);
  void backoff(const Entry& e, AppSpec& app);
  void rollout(const Entry& e, AppSpec& app);
  void env(const Entry& e, AppSpec& app);

  std::string_view source_;
  std::string origin_;
  std::vector<Bound> bound_;
};

// yaml-cpp gives an implicit null (`key:` followed by a newline) the mark of whatever comes next,
// which may be the following line. Only trust a null's mark when it is spelled out.
Mark Walker::mark_of(const YAML::Node& node, Mark fallback) const {
  YAML::Mark m = node.Mark();
  if (m.line < 0 || m.column < 0) return fallback;
  if (node.IsNull()) {
    auto pos = static_cast<std::size_t>(m.pos);
    std::string_view rest = pos < source_.size() ? source_.substr(pos) : std::string_view();
    bool spelled = rest.starts_with("~") || rest.starts_with("null") || rest.starts_with("Null") ||
                   rest.starts_with("NULL");
    if (!spelled) return fallback;
  }
  return Mark{m.line + 1, m.column + 1};
}

std::optional<std::vector<Entry>> Walker::map_entries(
    const YAML::Node& node, Mark at, const std::string& path,
    std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) {
    error(at, path, "expected a map");
    return std::nullopt;
  }
  std::vector<Entry> out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    Mark key_at = mark_of(it->first, at);
    if (!it->first.IsScalar()) {
      error(key_at, path, "expected a string key");
      continue;
    }
    std::string key = it->first.Scalar();
    std::string key_path = join(path, key);
    auto first = std::find_if(out.begin(), out.end(), [&](const Entry& e) { return e.key == key; });
    if (first != out.end()) {
      error(key_at, key_path,
            "duplicate key; first defined at line " + std::to_string(first->key_at.line));
      continue;
    }
    if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (std::string_view k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
      error(key_at, key_path, "unknown key; expected one of " + list);
      continue;
    }
    out.push_back({key, key_path, it->second, key_at, mark_of(it->second, key_at)});
  }
  return out;
}

std::optional<std::string> Walker::string(const Entry& e, bool allow_empty) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected a string");
    return std::nullopt;
  }
  const std::string& s = e.value.Scalar();
  if (s.empty() && !allow_empty) {
    error(e.value_at, e.path, "expected a non-empty string");
    return std::nullopt;
  }
  if (s.find('\0') != std::string::npos) {
    error(e.value_at, e.path, "must not contain a NUL byte");
    return std::nullopt;
  }
  return s;
}

template <class T>
std::optional<T> Walker::one_of(const Entry& e,
                                std::initializer_list<std::pair<std::string_view, T>> choices) {
  std::string list;
  for (const auto& [name, value] : choices) {
    list += (list.empty() ? "" : ", ") + std::string(name);
    if (e.value.IsScalar() && e.value.Scalar() == name) return value;
  }
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected one of " + list);
  } else {
    error(e.value_at, e.path, "expected one of " + list + ", got " + quoted(e.value.Scalar()));
  }
  return std::nullopt;
}

std::optional<std::uint64_t> Walker::integer(const Entry& e, std::uint64_t min, std::uint64_t max) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected an integer");
    return std::nullopt;
  }
  Result<std::uint64_t> r = parse_integer(e.value.Scalar(), min, max);
  if (!r.value) error(e.value_at, e.path, r.error);
  return r.value;
}

std::optional<Duration> Walker::duration(const Entry& e, bool positive) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected a duration such as 250ms, 10s or 2m");
    return std::nullopt;
  }
  Result<Duration> r = parse_duration(e.value.Scalar());
  if (!r.value) {
    error(e.value_at, e.path, r.error);
  } else if (positive && r.value->count() == 0) {
    error(e.value_at, e.path, "must be greater than 0");
    return std::nullopt;
  }
  return r.value;
}

// A size > 0: `512M`, `1G`, `64MiB`, `100MB`, `1048576` (see parse_size).
std::optional<std::uint64_t> Walker::size(const Entry& e) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected a size such as 512M, 1G or 1048576");
    return std::nullopt;
  }
  Result<std::uint64_t> r = parse_size(e.value.Scalar());
  if (!r.value) {
    error(e.value_at, e.path, r.error);
  } else if (*r.value == 0) {
    error(e.value_at, e.path, "must be greater than 0");
    return std::nullopt;
  }
  return r.value;
}

Config Walker::walk(const YAML::Node& root) {
  Config config;
  config.path = origin_;
  Mark root_at = mark_of(root, Mark{1, 1});
  if (root.IsNull()) {
    error(root_at, "apps", "required key is missing");
    return config;
  }
  auto entries = map_entries(root, root_at, "", {"control", "apps"});
  if (!entries) return config;
  bool have_apps = false;
  for (const Entry& e : *entries) {
    if (e.key == "control") {
      control(e, config.control);
    } else {
      have_apps = true;
      apps(e, config);
    }
  }
  if (!have_apps) error(root_at, "apps", "required key is missing");
  return config;
}

void Walker::control(const Entry& e, ControlSpec& out) {
  auto entries =
      map_entries(e.value, e.value_at, e.path, {"socket", "group", "max_clients", "idle_timeout"});
  if (!entries) return;
  for (const Entry& c : *entries) {
    if (c.key == "max_clients") {
      if (auto n = integer(c, 1, 65536)) out.max_clients = static_cast<unsigned>(*n);
    } else if (c.key == "idle_timeout") {
      if (auto d = duration(c, true)) out.idle_timeout = *d;
    } else if (auto s = string(c)) {
      if (c.key == "socket") {
        out.socket = *s;
        out.socket_at = c.value_at;
      } else {
        out.group = *s;
        out.group_at = c.value_at;
      }
    }
  }
}

void Walker::apps(const Entry& e, Config& out) {
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
      {"command", "instances", "cpu_affinity", "listen", "ready", "ready_timeout", "stop_signal",
       "stop_timeout", "restart", "min_uptime", "max_restarts", "restart_window", "backoff", "env",
       "cwd", "user", "group", "limits", "rollout", "watchdog", "max_memory",
       "memory_check_interval"});
  // clang-format on
  if (!entries) return;
  bool have_command = false;
  for (const Entry& k : *entries) {
    const std::string& key = k.key;
    if (key == "command") {
      have_command = true;
      command(k, app);
    } else if (key == "instances") {
      if (k.value.IsScalar() && k.value.Scalar() == "auto") {
        app.instances.count.reset();
      } else if (!k.value.IsScalar()) {
        error(k.value_at, k.path, "expected auto or an integer");
      } else if (auto r = parse_integer(k.value.Scalar(), 1, 65536); r.value) {
        app.instances.count = static_cast<unsigned>(*r.value);
      } else {
        error(k.value_at, k.path,
              "expected auto or an integer from 1 to 65536, got " + quoted(k.value.Scalar()));
      }
    } else if (key == "cpu_affinity") {
      if (auto v = one_of<CpuAffinity>(
              k, {{"per-worker", CpuAffinity::PerWorker}, {"none", CpuAffinity::None}})) {
        app.cpu_affinity = *v;
      }
    } else if (key == "listen") {
      listeners(k, app);
    } else if (key == "ready") {
      if (auto v =
              one_of<ReadyMode>(k, {{"exec", ReadyMode::Exec}, {"notify", ReadyMode::Notify}})) {
        app.ready = *v;
      }
    } else if (key == "ready_timeout") {
      if (auto d = duration(k, true)) app.ready_timeout = *d;
    } else if (key == "stop_signal") {
      std::optional<int> sig = k.value.IsScalar() ? parse_signal(k.value.Scalar()) : std::nullopt;
      if (sig) {
        app.stop_signal = *sig;
      } else {
        error(k.value_at, k.path,
              std::string("expected a signal name such as SIGTERM or TERM") +
                  (k.value.IsScalar() ? ", got " + quoted(k.value.Scalar()) : ""));
      }
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
    } else if (key == "env") {
      env(k, app);
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
      if (auto limits = map_entries(k.value, k.value_at, k.path, {"nofile"})) {
        for (const Entry& l : *limits) {
          if (auto n = integer(l, 1, std::uint64_t{1} << 30)) app.nofile = *n;
        }
      }
    } else if (key == "rollout") {
      rollout(k, app);
    } else if (key == "watchdog") {
      if (auto d = duration(k, true)) app.watchdog = *d;
    } else if (key == "max_memory") {
      if (auto n = size(k)) app.max_memory = *n;
    } else if (key == "memory_check_interval") {
      if (auto d = duration(k, true)) app.memory_check_interval = *d;
    }
  }
  if (!have_command) error(e.key_at, join(e.path, "command"), "required key is missing");
}

void Walker::command(const Entry& e, AppSpec& app) {
  app.command_at = e.value_at;
  if (e.value.IsScalar()) {
    app.command = split_command(e.value.Scalar());
    if (app.command.empty()) error(e.value_at, e.path, "expected a non-empty command");
    return;
  }
  if (!e.value.IsSequence()) {
    error(e.value_at, e.path, "expected a sequence of strings or a string");
    return;
  }
  if (e.value.size() == 0) {
    error(e.value_at, e.path, "expected a non-empty sequence of strings");
    return;
  }
  std::size_t i = 0;
  for (const YAML::Node& item : e.value) {
    Entry arg{"", e.path + "[" + std::to_string(i) + "]", item, e.value_at,
              mark_of(item, e.value_at)};
    if (auto s = string(arg, i > 0)) app.command.push_back(*s);
    ++i;
  }
}

void Walker::listeners(const Entry& e, AppSpec& app) {
  auto entries = map_entries(e.value, e.value_at, e.path, {});
  if (!entries) return;
  for (const Entry& l : *entries) {
    if (!is_listener_name(l.key)) {
      error(l.key_at, l.path,
            "invalid listener name; expected 1 to 255 characters of A-Z, a-z, 0-9, '_', '-'");
    } else {
      for (const ListenerSpec& other : app.listeners) {
        if (listener_env_name(other.name) == listener_env_name(l.key)) {
          error(l.key_at, l.path,
                "listener name clashes with '" + other.name + "' (both become CLUSTER_LISTEN_" +
                    listener_env_name(l.key) + ")");
          break;
        }
      }
    }
    listener(l, app);
  }
}

void Walker::listener(const Entry& e, AppSpec& app) {
  ListenerSpec spec;
  spec.name = e.key;
  std::optional<Entry> address;
  std::optional<Entry> mode;
  if (e.value.IsScalar()) {
    address = e;
  } else if (auto entries =
                 map_entries(e.value, e.value_at, e.path, {"address", "mode", "backlog"})) {
    for (const Entry& k : *entries) {
      if (k.key == "address") {
        address = k;
      } else if (k.key == "mode") {
        mode = k;
        if (auto v = one_of<ListenMode>(k, {{"shared", ListenMode::Shared},
                                            {"reuseport", ListenMode::ReusePort},
                                            {"worker", ListenMode::Worker}})) {
          spec.mode = *v;
        }
      } else if (auto n = integer(k, 1, 65535)) {
        spec.backlog = static_cast<int>(*n);
      }
    }
    if (!address) error(e.key_at, join(e.path, "address"), "required key is missing");
  } else {
    return;  // map_entries reported it
  }
  if (!address) return;
  if (!address->value.IsScalar()) {
    error(address->value_at, address->path, "expected a string");
    return;
  }
  Result<Address> r = parse_address(address->value.Scalar());
  if (!r.value) {
    error(address->value_at, address->path, r.error);
    return;
  }
  spec.address = *r.value;
  spec.at = address->value_at;
  if (spec.address.family == Address::Family::Unix && spec.mode == ListenMode::ReusePort) {
    error(mode->value_at, mode->path,
          "reuseport does not work with unix sockets (SO_REUSEPORT does not balance them); use "
          "shared");
  }
  for (const Bound& b : bound_) {
    if (!addresses_conflict(b.address, spec.address)) continue;
    std::string where = b.path + " at line " + std::to_string(b.at.line);
    if (b.address.text == spec.address.text) {
      error(spec.at, address->path, spec.address.text + " is already used by " + where);
    } else {
      error(spec.at, address->path,
            spec.address.text + " overlaps " + b.address.text + " of " + where);
    }
    break;
  }
  bound_.push_back({e.path, spec.address, spec.at});
  app.listeners.push_back(std::move(spec));
}

void Walker::backoff(const Entry& e, AppSpec& app) {
  auto entries = map_entries(e.value, e.value_at, e.path, {"initial", "max"});
  if (!entries) return;
  std::optional<Entry> initial;
  bool ok = true;
  for (const Entry& k : *entries) {
    if (k.key == "initial") {
      initial = k;
      if (auto d = duration(k, true)) {
        app.backoff_initial = *d;
      } else {
        ok = false;
      }
    } else if (auto d = duration(k)) {
      app.backoff_max = *d;
    } else {
      ok = false;
    }
  }
  if (ok && app.backoff_initial > app.backoff_max) {
    const Entry& at = initial ? *initial
                              : *std::find_if(entries->begin(), entries->end(),
                                              [](const Entry& k) { return k.key == "max"; });
    error(at.value_at, at.path,
          "backoff.initial (" + format_duration(app.backoff_initial) +
              ") must not be greater than backoff.max (" + format_duration(app.backoff_max) + ")");
  }
}

void Walker::rollout(const Entry& e, AppSpec& app) {
  auto entries = map_entries(e.value, e.value_at, e.path, {"batch", "canary_time"});
  if (!entries) return;
  for (const Entry& k : *entries) {
    if (k.key == "batch") {
      if (auto n = integer(k, 1, 65536)) app.rollout.batch = static_cast<unsigned>(*n);
    } else if (auto d = duration(k)) {
      app.rollout.canary_time = *d;
    }
  }
}

void Walker::env(const Entry& e, AppSpec& app) {
  auto entries = map_entries(e.value, e.value_at, e.path, {});
  if (!entries) return;
  for (const Entry& k : *entries) {
    if (k.key.empty() || k.key.find('=') != std::string::npos ||
        k.key.find('\0') != std::string::npos) {
      error(k.key_at, k.path, "invalid environment variable name; expected non-empty, without '='");
      continue;
    }
    if (!k.value.IsScalar()) {
      error(k.value_at, k.path, "expected a scalar value (write \"\" for an empty string)");
      continue;
    }
    if (auto s = string(k, true)) app.env.emplace_back(k.key, *s);
  }
}

}  // namespace

ParseResult parse_config(std::string_view yaml, std::string_view origin) {
  Walker walker(yaml, origin);
  ParseResult result;
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
  } catch (const std::exception& e) {  // not expected; keeps the "never throws" promise
    walker.error(Mark{}, "", std::string("internal error: ") + e.what());
  }
  result.errors = std::move(walker.errors);
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     return std::pair(a.at.line, a.at.column) < std::pair(b.at.line, b.at.column);
                   });
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

ParseResult load_config(const std::string& path) {
  auto fail = [&](int err) {
    return ParseResult{
        std::nullopt,
        {ConfigError{path, Mark{}, "", "cannot read: " + std::string(std::strerror(err))}}};
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse_config(text, path);
}

}  // namespace clusterd::config
