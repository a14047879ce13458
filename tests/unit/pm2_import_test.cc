// clusterctl import: PM2 ecosystem files (as node prints them: JSON; or YAML) into configs, with
// the exact config written and the exact note said of every key.
#include "config/pm2_import.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/parse.h"

using namespace clusterd;
using Strings = std::vector<std::string>;

namespace {

struct Imported {
  std::string yaml;
  Strings notes;
  Strings errors;
};

Imported import(const std::string& text) {
  const config::ImportResult r = config::import_pm2(text, "ecosystem.config.js", "/srv/app");
  Imported out{r.yaml, {}, r.errors};
  for (const config::ImportNote& note : r.notes) out.notes.push_back(note.to_string());
  return out;
}

const std::string kHeader =
    "# Imported from ecosystem.config.js by clusterctl import; what each PM2 key became: its "
    "report, and docs/from-pm2.md\n\n";

// The config must be one clusterd reads (until `adopt` is read, without it and ready: listen).
void parses(const std::string& yaml) {
  std::string text = yaml;
  for (const std::string cut : {"    adopt: all\n", "    ready: listen\n"}) {
    for (std::size_t at = text.find(cut); at != std::string::npos; at = text.find(cut)) {
      text.erase(at, cut.size());
    }
  }
  const config::ParseResult r = config::parse_config(text, "imported.yaml");
  std::string errors;
  for (const auto& e : r.errors) errors += e.to_string() + "\n";
  INFO(text << errors);
  CHECK(r.errors.empty());
}

}  // namespace

TEST_CASE("import: a Node API in cluster mode, every key said", "[pm2]") {
  const Imported got = import(R"({"apps":[{"name":"api","script":"./dist/server.js",
    "node_args":"--max-old-space-size=256","instances":"max","exec_mode":"cluster",
    "max_memory_restart":"300M","cron_restart":"0 3 * * *","wait_ready":true,
    "listen_timeout":10000,"kill_timeout":5000,"min_uptime":"10s","max_restarts":10,
    "exp_backoff_restart_delay":100,"out_file":"./logs/api.log","error_file":"./logs/api.log",
    "merge_logs":true,"log_date_format":"YYYY-MM-DD HH:mm Z",
    "env":{"NODE_ENV":"development","PORT":3000},
    "env_production":{"NODE_ENV":"production","PORT":8080}}]})");
  CHECK(got.errors.empty());
  CHECK(got.yaml == kHeader + R"(apps:
  api:
    command: [node, --max-old-space-size=256, ./dist/server.js]
    cwd: /srv/app
    instances: max
    adopt: all
    ready: listen
    ready_timeout: 10s
    stop_timeout: 5s
    restart: always
    max_restarts: 10
    min_uptime: 10s
    backoff:
      initial: 100ms
      max: 15s
    max_memory: 300M
    restart_schedule: "TZ=local 0 3 * * *"
    logs:
      mode: capture
      file: /srv/app/logs/api.log
    env:
      NODE_ENV: "development"
      PORT: "3000"
    env_production:
      NODE_ENV: "production"
      PORT: "8080"
)");
  CHECK(got.notes ==
        Strings{
            "api.name: mapped to the app's key: apps.api",
            "api.node_args: mapped to command, after node: --max-old-space-size=256",
            "api.script: mapped to command: node ./dist/server.js (PM2's interpreter for .js "
            "files)",
            "api.cwd: approximated: not given: cwd: /srv/app (the ecosystem file's directory, "
            "which PM2 starts apps from)",
            "api.instances: mapped to instances: max",
            "api.exec_mode: approximated: cluster -> adopt: all (every port the workers listen on "
            "becomes one socket the master holds and shares among them, as PM2's cluster module "
            "does)",
            "api.wait_ready: approximated: ready: listen (a worker is ready when its listen() is "
            "adopted; process.send('ready') does not reach clusterd)",
            "api.listen_timeout: mapped to ready_timeout: 10s",
            "api.kill_timeout: mapped to stop_timeout: 5s",
            "api.max_restarts: approximated: max_restarts: 10 (quick deaths within "
            "restart_window, 60s, before the worker is failed; PM2 counts them in a row)",
            "api.min_uptime: mapped to min_uptime: 10s",
            "api.exp_backoff_restart_delay: mapped to backoff: {initial: 100ms, max: 15s} (PM2's "
            "ceiling)",
            "api.max_memory_restart: mapped to max_memory: 300M (the worker and its children, "
            "sampled every 5s)",
            "api.cron_restart: approximated: restart_schedule: \"TZ=local 0 3 * * *\" (the "
            "machine's time zone, as PM2 used; the workers are replaced one by one)",
            "api.out_file: mapped to logs.file: /srv/app/logs/api.log",
            "api.error_file: mapped to logs.file: /srv/app/logs/api.log",
            "api.merge_logs: mapped to one file for every worker of the app (clusterd's only way)",
            "api.log_date_format: approximated: each line gets clusterd's own timestamp",
            "api.env: mapped to env",
            "api.env_production: mapped to env_production (clusterd --env production)",
        });
  parses(got.yaml);
}

TEST_CASE("import: interpreters, by name, by extension, none, and a program in PATH", "[pm2]") {
  const Imported got = import(R"(apps:
  - {name: py, script: worker.py, args: [--queue, emails]}
  - {name: py3, script: worker.py, interpreter: /usr/bin/python3.11, interpreter_args: -u}
  - {name: bin, script: ./bin/server, interpreter: none, args: "--port 80 --name 'a b'"}
  - {name: www, script: bin/www}
  - {name: npm, script: npm, args: start}
  - {name: sh, script: run.sh}
)");
  REQUIRE(got.errors.empty());
  CHECK(got.yaml.find("    command: [python3, worker.py, --queue, emails]\n") != std::string::npos);
  CHECK(got.yaml.find("    command: [/usr/bin/python3.11, -u, worker.py]\n") != std::string::npos);
  CHECK(got.yaml.find("    command: [./bin/server, --port, 80, --name, \"'a\", b']\n") !=
        std::string::npos);
  CHECK(got.yaml.find("    command: [node, bin/www]\n") != std::string::npos);
  CHECK(got.yaml.find("    command: [npm, start]\n") != std::string::npos);
  CHECK(got.yaml.find("    command: [bash, run.sh]\n") != std::string::npos);
  const auto has = [&](const std::string& note) {
    INFO(note);
    CHECK(std::find(got.notes.begin(), got.notes.end(), note) != got.notes.end());
  };
  has("py.script: mapped to command: python3 worker.py (PM2's interpreter for .py files)");
  has("py3.interpreter: mapped to command[0]: /usr/bin/python3.11");
  has("py3.interpreter_args: mapped to command, after /usr/bin/python3.11: -u");
  has("bin.interpreter: mapped to command: the script is the program (none)");
  has("bin.args: approximated: command, after the script: --port 80 --name 'a b' (split at "
      "spaces, without quoting)");
  has("www.script: approximated: command: node bin/www (PM2's interpreter for a script without "
      "extension)");
  has("npm.script: approximated: command[0]: npm, looked up in PATH (PM2 takes a file of that "
      "name in the app's directory first: write ./npm for that one)");
  has("npm.instances: approximated: not given: instances: 1, PM2's default (clusterd's own is "
      "auto)");
  parses(got.yaml);
}

TEST_CASE("import: instances and exec_mode: cluster is for node, fork is the default", "[pm2]") {
  const Imported got = import(R"([
    {"name":"a","script":"a.js","instances":0},
    {"name":"b","script":"b.js","instances":-1,"exec_mode":"fork"},
    {"name":"c","script":"c.js","instances":-3},
    {"name":"d","script":"d.py","instances":4,"exec_mode":"cluster"},
    {"name":"e","script":"e.js","instances":"lots"}])");
  REQUIRE(got.errors.empty());
  CHECK(got.yaml.find("  a:\n    command: [node, a.js]\n    cwd: /srv/app\n    instances: max\n"
                      "    adopt: all\n    ready: listen\n") != std::string::npos);
  CHECK(got.yaml.find("  b:\n    command: [node, b.js]\n    cwd: /srv/app\n    instances: -1\n"
                      "    restart: always\n") != std::string::npos);
  CHECK(got.yaml.find("  d:\n    command: [python3, d.py]\n    cwd: /srv/app\n    instances: 4\n"
                      "    restart: always\n") != std::string::npos);
  CHECK(got.yaml.find("  e:\n    command: [node, e.js]\n    cwd: /srv/app\n    instances: 1\n") !=
        std::string::npos);
  const Strings want = {
      "a.exec_mode: approximated: not given, with instances: cluster mode, as PM2 does -> adopt: "
      "all",
      "b.exec_mode: mapped to the default: each worker runs on its own, binding its own ports",
      "c.instances: approximated: -1: all CPUs but one (clusterd has no -3)",
      "d.exec_mode: approximated: cluster mode is for node apps: PM2 runs this one in fork mode, "
      "and so does clusterd (each worker binds its own ports)",
      "e.instances: not supported: expected a number, 0, -1 or max, got 'lots'",
  };
  for (const std::string& note : want) {
    INFO(note);
    CHECK(std::find(got.notes.begin(), got.notes.end(), note) != got.notes.end());
  }
  parses(got.yaml);
}

TEST_CASE("import: readiness, restarts, schedule, watch and logs in fork mode", "[pm2]") {
  const Imported got = import(R"({"name":"w","script":"w.js","exec_mode":"fork",
    "wait_ready":true,"listen_timeout":8000,"autorestart":false,"stop_exit_codes":[0],
    "restart_delay":2000,"cron_restart":"0 0 4 * * 1","watch":["src","config"],
    "ignore_watch":["node_modules","*.log"],"watch_delay":500,
    "out_file":"/var/log/w.out","error_file":"/var/log/w.err","merge_logs":false,
    "uid":"www-data","gid":"www-data","port":8080,"env":{"A":null,"B":true,"C":{"x":1}}})");
  REQUIRE(got.errors.empty());
  CHECK(got.yaml == kHeader + R"(apps:
  w:
    command: [node, w.js]
    cwd: /srv/app
    instances: 1
    ready: exec
    min_ready: 8s
    restart: never
    backoff:
      initial: 2s
      max: 2s
    restart_schedule: "TZ=local 0 4 * * 1"
    watch:
      paths: [src, config]
      ignore: ["node_modules", "*.log"]
      debounce: 500ms
    logs:
      mode: capture
      file: /var/log/w.out
    user: www-data
    group: www-data
    env:
      A: ""
      B: "true"
      PORT: "8080"
)");
  const Strings want = {
      "w.wait_ready: approximated: ready: exec with min_ready: 8s (process.send('ready') does not "
      "reach clusterd; PM2 too takes a worker as ready after listen_timeout)",
      "w.listen_timeout: mapped to min_ready: 8s",
      "w.autorestart: mapped to restart: never",
      "w.stop_exit_codes: not supported: only [0] has an equivalent (restart: on-failure)",
      "w.error_file: approximated: logs.file: /var/log/w.out (both streams in one file, each "
      "line marked out or err)",
      "w.merge_logs: approximated: one file for every worker of the app, each line naming its "
      "worker (PM2 writes one per instance)",
      "w.env: approximated: env without C (not a string or a number)",
      "w.port: mapped to env: PORT=8080",
      "w.watch: mapped to watch.paths: src config (workers are replaced one by one on a change)",
  };
  for (const std::string& note : want) {
    INFO(note);
    CHECK(std::find(got.notes.begin(), got.notes.end(), note) != got.notes.end());
  }
  parses(got.yaml);
}

TEST_CASE("import: increment_var is a listener of each worker's own port", "[pm2]") {
  const Imported got = import(R"([
    {"name":"a","script":"a.py","instances":3,"increment_var":"PORT",
     "env":{"PORT":3000,"MODE":"x"},"env_production":{"PORT":8080}},
    {"name":"b","script":"b.py","port":4000,"increment_var":"PORT"},
    {"name":"c","script":"c.py","increment_var":"PORT"},
    {"name":"d","script":"d.py","increment_var":"CLUSTER_X","env":{"CLUSTER_X":1}}])");
  REQUIRE(got.errors.empty());
  INFO(got.yaml);
  CHECK(got.yaml.find("    env:\n      MODE: \"x\"\n") != std::string::npos);
  CHECK(got.yaml.find("    listen:\n      port:\n        address: \"0.0.0.0:3000\"\n        mode: "
                      "worker\n        port_per_worker: true\n        port_env: PORT\n") !=
        std::string::npos);
  CHECK(got.yaml.find("\"0.0.0.0:4000\"") != std::string::npos);
  CHECK(got.yaml.find("PORT: \"3000\"") == std::string::npos);
  CHECK(got.yaml.find("PORT: \"8080\"") == std::string::npos);
  const Strings want = {
      "a.increment_var: mapped to listen.port: mode: worker, port_per_worker: true, port_env: "
      "PORT (worker N gets PORT=3000 + N)",
      "b.increment_var: mapped to listen.port: mode: worker, port_per_worker: true, port_env: "
      "PORT (worker N gets PORT=4000 + N)",
      "c.increment_var: not supported: needs env.PORT (or port:) to be the first port, 1-65535",
      "d.increment_var: not supported: 'CLUSTER_X' is not a variable clusterd can set",
  };
  for (const std::string& note : want) {
    INFO(note);
    CHECK(std::find(got.notes.begin(), got.notes.end(), note) != got.notes.end());
  }
  parses(got.yaml);
}

TEST_CASE("import: what has no equivalent is said, and the file's own keys too", "[pm2]") {
  const Imported got = import(R"({"apps":[{"name":"my app!","script":"a.js","vizion":false,
    "namespace":"x","frobnicate":1,"cron_restart":"*/5 * * * * *","stop_exit_codes":[0],
    "max_memory_restart":"lots","watch":{"a":1}},{"name":"my app!","script":"b.js"},
    {"name":"noscript"}],"deploy":{"production":{}}})");
  REQUIRE(got.errors.empty());
  CHECK(got.yaml.find("  my-app-:\n") != std::string::npos);
  CHECK(got.yaml.find("  my-app--2:\n") != std::string::npos);
  CHECK(got.yaml.find("noscript") == std::string::npos);
  CHECK(got.yaml.find("    restart: on-failure\n") != std::string::npos);
  const Strings want = {
      "deploy: not supported: clusterd runs what is on the machine and deploys nothing: keep "
      "your deploy tool, and run clusterctl reload after it",
      "my-app-.name: approximated: 'my app!' is not a clusterd app name, or is taken: my-app-",
      "my-app--2.name: approximated: 'my app!' is not a clusterd app name, or is taken: my-app--2",
      "my-app-.vizion: not supported: PM2's record of the app's version control: clusterd keeps "
      "none",
      "my-app-.namespace: not supported: clusterd has no namespaces: an app is named in apps:",
      "my-app-.frobnicate: not supported: not a PM2 ecosystem key this import knows",
      "my-app-.cron_restart: not supported: '*/5 * * * * *': expected 5 fields after the time "
      "zone (minute hour day-of-month month day-of-week), got 6 (a leading seconds field, which "
      "PM2 allows, is not supported)",
      "my-app-.max_memory_restart: not supported: expected a size of at least 1M, got 'lots'",
      "my-app-.watch: not supported: expected true, false, a path or a list of paths",
      "my-app-.stop_exit_codes: mapped to restart: on-failure (an exit with 0 stays stopped)",
      "noscript.script: not supported: missing: this app has nothing to run",
  };
  for (const std::string& note : want) {
    INFO(note);
    CHECK(std::find(got.notes.begin(), got.notes.end(), note) != got.notes.end());
  }
  parses(got.yaml);
}

TEST_CASE("import: what is not an ecosystem file is an error, bounded", "[pm2]") {
  CHECK(import("42").errors ==
        Strings{"expected an ecosystem file: {apps: [...]}, a list of apps, or one app"});
  CHECK(import(R"({"apps":[]})").errors == Strings{"no app to import"});
  CHECK(import(R"({"apps":"web"})").errors == Strings{"apps: expected a list of apps"});
  CHECK(import(R"({"apps":[1]})").errors == Strings{"apps[0]: expected an app (a map)"});
  CHECK(import("{\"apps\": [").errors.size() == 1);
  CHECK(import(std::string(2 << 20, ' ')).errors ==
        Strings{"ecosystem.config.js: larger than 1 MiB"});
  // An alias bomb: refused before it expands.
  const std::string bomb = R"(a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h]
j: &j [*i, *i, *i, *i, *i]
k: &k [*j, *j, *j, *j, *j]
)";
  const Strings errors = import(bomb + "apps: [*k]\n").errors;
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("the document expands to more than 100000 nodes") != std::string::npos);
}
