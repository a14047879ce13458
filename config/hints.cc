// What an unknown key is told: the key it was likely meant to be (a typo, or PM2's name for it),
// else the keys its place takes.
#include <algorithm>
#include <string>
#include <utility>

#include "config/walker.h"
#include "text/near_miss.h"

namespace clusterd::config {
namespace {

struct Hint {
  std::string_view key;
  std::string_view text;  // after "unknown key; "
};

// PM2 ecosystem keys an app of a clusterd config may have been written with (docs/from-pm2.md).
constexpr Hint kPm2AppKeys[] = {
    {"max_memory_restart", "did you mean max_memory? (PM2's name)"},
    {"kill_timeout", "did you mean stop_timeout? (PM2's name)"},
    {"listen_timeout", "did you mean ready_timeout? (PM2's name)"},
    {"cron_restart",
     "did you mean restart_schedule? (PM2's name; write the time zone: "
     "TZ=UTC 0 3 * * *)"},
    {"uid", "did you mean user? (PM2's name)"},
    {"gid", "did you mean group? (PM2's name)"},
    {"autorestart",
     "did you mean restart? (PM2's autorestart: true is restart: always, false is "
     "restart: never)"},
    {"restart_delay", "did you mean backoff? (PM2's restart_delay is backoff.initial)"},
    {"exp_backoff_restart_delay",
     "did you mean backoff? (PM2's exp_backoff_restart_delay is "
     "backoff.initial, with backoff.max)"},
    {"wait_ready",
     "did you mean ready? (PM2's wait_ready: ready: listen with adopt, else ready: "
     "exec with min_ready)"},
    {"ignore_watch", "did you mean watch? (PM2's ignore_watch is watch.ignore)"},
    {"watch_delay", "did you mean watch? (PM2's watch_delay is watch.debounce)"},
    {"out_file", "did you mean logs? (PM2's out_file and error_file are one logs.file)"},
    {"error_file", "did you mean logs? (PM2's out_file and error_file are one logs.file)"},
    {"log_file", "did you mean logs? (PM2's log_file is logs.file)"},
    {"merge_logs", "did you mean logs? (one logs.file holds the lines of every worker of the app)"},
    {"combine_logs",
     "did you mean logs? (one logs.file holds the lines of every worker of the app)"},
    {"log_date_format", "PM2's log_date_format: each line gets clusterd's own timestamp"},
    {"script",
     "PM2's script: clusterd runs command: [interpreter, script, args...] "
     "(clusterctl import FILE converts an ecosystem file)"},
    {"args", "PM2's args: write them after the program in command:"},
    {"interpreter",
     "PM2's interpreter: write it first in command: (command: [python3, "
     "worker.py])"},
    {"exec_interpreter",
     "PM2's exec_interpreter: write it first in command: (command: [python3, "
     "worker.py])"},
    {"node_args",
     "PM2's node_args: write them after node in command: (command: [node, "
     "--max-old-space-size=512, app.js])"},
    {"interpreter_args", "PM2's interpreter_args: write them after the interpreter in command:"},
    {"exec_mode",
     "PM2's exec_mode: cluster mode is adopt: all (the ports the workers bind are "
     "the master's shared sockets); fork mode is the default"},
    {"name", "PM2's name: an app's name is its key under apps:"},
    {"instance_var", "PM2's instance_var: each worker gets CLUSTER_WORKER_ID (0-based)"},
    {"port", "PM2's port: write env: {PORT: \"8080\"}, or a listener under listen:"},
};

std::string list_of(std::initializer_list<std::string_view> allowed) {
  std::string list;
  for (std::string_view k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
  return list;
}

}  // namespace

bool environment_key(std::string_view key) {
  return key.starts_with("env_") && is_app_name(key.substr(4));
}

std::string unknown_key(std::string_view key, std::initializer_list<std::string_view> allowed,
                        Place place) {
  if (place == Place::App) {
    for (const Hint& hint : kPm2AppKeys) {
      if (hint.key == key) return "unknown key; " + std::string(hint.text);
    }
  }
  if (place == Place::Top && key == "deploy") {
    return "unknown key; PM2's deploy section: clusterd runs what is on the machine and deploys "
           "nothing";
  }
  std::vector<std::string> candidates(allowed.begin(), allowed.end());
  if (const std::optional<std::string> near = near_miss(key, candidates)) {
    return "unknown key; did you mean " + *near + "?";
  }
  return "unknown key; expected one of " + list_of(allowed);
}

}  // namespace clusterd::config
