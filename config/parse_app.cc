// The sections of an app: its command, listeners, backoff, rollout, env and limits.
#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "config/cron.h"
#include "config/values.h"
#include "config/walker.h"

namespace clusterd::config {

void Walker::instances(const Entry& k, AppSpec& app) {
  const std::string_view expected = "expected auto, max, -1 or an integer from 1 to 65536";
  const std::string text = k.value.IsScalar() ? k.value.Scalar() : "";
  if (text == "auto" || text == "max") {
    app.instances.count.reset();
    app.instances.cpus = text == "max" ? Instances::Cpus::Max : Instances::Cpus::Auto;
  } else if (text == "-1") {
    app.instances.count.reset();
    app.instances.cpus = Instances::Cpus::AllButOne;
  } else if (!k.value.IsScalar()) {
    error(k.value_at, k.path, std::string(expected));
  } else if (auto r = parse_integer(text, 1, 65536); r.value) {
    app.instances.count = static_cast<unsigned>(*r.value);
  } else {
    std::string hint;
    if (text == "0") hint = " (PM2's 0 is every CPU: write max)";
    if (text.starts_with("-") && text != "-0") hint = " (of the CPUs less some, only -1 is taken)";
    error(k.value_at, k.path, std::string(expected) + ", got " + quoted(text) + hint);
  }
}

void Walker::stop_signal(const Entry& k, AppSpec& app) {
  std::optional<int> sig = k.value.IsScalar() ? parse_signal(k.value.Scalar()) : std::nullopt;
  if (sig) {
    app.stop_signal = *sig;
  } else {
    error(k.value_at, k.path,
          std::string("expected a signal name such as SIGTERM or TERM") +
              (k.value.IsScalar() ? ", got " + quoted(k.value.Scalar()) : ""));
  }
}

void Walker::inherit_env(const Entry& k, AppSpec& app) {
  if (k.value.IsScalar() && (k.value.Scalar() == "true" || k.value.Scalar() == "false")) {
    app.inherit_env.mode =
        k.value.Scalar() == "true" ? EnvInherit::Mode::All : EnvInherit::Mode::None;
    return;
  }
  if (!k.value.IsSequence()) {
    error(k.value_at, k.path, "expected true, false or a sequence of variable names");
    return;
  }
  app.inherit_env.mode = EnvInherit::Mode::Listed;
  std::size_t i = 0;
  for (const YAML::Node& node : k.value) {
    const std::optional<Entry> name = item(k, node, i++);
    if (!name) continue;
    if (auto s = string(*name)) {
      if (s->find('=') != std::string::npos) {
        error(name->value_at, name->path, "expected a variable name, without '='");
      } else {
        app.inherit_env.names.push_back(*s);
      }
    }
  }
}

void Walker::limits(const Entry& k, AppSpec& app) {
  if (auto limits = map_entries(k.value, k.value_at, k.path, {"nofile"})) {
    for (const Entry& l : *limits) {
      if (auto n = integer(l, 1, std::uint64_t{1} << 30)) app.nofile = *n;
      app.nofile_at = l.value_at;
    }
  }
}

// max_memory and memory_max: a size, and not below what any process needs.
std::optional<std::uint64_t> Walker::memory(const Entry& e) {
  std::optional<std::uint64_t> n = size(e);
  if (n && *n < kMinMemory) {
    error(e.value_at, e.path,
          "must be at least 1M (no process runs in less), got " + quoted(e.value.Scalar()));
    return std::nullopt;
  }
  return n;
}

// limits.nofile: room for the standard streams, the listening sockets the worker is given, and
// the few files any program opens to start (its loader opens libraries at the next free fd).
void Walker::nofile_floor(const AppSpec& app, const std::string& path) {
  if (!app.nofile) return;
  const auto sockets = static_cast<std::uint64_t>(
      std::count_if(app.listeners.begin(), app.listeners.end(),
                    [](const ListenerSpec& l) { return l.mode != ListenMode::Worker; }));
  const std::uint64_t least = kMinNofile + sockets;
  if (*app.nofile >= least) return;
  error(app.nofile_at, path,
        "must be at least " + std::to_string(least) +
            (sockets == 0 ? std::string(" (a program needs a few files open to start)")
                          : " (" + std::to_string(kMinNofile) +
                                ", and one per listening socket it is given)") +
            ", got " + std::to_string(*app.nofile));
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
  for (const YAML::Node& node : e.value) {
    const std::optional<Entry> arg = item(e, node, i);
    if (arg) {
      if (auto s = string(*arg, i > 0)) app.command.push_back(*s);
    }
    ++i;
  }
}

void Walker::listeners(const Entry& e, AppSpec& app) {
  auto entries = map_entries(e.value, e.value_at, e.path, {});
  if (!entries) return;
  std::unordered_map<std::string, std::string> env_names;  // the first listener of each
  for (const Entry& l : *entries) {
    if (!is_listener_name(l.key)) {
      error(l.key_at, l.path,
            "invalid listener name; expected 1 to 255 characters of A-Z, a-z, 0-9, '_', '-'");
    } else if (const auto other = env_names.find(listener_env_name(l.key));
               other != env_names.end()) {
      error(l.key_at, l.path,
            "listener name clashes with '" + other->second + "' (both become CLUSTER_LISTEN_" +
                other->first + ")");
    }
    const std::size_t before = app.listeners.size();
    listener(l, app);
    if (app.listeners.size() > before) env_names.emplace(listener_env_name(l.key), l.key);
  }
}

// socket_mode, socket_user, socket_group of a unix: listener.
void Walker::socket_key(const Entry& k, ListenerSpec& spec) {
  if (k.key == "socket_mode") {
    const std::optional<std::string> text = string(k);
    if (!text) return;
    Result<unsigned> mode = parse_octal_mode(*text, "an octal mode such as 0660");
    if (!mode.value) {
      error(k.value_at, k.path, mode.error);
      return;
    }
    spec.socket_mode = *mode.value;
  } else if (auto s = string(k)) {
    (k.key == "socket_user" ? spec.socket_user : spec.socket_group) = *s;
    spec.socket_owner_at = k.value_at;
  }
}

std::optional<Address> Walker::address(const Entry& e) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected a string");
    return std::nullopt;
  }
  Result<Address> r = parse_address(e.value.Scalar());
  if (!r.value) error(e.value_at, e.path, r.error);
  return r.value;
}

void Walker::listener(const Entry& e, AppSpec& app) {
  ListenerSpec spec;
  spec.name = e.key;
  std::optional<Entry> address;
  std::optional<Entry> mode;
  std::optional<Entry> adopt;
  std::vector<Entry> socket_file;  // socket_mode, socket_user, socket_group
  if (e.value.IsScalar()) {
    address = e;
  } else if (auto entries =
                 map_entries(e.value, e.value_at, e.path,
                             {"address", "mode", "adopt", "backlog", "socket_mode", "socket_user",
                              "socket_group", "port_per_worker", "port_env"})) {
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
      } else if (k.key == "adopt") {
        adopt = k;
        spec.adopt_at = k.value_at;
        if (auto v = one_of<bool>(k, {{"true", true}, {"false", false}})) spec.adopt = *v;
      } else if (k.key == "backlog") {
        if (auto n = integer(k, 1, 65535)) spec.backlog = static_cast<int>(*n);
      } else if (k.key == "port_per_worker") {
        port_per_worker(k, spec);
      } else if (k.key == "port_env") {
        port_env(k, spec);
      } else {
        socket_file.push_back(k);
        socket_key(k, spec);
      }
    }
    if (!address) missing(e.key_at, join(e.path, "address"));
  } else {
    return;  // map_entries reported it
  }
  if (!address) return;
  const std::optional<Address> parsed = this->address(*address);
  if (!parsed) return;
  spec.address = *parsed;
  spec.at = address->value_at;
  if (spec.address.family != Address::Family::Unix && !socket_file.empty()) {
    error(socket_file[0].key_at, socket_file[0].path,
          "applies to unix: listeners only (" + spec.address.text + " is not one)");
  }
  if (spec.address.family == Address::Family::Unix && spec.mode == ListenMode::ReusePort) {
    error(mode->value_at, mode->path,
          "reuseport does not work with unix sockets (SO_REUSEPORT does not balance them); use "
          "shared");
  }
  if (spec.adopt && spec.address.family == Address::Family::Unix) {
    error(adopt->value_at, adopt->path,
          "adopts TCP addresses only (" + spec.address.text +
              " is a unix socket: a worker's bind() of a path is never adopted)");
  } else if (spec.adopt && spec.mode == ListenMode::Worker) {
    error(adopt->value_at, adopt->path,
          "needs a socket the master holds, and mode worker leaves the bind to each worker; use "
          "shared or reuseport");
  }
  if (spec.port_per_worker) port_per_worker_fits(spec, join(e.path, "port_per_worker"));
  if (!spec.port_env.empty()) port_env_fits(spec, join(e.path, "port_env"));
  if (const Bound* b = bound_.conflict(spec.address)) {
    std::string where = b->path + " at line " + std::to_string(b->at.line);
    if (b->address.text == spec.address.text) {
      error(spec.at, address->path, spec.address.text + " is already used by " + where);
    } else {
      error(spec.at, address->path,
            spec.address.text + " overlaps " + b->address.text + " of " + where);
    }
  }
  bound_.add({e.path, spec.address, spec.at});
  app.listeners.push_back(std::move(spec));
}

void Walker::backoff(const Entry& e, AppSpec& app) {
  auto entries = map_entries(e.value, e.value_at, e.path, {"initial", "max", "jitter"});
  if (!entries) return;
  std::optional<Entry> initial;
  bool ok = true;
  for (const Entry& k : *entries) {
    if (k.key == "jitter") {
      if (auto f = fraction(k)) app.backoff_jitter = *f;
    } else if (k.key == "initial") {
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

void Walker::env(const Entry& e, std::vector<std::pair<std::string, std::string>>& vars,
                 std::vector<Mark>& at) {
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
    if (auto s = string(k, true)) {
      vars.emplace_back(k.key, *s);
      at.push_back(k.value_at);
    }
  }
}

// `env_NAME:` is checked as `env:` is, whichever environment clusterd runs in.
void Walker::environment(const Entry& e, AppSpec& app, Environment& chosen) {
  const std::string name = e.key.substr(4);
  app.environments.push_back(name);
  if (name == environment_) {
    environment_found_ = true;
    env(e, chosen.vars, chosen.at);
    return;
  }
  Environment other;
  env(e, other.vars, other.at);
}

// The chosen environment's variables over env:'s: a variable of both keeps env:'s place and takes
// the environment's value; the others come after, in their order.
void Walker::merge_environment(const Environment& chosen, AppSpec& app) {
  for (std::size_t i = 0; i < chosen.vars.size(); ++i) {
    const std::string& name = chosen.vars[i].first;  // a plain name: clang 14 captures no binding
    const std::string& value = chosen.vars[i].second;
    const auto same = std::find_if(app.env.begin(), app.env.end(),
                                   [&](const auto& var) { return var.first == name; });
    if (same != app.env.end()) {
      same->second = value;
      app.env_at[static_cast<std::size_t>(same - app.env.begin())] = chosen.at[i];
    } else {
      app.env.emplace_back(name, value);
      app.env_at.push_back(chosen.at[i]);
    }
  }
}

void Walker::environment_missing(const Config& config) {
  std::vector<std::string> names;
  for (const AppSpec& app : config.apps) {
    for (const std::string& name : app.environments) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  if (!is_app_name(environment_)) {
    error(Mark{}, "",
          "--env " + quoted(environment_) +
              ": expected 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'");
    return;
  }
  std::string found;
  for (const std::string& name : names) found += (found.empty() ? "" : ", ") + ("env_" + name);
  error(Mark{}, "",
        "--env " + environment_ + ": no app has env_" + environment_ +
            (found.empty() ? std::string("; no app has an env_NAME section")
                           : "; the apps have " + found));
}

void Walker::restart_schedule(const Entry& k, AppSpec& app) {
  const std::optional<std::string> text = string(k);
  if (!text) return;
  Result<CronSchedule> r = parse_schedule(*text);
  if (!r.value) {
    error(k.value_at, k.path, r.error);
    return;
  }
  app.restart_schedule = std::move(*r.value);
  app.restart_schedule_at = k.value_at;
}

// A sequence of non-empty strings.
void Walker::strings(const Entry& e, std::vector<std::string>& out) {
  if (!e.value.IsSequence()) {
    error(e.value_at, e.path, "expected a sequence of strings");
    return;
  }
  std::size_t i = 0;
  for (const YAML::Node& node : e.value) {
    const std::optional<Entry> one = item(e, node, i++);
    if (!one) continue;
    if (auto s = string(*one)) out.push_back(*s);
  }
}

// `watch: true` (the app's cwd), `watch: [PATH, ...]`, or `watch: {paths, ignore, debounce}`;
// `watch: false` is off, as no key is.
void Walker::watch(const Entry& e, AppSpec& app) {
  WatchSpec spec;
  if (e.value.IsScalar() && (e.value.Scalar() == "true" || e.value.Scalar() == "false")) {
    if (e.value.Scalar() == "false") return;
    spec.paths.emplace_back(".");
  } else if (e.value.IsSequence()) {
    strings(e, spec.paths);
  } else if (auto entries =
                 map_entries(e.value, e.value_at, e.path, {"paths", "ignore", "debounce"})) {
    bool have_paths = false;
    for (const Entry& k : *entries) {
      if (k.key == "paths") {
        have_paths = true;
        strings(k, spec.paths);
      } else if (k.key == "ignore") {
        strings(k, spec.ignore);
      } else if (auto d = duration(k)) {
        spec.debounce = *d;
      }
    }
    if (!have_paths) spec.paths.emplace_back(".");
  } else {
    return;  // map_entries said what it expected
  }
  if (spec.paths.empty()) {
    error(e.value_at, e.path, "expected at least one path to watch");
    return;
  }
  app.watch = std::move(spec);
  app.watch_at = e.value_at;
}

}  // namespace clusterd::config
