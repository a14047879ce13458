// The PM2 import, key by key: what each ecosystem key of an app becomes (docs/from-pm2.md).
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "config/cron.h"
#include "config/pm2_app.h"
#include "config/values.h"

namespace clusterd::config::pm2 {
namespace {

using Kind = ImportNote::Kind;

std::string extension(const std::string& script) {
  const std::string file = script.substr(script.rfind('/') + 1);
  const std::size_t dot = file.rfind('.');
  return dot == std::string::npos || dot == 0 ? "" : file.substr(dot);
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

}  // namespace

std::string AppImport::path_of(const std::string& path) const {
  if (path.empty()) return path;
  return std::filesystem::path(path.front() == '/' ? path : cwd_ + "/" + path)
      .lexically_normal()
      .string();
}

// PM2's choice for a script without `interpreter`: by its extension, else node.
Interpreter AppImport::interpreter(const std::string& script) {
  static const std::pair<const char*, const char*> kByExtension[] = {
      {".js", "node"}, {".cjs", "node"}, {".mjs", "node"}, {".py", "python3"},    {".sh", "bash"},
      {".rb", "ruby"}, {".php", "php"},  {".pl", "perl"},  {".coffee", "coffee"}, {".ls", "lsc"},
  };
  for (const char* key : {"interpreter", "exec_interpreter"}) {
    const std::optional<std::string> given = text(key);
    if (!given) continue;
    if (*given == "none") {
      note(key, Kind::Mapped, "command: the script is the program (none)");
      return {"", false};
    }
    const bool node = *given == "node" || *given == "nodejs" || given->ends_with("/node");
    note(key, Kind::Mapped, "command[0]: " + *given);
    return {*given, node};
  }
  const std::string ext = extension(script);
  for (const auto& [suffix, program] : kByExtension) {
    if (ext == suffix) return {program, std::string_view(program) == "node"};
  }
  if (ext.empty() && script.find('/') == std::string::npos) {
    return {"", false};  // `npm`, `yarn`: a program in PATH
  }
  return {"node", true};  // PM2 runs what it does not recognise with node (bin/www)
}

bool AppImport::command() {
  const std::optional<std::string> script = text("script");
  if (!script || script->empty()) {
    if (!find("script")) unsupported("script", "missing: this app has nothing to run");
    return false;
  }
  const Interpreter with = interpreter(*script);
  node_ = with.node;
  std::vector<std::string> argv;
  if (!with.program.empty()) argv.push_back(with.program);
  for (const char* key : {"node_args", "interpreter_args"}) {
    const std::optional<std::vector<std::string>> more = words(key);
    if (!more) continue;
    if (with.program.empty()) {
      unsupported(key, "the script runs without an interpreter (interpreter: none)");
      continue;
    }
    argv.insert(argv.end(), more->begin(), more->end());
    note(key, Kind::Mapped, "command, after " + with.program + ": " + joined(*more));
  }
  argv.push_back(*script);
  const std::string ext = extension(*script);
  if (with.program.empty() && script->find('/') == std::string::npos) {
    note("script", Kind::Approximated,
         "command[0]: " + *script +
             ", looked up in PATH (PM2 takes a file of that name in the app's directory first: "
             "write ./" +
             *script + " for that one)");
  } else if (!find("interpreter") && !find("exec_interpreter") && !with.program.empty()) {
    note("script",
         with.program == "node" && ext != ".js" && ext != ".cjs" && ext != ".mjs"
             ? Kind::Approximated
             : Kind::Mapped,
         "command: " + with.program + " " + *script + " (PM2's interpreter for " +
             (ext.empty() ? std::string("a script without extension") : ext + " files") + ")");
  } else {
    note("script", Kind::Mapped,
         "command: " + (with.program.empty() ? "" : with.program + " ") + *script);
  }
  if (const std::optional<std::vector<std::string>> args = words("args")) {
    argv.insert(argv.end(), args->begin(), args->end());
    const std::optional<YAML::Node> node = find("args");
    note("args",
         node->IsScalar() && node->Scalar().find_first_of("\"'\\") != std::string::npos
             ? Kind::Approximated
             : Kind::Mapped,
         "command, after the script: " + joined(*args) +
             (node->IsScalar() ? " (split at spaces, without quoting)" : ""));
  }
  out_.add("command", Out::flow(argv));
  return true;
}

void AppImport::cwd() {
  const std::optional<std::string> given = text("cwd");
  if (given && !given->empty()) {
    cwd_ = std::filesystem::path(given->front() == '/' ? *given : directory_ + "/" + *given)
               .lexically_normal()
               .string();
    if (cwd_.size() > 1 && cwd_.back() == '/') cwd_.pop_back();
    note("cwd", Kind::Mapped, "cwd: " + cwd_);
  } else {
    cwd_ = directory_;
    notes_.push_back({name_, "cwd", Kind::Approximated,
                      "not given: cwd: " + cwd_ +
                          " (the ecosystem file's directory, which PM2 starts apps from)"});
  }
  out_.add("cwd", Out::plain(cwd_));
}

void AppImport::instances() {
  std::optional<std::string> n = text("instances");
  std::string count = "1";
  if (n) {
    if (*n == "0" || *n == "max") {
      count = "max";
    } else if (*n == "-1") {
      count = "-1";
    } else if (n->starts_with("-")) {
      count = "-1";
      note("instances", Kind::Approximated, "-1: all CPUs but one (clusterd has no " + *n + ")");
    } else if (parse_integer(*n, 1, kMaxInstances).value) {
      count = *n;
    } else {
      unsupported("instances", "expected a number, 0, -1 or max, got " + config::quoted(*n));
      n.reset();
    }
    if (n && !seen_.contains("instances")) note("instances", Kind::Mapped, "instances: " + count);
  }
  const std::optional<std::string> mode = text("exec_mode");
  // PM2 runs an app in cluster mode when it says so, or when it gives instances and no mode.
  const bool cluster_asked = mode ? *mode == "cluster" || *mode == "cluster_mode" : n.has_value();
  cluster_ = cluster_asked && node_;
  if (mode && cluster_) {
    note("exec_mode", Kind::Approximated,
         "cluster -> adopt: all (every port the workers listen on becomes one socket the master "
         "holds and shares among them, as PM2's cluster module does)");
  } else if (mode && cluster_asked) {
    note("exec_mode", Kind::Approximated,
         "cluster mode is for node apps: PM2 runs this one in fork mode, and so does clusterd "
         "(each worker binds its own ports)");
  } else if (mode) {
    note("exec_mode", mode->starts_with("fork") ? Kind::Mapped : Kind::Unsupported,
         mode->starts_with("fork")
             ? "the default: each worker runs on its own, binding its own ports"
             : "expected cluster or fork, got " + config::quoted(*mode));
  } else if (n && cluster_) {
    notes_.push_back({name_, "exec_mode", Kind::Approximated,
                      "not given, with instances: cluster mode, as PM2 does -> adopt: all"});
  }
  if (!n) {
    notes_.push_back({name_, "instances", Kind::Approximated,
                      "not given: instances: 1, PM2's default (clusterd's own is auto)"});
  }
  out_.add("instances", Out::plain(count));
  if (cluster_) out_.add("adopt", Out::plain("all"));
}

// wait_ready and listen_timeout. A node worker's process.send('ready') goes to PM2's IPC channel,
// which clusterd does not have: readiness is its listen() (cluster mode), else time.
void AppImport::readiness() {
  const std::optional<bool> wait = flag("wait_ready");
  const std::optional<std::string> timeout = duration("listen_timeout");
  if (cluster_) {
    out_.add("ready", Out::plain("listen"));
    if (wait) {
      note("wait_ready", Kind::Approximated,
           "ready: listen (a worker is ready when its listen() is adopted; "
           "process.send('ready') does not reach clusterd)");
    }
    if (timeout) {
      out_.add("ready_timeout", Out::plain(*timeout));
      note("listen_timeout", Kind::Mapped, "ready_timeout: " + *timeout);
    }
    return;
  }
  if (wait.value_or(false)) {
    const std::string after = timeout.value_or("3s");
    out_.add("ready", Out::plain("exec"));
    out_.add("min_ready", Out::plain(after));
    note("wait_ready", Kind::Approximated,
         "ready: exec with min_ready: " + after +
             " (process.send('ready') does not reach clusterd; PM2 too takes a worker as ready "
             "after listen_timeout)");
    if (timeout) note("listen_timeout", Kind::Mapped, "min_ready: " + *timeout);
  } else {
    if (wait) note("wait_ready", Kind::Mapped, "ready: exec, the default");
    if (timeout) {
      unsupported("listen_timeout",
                  "without wait_ready or cluster mode PM2 waits for nothing, nor does clusterd");
    }
  }
}

void AppImport::restarts() {
  if (const std::optional<std::string> d = duration("kill_timeout")) {
    out_.add("stop_timeout", Out::plain(*d));
    note("kill_timeout", Kind::Mapped, "stop_timeout: " + *d);
  }
  std::string restart = "always";
  if (const std::optional<bool> on = flag("autorestart")) {
    restart = *on ? "always" : "never";
    note("autorestart", Kind::Mapped, "restart: " + restart);
  }
  if (const std::optional<YAML::Node> codes = find("stop_exit_codes")) {
    const bool zero = (codes->IsScalar() && codes->Scalar() == "0") ||
                      (codes->IsSequence() && codes->size() == 1 && (*codes)[0].IsScalar() &&
                       (*codes)[0].Scalar() == "0");
    if (zero && restart == "always") {
      restart = "on-failure";
      note("stop_exit_codes", Kind::Mapped, "restart: on-failure (an exit with 0 stays stopped)");
    } else {
      unsupported("stop_exit_codes", "only [0] has an equivalent (restart: on-failure)");
    }
  }
  out_.add("restart", Out::plain(restart));
  if (const std::optional<std::string> n = text("max_restarts")) {
    if (parse_integer(*n, 0, 1000000).value) {
      out_.add("max_restarts", Out::plain(*n));
      note("max_restarts", Kind::Approximated,
           "max_restarts: " + *n +
               " (quick deaths within restart_window, 60s, before the worker is failed; PM2 counts "
               "them in a row)");
    } else {
      unsupported("max_restarts", "expected a number, got " + config::quoted(*n));
    }
  }
  if (const std::optional<std::string> d = duration("min_uptime")) {
    out_.add("min_uptime", Out::plain(*d));
    note("min_uptime", Kind::Mapped, "min_uptime: " + *d);
  }
}

void AppImport::backoff() {
  const std::optional<std::string> fixed = duration("restart_delay");
  const std::optional<std::string> growing = duration("exp_backoff_restart_delay");
  if (growing) {
    Out& b = out_.add("backoff", Out::map());
    b.add("initial", Out::plain(*growing));
    b.add("max", Out::plain("15s"));
    note("exp_backoff_restart_delay", Kind::Mapped,
         "backoff: {initial: " + *growing + ", max: 15s} (PM2's ceiling)");
    if (fixed) unsupported("restart_delay", "exp_backoff_restart_delay takes its place, as in PM2");
  } else if (fixed) {
    Out& b = out_.add("backoff", Out::map());
    b.add("initial", Out::plain(*fixed));
    b.add("max", Out::plain(*fixed));
    note("restart_delay", Kind::Approximated,
         "backoff: {initial: " + *fixed + ", max: " + *fixed +
             "} (the wait before restarting a worker that died within min_uptime; one that ran "
             "longer restarts at once)");
  }
}

void AppImport::memory_and_schedule() {
  if (const std::optional<std::string> m = text("max_memory_restart")) {
    std::string size = *m;
    if (!size.empty() && size.back() >= 'a' && size.back() <= 'z') size.back() -= 'a' - 'A';
    const Result<std::uint64_t> bytes = parse_size(size);
    if (bytes.value && *bytes.value >= kMinMemory) {
      out_.add("max_memory", Out::plain(size));
      note("max_memory_restart", Kind::Mapped,
           "max_memory: " + size + " (the worker and its children, sampled every 5s)");
    } else {
      unsupported("max_memory_restart",
                  "expected a size of at least 1M, got " + config::quoted(*m));
    }
  }
  const std::optional<std::string> cron = text("cron_restart");
  if (!cron || *cron == "false" || *cron == "0") return;
  std::vector<std::string> fields = split_command(*cron);
  if (fields.size() == 6 && fields[0] == "0") fields.erase(fields.begin());  // seconds
  const std::string schedule = "TZ=local " + joined(fields);
  const Result<CronSchedule> parsed = parse_schedule(schedule);
  if (!parsed.value) {
    unsupported("cron_restart", config::quoted(*cron) + ": " + parsed.error);
    return;
  }
  out_.add("restart_schedule", Out::quoted(schedule));
  note("cron_restart", Kind::Approximated,
       "restart_schedule: \"" + schedule +
           "\" (the machine's time zone, as PM2 used; the workers are replaced one by one)");
}

void AppImport::watch() {
  std::optional<YAML::Node> given = find("watch");
  const std::optional<std::vector<std::string>> ignore = words("ignore_watch");
  const std::optional<std::string> delay = duration("watch_delay");
  if (find("watch_options").has_value()) {
    unsupported("watch_options", "chokidar's options: clusterd watches with inotify");
  }
  std::vector<std::string> paths;
  if (given && given->IsMap()) {
    unsupported("watch", "expected true, false, a path or a list of paths");
    given.reset();
  } else if (given && given->IsScalar() && given->Scalar() == "true") {
    paths.push_back(".");
  } else if (given && given->IsScalar() && given->Scalar() != "false") {
    paths.push_back(given->Scalar());
  } else if (given && given->IsSequence()) {
    paths = words("watch").value_or(std::vector<std::string>{});
  }
  if (paths.empty()) {
    if (given.has_value()) note("watch", Kind::Mapped, "no watch, the default");
    if (ignore) unsupported("ignore_watch", "watch is off");
    if (delay) unsupported("watch_delay", "watch is off");
    return;
  }
  Out& w = out_.add("watch", Out::map());
  w.add("paths", Out::flow(paths));
  note("watch", Kind::Mapped,
       "watch.paths: " + joined(paths) + " (workers are replaced one by one on a change)");
  if (ignore) {
    Out list{Out::Kind::Flow, {}, {}, {}, {}};
    for (const std::string& glob : *ignore) list.items.push_back(Out::quoted(glob));
    w.add("ignore", std::move(list));
    note("ignore_watch", Kind::Mapped, "watch.ignore: " + joined(*ignore));
  }
  if (delay) {
    w.add("debounce", Out::plain(*delay));
    note("watch_delay", Kind::Mapped, "watch.debounce: " + *delay);
  }
}

// out_file, error_file, log_file and their options: one file per app in clusterd, every worker's
// lines in it, each line marked with its worker and stream.
void AppImport::logs() {
  const std::optional<std::string> out = text("out_file");
  const std::optional<std::string> err = text("error_file");
  const std::optional<std::string> combined = text("log_file");
  std::optional<std::string> file = out ? out : combined ? combined : err;
  bool console = true;
  if (file && (*file == "/dev/null" || *file == "false")) {
    file.reset();
    console = false;
  }
  if (out || err || combined) {
    Out& l = out_.add("logs", Out::map());
    l.add("mode", Out::plain("capture"));
    if (file) l.add("file", Out::plain(path_of(*file)));
    if (!console) l.add("console", Out::plain("false"));
  }
  const std::string where = file ? "logs.file: " + path_of(*file) : "logs: nowhere but the ring";
  for (const auto& [key, value] : {std::pair{"out_file", out}, std::pair{"error_file", err},
                                   std::pair{"log_file", combined}}) {
    if (!value) continue;
    const bool same = file ? path_of(*value) == path_of(*file) : !console;
    note(key, same ? Kind::Mapped : Kind::Approximated,
         same ? where : where + " (both streams in one file, each line marked out or err)");
  }
  for (const char* key : {"merge_logs", "combine_logs"}) {
    if (const std::optional<bool> merge = flag(key)) {
      note(key, *merge ? Kind::Mapped : Kind::Approximated,
           *merge ? "one file for every worker of the app (clusterd's only way)"
                  : "one file for every worker of the app, each line naming its worker "
                    "(PM2 writes one per instance)");
    }
  }
  if (text("log_date_format")) {
    note("log_date_format", Kind::Approximated, "each line gets clusterd's own timestamp");
  }
  if (flag("time")) {
    note("time", Kind::Approximated, "each line gets clusterd's own timestamp");
  }
  if (find("log_type").has_value())
    unsupported("log_type", "lines are kept as the worker wrote them");
  if (find("disable_logs").has_value()) unsupported("disable_logs", "write logs: {console: false}");
}

void AppImport::identity_and_env() {
  for (const auto& [pm2_key, key] : {std::pair{"uid", "user"}, std::pair{"gid", "group"}}) {
    if (const std::optional<std::string> who = text(pm2_key)) {
      out_.add(key, Out::plain(*who));
      note(pm2_key, Kind::Mapped, std::string(key) + ": " + *who);
    }
  }
  const std::optional<std::string> port = text("port");
  for (auto it = app_.begin(); it != app_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    if (key != "env" && !(key.starts_with("env_") && is_app_name(key.substr(4)))) continue;
    if (!it->second.IsMap()) {
      unsupported(key, "expected a map of variables");
      continue;
    }
    Out vars = Out::map();
    std::vector<std::string> skipped;
    for (auto v = it->second.begin(); v != it->second.end(); ++v) {
      const bool ok =
          v->first.IsScalar() && !v->first.Scalar().empty() &&
          v->first.Scalar().find_first_of(std::string_view("=\0", 2)) == std::string::npos &&
          (v->second.IsScalar() || v->second.IsNull());
      if (!ok || (v->second.IsScalar() && v->second.Scalar().find('\0') != std::string::npos)) {
        skipped.push_back(v->first.IsScalar() ? v->first.Scalar() : "?");
        continue;
      }
      vars.add(v->first.Scalar(), Out::quoted(v->second.IsNull() ? "" : v->second.Scalar()));
    }
    const bool has_port = std::find(vars.keys.begin(), vars.keys.end(), "PORT") != vars.keys.end();
    if (key == "env" && port && !has_port) vars.add("PORT", Out::quoted(*port));
    if (!vars.keys.empty()) out_.add(key, std::move(vars));
    note(key, skipped.empty() ? Kind::Mapped : Kind::Approximated,
         key +
             (skipped.empty() ? std::string()
                              : " without " + joined(skipped) + " (not a string or a number)") +
             (key == "env" ? "" : " (clusterd --env " + key.substr(4) + ")"));
  }
  if (port) {
    if (!find("env")) out_.add("env", Out::map()).add("PORT", Out::quoted(*port));
    note("port", Kind::Mapped, "env: PORT=" + *port);
  }
}

// increment_var: NAME: PM2 gives instance N the value of env.NAME plus N. A listener of each
// worker's own port does the same (port_per_worker, port_env: NAME), which a probe can then try;
// the variable leaves the env maps, where the config would refuse it beside port_env.
void AppImport::increment_var() {
  const std::optional<std::string> var = text("increment_var");
  if (!var) return;
  std::optional<std::string> base;
  for (std::size_t i = 0; i < out_.keys.size(); ++i) {
    const std::string& key = out_.keys[i];
    if (key != "env" && !key.starts_with("env_")) continue;
    Out& vars = out_.values[i];
    const auto it = std::find(vars.keys.begin(), vars.keys.end(), *var);
    if (it == vars.keys.end()) continue;
    const auto at = static_cast<std::size_t>(it - vars.keys.begin());
    if (key == "env") base = vars.values[at].text;
    vars.keys.erase(it);
    vars.values.erase(vars.values.begin() + static_cast<std::ptrdiff_t>(at));
  }
  const bool valid_name =
      !var->empty() && std::isdigit(static_cast<unsigned char>(var->front())) == 0 &&
      var->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
          std::string::npos &&
      !var->starts_with("CLUSTER_");
  if (!valid_name || !base || !parse_integer(*base, 1, 65535).value) {
    unsupported("increment_var",
                !valid_name ? config::quoted(*var) + " is not a variable clusterd can set"
                            : "needs env." + *var + " (or port:) to be the first port, 1-65535");
    return;
  }
  std::string name;
  for (const char c : *var) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Out listener = Out::map();
  listener.add("address", Out::quoted("0.0.0.0:" + *base));
  listener.add("mode", Out::plain("worker"));
  listener.add("port_per_worker", Out::plain("true"));
  listener.add("port_env", Out::plain(*var));
  out_.add("listen", Out::map()).add(name, std::move(listener));
  note("increment_var", Kind::Mapped,
       "listen." + name + ": mode: worker, port_per_worker: true, port_env: " + *var + " (worker " +
           "N gets " + *var + "=" + *base + " + N)");
}

}  // namespace clusterd::config::pm2
