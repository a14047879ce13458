// The Walker: the YAML tree of a config file walked into a Config, every problem recorded as a
// ConfigError at its FILE:LINE:COL with its dotted key, none of them fatal. Shared by the files
// of config/ that walk parts of the tree (parse.cc: the top and the apps; parse_app.cc: an app's
// sections). Not a public header.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/values.h"

namespace clusterd::config {

/// A key's dotted path: `path.key`. A key longer than kQuotedMax bytes is cut there (`aaa...`),
/// so that a long key does not make every path below it long.
std::string join(const std::string& path, std::string_view key);

/// `node` as the walk reads it: a node tagged !!null (kept by yaml-cpp as a scalar) is a null.
YAML::Node as_read(const YAML::Node& node);

/// Where a map is read, for what its unknown keys are told: an app's take `env_NAME` keys and get
/// PM2's names hinted; the top level hints at PM2's `deploy`.
enum class Place { Other, Top, App };

/// `env_NAME` with NAME as an app name: an app's environment section (hints.cc).
bool environment_key(std::string_view key);

/// The message of an unknown `key` in a map that takes `allowed` (hints.cc): "unknown key; did you
/// mean command?", a PM2 name's hint, or the list of `allowed`.
std::string unknown_key(std::string_view key, std::initializer_list<std::string_view> allowed,
                        Place place);

/// At most this many errors are kept of one file; the rest are counted (Walker::dropped).
inline constexpr std::size_t kMaxErrors = 1000;

// One key: value pair of a YAML map, with the marks to report problems at.
struct Entry {
  std::string key;
  std::string path;  // dotted path of the key
  YAML::Node value;
  Mark key_at;
  Mark value_at;  // the value's own mark; the key's for an implicit null (`key:` with nothing)
};

// The variables of the app's env_NAME section for the environment clusterd runs in.
struct Environment {
  std::vector<std::pair<std::string, std::string>> vars;
  std::vector<Mark> at;
};

// A listener already seen, for the address-conflict check.
struct Bound {
  std::string path;  // apps.NAME.listen.LNAME
  Address address;
  Mark at;
};

// The listeners seen so far, indexed so that finding the first one a new address conflicts with
// (addresses_conflict(), in file order) takes no scan: a file of 33000 listeners took minutes.
class BoundAddresses {
 public:
  /// The first listener `address` conflicts with, or null.
  const Bound* conflict(const Address& address) const;
  void add(Bound bound);
  const std::vector<Bound>& all() const { return all_; }

 private:
  struct Port {  // the listeners of one family and port (never 0)
    std::size_t first = 0;
    std::optional<std::size_t> wildcard;                 // the first 0.0.0.0 or ::
    std::unordered_map<std::string, std::size_t> hosts;  // each host's first
  };
  std::vector<Bound> all_;
  std::unordered_map<std::string, std::size_t> paths_;  // each normalized unix path's first
  std::map<std::pair<int, std::uint16_t>, Port> ports_;
};

class Walker {
 public:
  Walker(std::string_view source, std::string_view origin, std::string_view environment = {})
      : source_(source), origin_(origin), environment_(environment) {}

  std::vector<ConfigError> errors;
  std::size_t dropped = 0;  // errors found past kMaxErrors

  void error(Mark at, std::string key, std::string message) {
    if (errors.size() >= kMaxErrors) {
      ++dropped;
      return;
    }
    errors.push_back({origin_, at, std::move(key), std::move(message)});
  }

  Config walk(const YAML::Node& root);
  /// After walk(): the environment asked for, when no app has an env_NAME section for it.
  void environment_missing(const Config& config);

 private:
  // walker.cc: typed values
  Mark mark_of(const YAML::Node& node, Mark fallback) const;
  std::optional<std::vector<Entry>> map_entries(const YAML::Node& node, Mark at,
                                                const std::string& path,
                                                std::initializer_list<std::string_view> allowed,
                                                Place place = Place::Other);
  /// Item `i` of the sequence `seq`; nullopt (reported) when its tag is refused.
  std::optional<Entry> item(const Entry& seq, const YAML::Node& node, std::size_t i);
  /// False (reported at `at`) when `node` has a tag other than the core schema's, or one that
  /// does not fit it.
  bool tag_ok(const YAML::Node& node, Mark at, const std::string& path);
  /// `path` is a required key that is missing, unless it was there with a refused tag.
  void missing(Mark at, const std::string& path);
  std::optional<std::string> string(const Entry& e, bool allow_empty = false);
  template <class T>
  std::optional<T> one_of(const Entry& e,
                          std::initializer_list<std::pair<std::string_view, T>> choices);
  std::optional<std::uint64_t> integer(const Entry& e, std::uint64_t min, std::uint64_t max);
  std::optional<Duration> duration(const Entry& e, bool positive = false);
  std::optional<std::uint64_t> size(const Entry& e);
  std::optional<std::uint64_t> memory(const Entry& e);  // parse_app.cc
  std::optional<double> fraction(const Entry& e);       // parse_logs.cc
  /// A listener's or the metrics endpoint's address (parse_app.cc).
  std::optional<Address> address(const Entry& e);

  // parse.cc
  void control(const Entry& e, ControlSpec& out);
  void principals(const Entry& e, std::vector<Principal>& out);
  void apps(const Entry& e, Config& out);
  void app(const Entry& e, AppSpec& app);
  void ready_listen(const std::vector<Entry>& entries, const AppSpec& app);
  bool lifecycle_key(const Entry& k, AppSpec& app);
  bool runtime_key(const Entry& k, AppSpec& app);
  // parse_app.cc
  void instances(const Entry& e, AppSpec& app);
  void stop_signal(const Entry& e, AppSpec& app);
  void limits(const Entry& e, AppSpec& app);
  void nofile_floor(const AppSpec& app, const std::string& path);
  void inherit_env(const Entry& e, AppSpec& app);
  void command(const Entry& e, AppSpec& app);
  void listeners(const Entry& e, AppSpec& app);
  void listener(const Entry& e, AppSpec& app);
  void socket_key(const Entry& k, ListenerSpec& spec);
  void backoff(const Entry& e, AppSpec& app);
  void rollout(const Entry& e, AppSpec& app);
  void env(const Entry& e, std::vector<std::pair<std::string, std::string>>& vars,
           std::vector<Mark>& at);
  void environment(const Entry& e, AppSpec& app, Environment& chosen);
  void merge_environment(const Environment& chosen, AppSpec& app);
  void restart_schedule(const Entry& e, AppSpec& app);
  void watch(const Entry& e, AppSpec& app);
  void strings(const Entry& e, std::vector<std::string>& out);
  // parse_ready.cc
  void ready(const Entry& k, AppSpec& app);
  void ready_probe(const std::vector<Entry>& entries, AppSpec& app);
  void port_per_worker(const Entry& k, ListenerSpec& spec);
  void port_per_worker_fits(const ListenerSpec& spec, const std::string& path);
  void port_ranges(const Config& config);
  void port_env(const Entry& k, ListenerSpec& spec);
  void port_env_fits(const ListenerSpec& spec, const std::string& path);
  void port_envs(const Config& config);
  // parse_logs.cc
  void logs(const Entry& e, AppSpec& app);
  void metrics(const Entry& e, MetricsSpec& out);

  std::string_view source_;
  std::string origin_;
  std::string environment_;  // --env NAME: each app's env_NAME merged over its env
  bool environment_found_ = false;
  BoundAddresses bound_;
  std::set<std::string> refused_;  // paths of keys whose value's tag was refused
};

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

}  // namespace clusterd::config
