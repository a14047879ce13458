// The PM2 import: the file's shape (apps, deploy), PM2's values read, the YAML written out.
#include "config/pm2_import.h"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <map>
#include <utility>

#include "config/parse.h"
#include "config/pm2_app.h"
#include "config/values.h"
#include "config/yaml_documents.h"

namespace clusterd::config {

std::string ImportNote::to_string() const {
  const char* what = kind == Kind::Mapped         ? "mapped to "
                     : kind == Kind::Approximated ? "approximated: "
                                                  : "not supported: ";
  return (app.empty() ? "" : app + ".") + key + ": " + what + text;
}

namespace pm2 {

Out Out::flow(const std::vector<std::string>& items) {
  Out out{Kind::Flow, {}, {}, {}, {}};
  for (const std::string& item : items) out.items.push_back(plain(item));
  return out;
}

Out& Out::add(std::string key, Out value) {
  keys.push_back(std::move(key));
  values.push_back(std::move(value));
  return values.back();
}

void emit(YAML::Emitter& emitter, const Out& out) {
  switch (out.kind) {
    case Out::Kind::Plain:
      emitter << out.text;
      return;
    case Out::Kind::Quoted:
      emitter << YAML::DoubleQuoted << out.text;
      return;
    case Out::Kind::Flow:
    case Out::Kind::Block:
      emitter << (out.kind == Out::Kind::Flow ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
      for (const Out& item : out.items) emit(emitter, item);
      emitter << YAML::EndSeq;
      return;
    case Out::Kind::Map:
      emitter << YAML::BeginMap;
      for (std::size_t i = 0; i < out.keys.size(); ++i) {
        emitter << YAML::Key << out.keys[i] << YAML::Value;
        emit(emitter, out.values[i]);
      }
      emitter << YAML::EndMap;
      return;
  }
}

AppImport::AppImport(const YAML::Node& app, std::string name, std::string directory,
                     std::vector<ImportNote>& notes)
    : app_(app), name_(std::move(name)), directory_(std::move(directory)), notes_(notes) {}

std::optional<YAML::Node> AppImport::find(std::string_view key) const {
  for (auto it = app_.begin(); it != app_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return std::nullopt;
}

void AppImport::note(std::string_view key, ImportNote::Kind kind, std::string text) {
  seen_.insert(std::string(key));
  notes_.push_back({name_, std::string(key), kind, std::move(text)});
}

void AppImport::unsupported(std::string_view key, std::string why) {
  note(key, ImportNote::Kind::Unsupported, std::move(why));
}

std::optional<std::string> AppImport::text(std::string_view key) {
  const std::optional<YAML::Node> node = find(key);
  if (!node || node->IsNull()) return std::nullopt;
  if (!node->IsScalar()) {
    unsupported(key, "expected a string or a number");
    return std::nullopt;
  }
  if (node->Scalar().find('\0') != std::string::npos) {
    unsupported(key, "contains a NUL byte");
    return std::nullopt;
  }
  return node->Scalar();
}

std::optional<std::vector<std::string>> AppImport::words(std::string_view key) {
  const std::optional<YAML::Node> node = find(key);
  if (!node || node->IsNull()) return std::nullopt;
  if (node->IsScalar()) return split_command(node->Scalar());
  std::vector<std::string> out;
  if (node->IsSequence()) {
    for (const YAML::Node& item : *node) {
      if (!item.IsScalar() || item.Scalar().find('\0') != std::string::npos) {
        unsupported(key, "expected a string or a list of strings");
        return std::nullopt;
      }
      out.push_back(item.Scalar());
    }
    return out;
  }
  unsupported(key, "expected a string or a list of strings");
  return std::nullopt;
}

std::optional<bool> AppImport::flag(std::string_view key) {
  const std::optional<YAML::Node> node = find(key);
  if (!node || node->IsNull()) return std::nullopt;
  if (node->IsScalar() && (node->Scalar() == "true" || node->Scalar() == "false")) {
    return node->Scalar() == "true";
  }
  unsupported(key, "expected true or false");
  return std::nullopt;
}

// PM2 takes milliseconds, or a number and a unit for some keys: "1600", "5s", "2m", "1h".
std::optional<std::string> AppImport::duration(std::string_view key) {
  const std::optional<std::string> t = text(key);
  if (!t) return std::nullopt;
  const bool bare = !t->empty() && t->find_first_not_of("0123456789") == std::string::npos;
  const Result<Duration> d = parse_duration(bare ? *t + "ms" : *t);
  if (!d.value) {
    unsupported(key, "expected milliseconds, or 5s, 2m, 1h; got " + config::quoted(*t));
    return std::nullopt;
  }
  return format_duration(*d.value);
}

namespace {

// What PM2 keys this import knows it has nothing for, and why.
const std::map<std::string_view, std::string_view>& unsupported_keys() {
  static const std::map<std::string_view, std::string_view> kWhy = {
      {"namespace", "clusterd has no namespaces: an app is named in apps:"},
      {"vizion", "PM2's record of the app's version control: clusterd keeps none"},
      {"post_update", "commands after `pm2 pull`: clusterd does not update code"},
      {"force", "clusterd starts each app once, by its name"},
      {"source_map_support", "a Node option: pass --enable-source-maps in node_args"},
      {"instance_var", "each worker gets CLUSTER_WORKER_ID (0-based) instead"},
      {"pmx", "PM2's monitoring agent: clusterctl status and metrics: instead"},
      {"automation", "PM2's monitoring agent: clusterctl status and metrics: instead"},
      {"treekill", "clusterd always signals the worker's whole process group"},
      {"kill_retry_time", "clusterd sends SIGKILL once after stop_timeout"},
      {"shutdown_with_message", "a worker is stopped with a signal (stop_signal)"},
      {"windowsHide", "Windows only"},
      {"append_env_to_name", "an app's name is its key"},
      {"filter_env", "clusterd passes its own environment, or none: see inherit_env"},
      {"disable_trace", "PM2's monitoring agent"},
      {"trace", "PM2's monitoring agent"},
      {"deep_monitoring", "PM2's monitoring agent"},
      {"wait_ready_timeout", "see listen_timeout"},
      {"version", "informational in PM2"},
      {"node_version", "informational in PM2"},
  };
  return kWhy;
}

// The keys pm2_keys.cc reads, each noted there (or here, in rest(), when its value turns it off).
constexpr std::string_view kReadKeys[] = {
    "name",
    "script",
    "interpreter",
    "exec_interpreter",
    "node_args",
    "interpreter_args",
    "args",
    "cwd",
    "instances",
    "exec_mode",
    "wait_ready",
    "listen_timeout",
    "increment_var",
    "kill_timeout",
    "autorestart",
    "stop_exit_codes",
    "max_restarts",
    "min_uptime",
    "restart_delay",
    "exp_backoff_restart_delay",
    "max_memory_restart",
    "cron_restart",
    "watch",
    "ignore_watch",
    "watch_delay",
    "watch_options",
    "out_file",
    "error_file",
    "log_file",
    "merge_logs",
    "combine_logs",
    "log_date_format",
    "time",
    "log_type",
    "disable_logs",
    "uid",
    "gid",
    "env",
    "port",
};

}  // namespace

// Any key not noted yet: one PM2 has that this import has nothing for (and why), one it read and
// found off (cron_restart: false), or none of PM2's.
void AppImport::rest() {
  const auto& why = unsupported_keys();
  for (auto it = app_.begin(); it != app_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    if (seen_.contains(key)) continue;
    if (const auto found = why.find(key); found != why.end()) {
      unsupported(key, std::string(found->second));
    } else if (std::find(std::begin(kReadKeys), std::end(kReadKeys), key) != std::end(kReadKeys)) {
      note(key, ImportNote::Kind::Mapped, "off, as in PM2's default: nothing to carry over");
    } else {
      unsupported(key, "not a PM2 ecosystem key this import knows");
    }
  }
}

std::optional<Out> AppImport::run() {
  note("name", ImportNote::Kind::Mapped, "the app's key: apps." + name_);
  if (!command()) {
    rest();
    return std::nullopt;
  }
  cwd();
  instances();
  readiness();
  restarts();
  backoff();
  memory_and_schedule();
  watch();
  logs();
  identity_and_env();
  increment_var();
  rest();
  return std::move(out_);
}

namespace {

// PM2's name for an app without one: its script's file name without the extension.
std::string name_of(const YAML::Node& app, std::size_t index) {
  std::string name;
  for (auto it = app.begin(); it != app.end(); ++it) {
    if (!it->first.IsScalar() || !it->second.IsScalar()) continue;
    if (it->first.Scalar() == "name") return it->second.Scalar();
    if (it->first.Scalar() == "script" && name.empty()) {
      name = it->second.Scalar().substr(it->second.Scalar().rfind('/') + 1);
      name = name.substr(0, std::min(name.find('.', 1), name.size()));
    }
  }
  return name.empty() ? "app" + std::to_string(index + 1) : name;
}

// A name clusterd takes ([A-Za-z0-9_.-]{1,64}) and no other app has.
std::string usable_name(std::string name, const std::set<std::string>& taken) {
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) c = '-';
  }
  name = name.substr(0, 60);
  if (name.empty()) name = "app";
  std::string unique = name;
  for (int n = 2; taken.contains(unique); ++n) unique = name + "-" + std::to_string(n);
  return unique;
}

// The apps of the file: `{apps: [...]}` (or one app under apps), a list, or one app.
std::vector<YAML::Node> apps_of(const YAML::Node& root, std::vector<ImportNote>& notes,
                                std::vector<std::string>& errors) {
  std::vector<YAML::Node> apps;
  const auto add = [&](const YAML::Node& list) {
    if (list.IsMap()) {
      apps.push_back(list);
    } else if (list.IsSequence()) {
      for (const YAML::Node& app : list) apps.push_back(app);
    } else {
      errors.push_back("apps: expected a list of apps");
    }
  };
  if (root.IsSequence()) {
    add(root);
  } else if (root.IsMap() && std::as_const(root)["apps"].IsDefined()) {
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (key == "apps") {
        add(it->second);
      } else {
        notes.push_back({"", key, ImportNote::Kind::Unsupported,
                         key == "deploy" ? "clusterd runs what is on the machine and deploys "
                                           "nothing: keep your deploy tool, and run clusterctl "
                                           "reload after it"
                                         : "not a PM2 ecosystem key this import knows"});
      }
    }
  } else if (root.IsMap()) {
    apps.push_back(root);
  } else {
    errors.push_back("expected an ecosystem file: {apps: [...]}, a list of apps, or one app");
  }
  return apps;
}

}  // namespace
}  // namespace pm2

ImportResult import_pm2(std::string_view text, std::string_view origin,
                        std::string_view directory) {
  ImportResult result;
  YAML::Node root;
  try {
    if (text.size() > kMaxConfigBytes) throw std::runtime_error("larger than 1 MiB");
    if (document_roots(std::string(text)).size() > 1) throw std::runtime_error("several documents");
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    result.errors.push_back(std::string(origin) + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": " + e.msg);
    return result;
  } catch (const std::exception& e) {
    result.errors.push_back(std::string(origin) + ": " + e.what());
    return result;
  }
  pm2::Out apps = pm2::Out::map();
  std::set<std::string> taken;
  const std::vector<YAML::Node> nodes = pm2::apps_of(root, result.notes, result.errors);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].IsMap()) {
      result.errors.push_back("apps[" + std::to_string(i) + "]: expected an app (a map)");
      continue;
    }
    const std::string wanted = pm2::name_of(nodes[i], i);
    const std::string name = pm2::usable_name(wanted, taken);
    taken.insert(name);
    if (name != wanted) {
      result.notes.push_back(
          {name, "name", ImportNote::Kind::Approximated,
           config::quoted(wanted) + " is not a clusterd app name, or is taken: " + name});
    }
    pm2::AppImport app(nodes[i], name, std::string(directory), result.notes);
    if (std::optional<pm2::Out> out = app.run()) apps.add(name, std::move(*out));
  }
  if (apps.keys.empty() && result.errors.empty()) result.errors.push_back("no app to import");
  if (!result.errors.empty()) return result;
  YAML::Emitter emitter;
  emitter << YAML::Comment("Imported from " + std::string(origin) +
                           " by clusterctl import; what each PM2 key became: its report, and "
                           "docs/from-pm2.md")
          << YAML::Newline;
  pm2::Out top = pm2::Out::map();
  top.add("apps", std::move(apps));
  pm2::emit(emitter, top);
  result.yaml = std::string(emitter.c_str()) + "\n";
  return result;
}

const std::vector<std::string_view>& pm2_app_keys() {
  static const std::vector<std::string_view> kKeys = [] {
    std::vector<std::string_view> keys(std::begin(pm2::kReadKeys), std::end(pm2::kReadKeys));
    for (const auto& [key, why] : pm2::unsupported_keys()) keys.push_back(key);
    return keys;
  }();
  return kKeys;
}

}  // namespace clusterd::config
