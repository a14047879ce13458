// Unit tests of the config keys a PM2 user reaches for: `instances: max | -1`, `env_NAME:` and
// `--env`, `restart_schedule`, `watch`, `ready: listen`, `min_ready`; and what an unknown key is
// told (a near miss, PM2's name for a key).
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "config/check.h"
#include "config_test_helpers.h"

namespace cfg = clusterd::config;
using namespace clusterd::test;
using Strings = std::vector<std::string>;

namespace {

std::vector<std::string> errors_in(const std::string& yaml, const std::string& environment) {
  std::vector<std::string> out;
  for (const cfg::ConfigError& e : cfg::parse_config(yaml, "t.yaml", environment).errors) {
    out.push_back(e.to_string());
  }
  return out;
}

cfg::AppSpec app_in(const std::string& yaml, const std::string& environment) {
  cfg::ParseResult r = cfg::parse_config(yaml, "t.yaml", environment);
  INFO(joined(errors_in(yaml, environment)));
  REQUIRE(r.config);
  REQUIRE(r.config->apps.size() == 1);
  CHECK(r.config->environment == environment);
  return r.config->apps[0];
}

}  // namespace

TEST_CASE("instances: max and -1 are derived from the CPUs; 0 and -2 are refused", "[config]") {
  const cfg::AppSpec max = only_app(app_with("    instances: max\n"));
  CHECK_FALSE(max.instances.count);
  CHECK(max.instances.cpus == cfg::Instances::Cpus::Max);
  CHECK(only_app(app_with("    instances: \"max\"\n")).instances.cpus == cfg::Instances::Cpus::Max);
  CHECK(only_app(app_with("    instances: -1\n")).instances.cpus ==
        cfg::Instances::Cpus::AllButOne);
  CHECK(only_app(app_with("    instances: auto\n")).instances.cpus == cfg::Instances::Cpus::Auto);
  CHECK(errors_of(app_with("    instances: 0\n")) ==
        Strings{"t.yaml:4:16: apps.web.instances: expected auto, max, -1 or an integer from 1 to "
                "65536, got '0' (PM2's 0 is every CPU: write max)"});
  CHECK(errors_of(app_with("    instances: -2\n")) ==
        Strings{"t.yaml:4:16: apps.web.instances: expected auto, max, -1 or an integer from 1 to "
                "65536, got '-2' (of the CPUs less some, only -1 is taken)"});
  CHECK(errors_of(app_with("    instances: -1\n    auto_follow: 5s\n")) ==
        Strings{"t.yaml:5:18: apps.web.auto_follow: follows the CPU limit for instances: auto or "
                "max only; instances is -1"});
  CHECK(only_app(app_with("    instances: max\n    auto_follow: 5s\n")).auto_follow);
}

TEST_CASE("env_NAME: merged over env for clusterd --env NAME, checked either way", "[config]") {
  const std::string yaml = app_with(
      "    env: { NODE_ENV: development, PORT: \"3000\", DEBUG: \"1\" }\n"
      "    env_production: { NODE_ENV: production, PORT: \"8080\", SENTRY: on }\n"
      "    env_staging: { NODE_ENV: staging }\n");
  const cfg::AppSpec plain = app_in(yaml, "");
  using Env = std::vector<std::pair<std::string, std::string>>;
  CHECK(plain.env == Env{{"NODE_ENV", "development"}, {"PORT", "3000"}, {"DEBUG", "1"}});
  CHECK(plain.environments == Strings{"production", "staging"});
  const cfg::AppSpec production = app_in(yaml, "production");
  CHECK(production.env ==
        Env{{"NODE_ENV", "production"}, {"PORT", "8080"}, {"DEBUG", "1"}, {"SENTRY", "on"}});
  REQUIRE(production.env_at.size() == 4);
  CHECK(production.env_at[0].line == 5);  // where the value in force was written
  CHECK(production.env_at[2].line == 4);
  // The section may come before env: the result is the same.
  const cfg::AppSpec before = app_in(
      app_with("    env_production: { PORT: \"8080\" }\n    env: { PORT: \"3000\", A: b }\n"),
      "production");
  CHECK(before.env == Env{{"PORT", "8080"}, {"A", "b"}});
  // Another environment's mistakes are still mistakes.
  CHECK(errors_in(app_with("    env_staging: { \"A=B\": x }\n"), "") ==
        Strings{"t.yaml:4:20: apps.web.env_staging.A=B: invalid environment variable name; "
                "expected non-empty, without '='"});
  CHECK(errors_in(app_with("    env_staging: [a]\n"), "") ==
        Strings{"t.yaml:4:18: apps.web.env_staging: expected a map"});
  CHECK(errors_in(app_with("    env_: {}\n"), "") ==
        Strings{"t.yaml:4:5: apps.web.env_: unknown key; did you mean env?"});
}

TEST_CASE("config: --env NAME that no app has is an error naming the ones there are", "[config]") {
  const std::string yaml = app_with("    env_production: { A: b }\n");
  CHECK(errors_in(yaml, "prodution") ==
        Strings{"t.yaml: --env prodution: no app has env_prodution; the apps have env_production"});
  CHECK(errors_in(app_with(""), "production") ==
        Strings{"t.yaml: --env production: no app has env_production; no app has an env_NAME "
                "section"});
  CHECK(
      errors_in(yaml, "a b") ==
      Strings{"t.yaml: --env 'a b': expected 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'"});
  // Of two apps, one with the environment is enough: the other keeps its env.
  const cfg::Config two = parse_ok(
      "apps:\n  a:\n    command: x\n    env_production: { A: p }\n  b:\n    command: y\n"
      "    env: { B: base }\n");
  CHECK(cfg::parse_config(*two.text, "t.yaml", "production").errors.empty());
}

TEST_CASE("restart_schedule: cron with its time zone, errors at the value", "[config]") {
  const cfg::AppSpec app =
      only_app(app_with("    restart_schedule: \"TZ=Europe/Paris 0 3 * * *\"\n"));
  REQUIRE(app.restart_schedule);
  CHECK(app.restart_schedule->zone == "Europe/Paris");
  CHECK(app.restart_schedule->hours.count() == 1);
  CHECK(app.restart_schedule_at.line == 4);
  CHECK(errors_of(app_with("    restart_schedule: \"0 3 * * *\"\n")) ==
        Strings{"t.yaml:4:23: apps.web.restart_schedule: expected the time zone first: TZ=UTC 0 3 "
                "* * *, TZ=Europe/Paris 0 3 * * *, or TZ=local for the machine's"});
  CHECK(errors_of(app_with("    restart_schedule: \"TZ=UTC 0 25 * * *\"\n")) ==
        Strings{"t.yaml:4:23: apps.web.restart_schedule: hour: '25' is out of range 0-23"});
}

TEST_CASE("watch: true, a list of paths, or paths with ignore globs and a debounce", "[config]") {
  const cfg::AppSpec yes = only_app(app_with("    watch: true\n"));
  REQUIRE(yes.watch);
  CHECK(yes.watch->paths == Strings{"."});
  CHECK(yes.watch->debounce == std::chrono::seconds(1));
  CHECK_FALSE(only_app(app_with("    watch: false\n")).watch);
  CHECK(only_app(app_with("    watch: [src, config]\n")).watch->paths == Strings{"src", "config"});
  const cfg::AppSpec full = only_app(app_with(
      "    watch: { paths: [src], ignore: [\"*.log\", node_modules], debounce: 250ms }\n"));
  CHECK(full.watch->paths == Strings{"src"});
  CHECK(full.watch->ignore == Strings{"*.log", "node_modules"});
  CHECK(full.watch->debounce == std::chrono::milliseconds(250));
  CHECK(only_app(app_with("    watch: { ignore: [\"*.tmp\"] }\n")).watch->paths == Strings{"."});
  CHECK(errors_of(app_with("    watch: []\n")) ==
        Strings{"t.yaml:4:12: apps.web.watch: expected at least one path to watch"});
  CHECK(errors_of(app_with("    watch: { paths: [], delay: 1s }\n")) ==
        Strings{"t.yaml:4:12: apps.web.watch: expected at least one path to watch",
                "t.yaml:4:25: apps.web.watch.delay: unknown key; expected one of paths, ignore, "
                "debounce"});
  CHECK(errors_of(app_with("    watch: yes\n")) ==
        Strings{"t.yaml:4:12: apps.web.watch: expected a map"});
}

TEST_CASE("ready: listen needs adopt; min_ready is a duration for every ready mode", "[config]") {
  CHECK(errors_of(app_with("    ready: listen\n")) ==
        Strings{"t.yaml:4:12: apps.web.ready: ready: listen waits for the worker's listen() to be "
                "adopted: it needs adopt: all on the app or adopt: true on a listener (else use "
                "exec, with min_ready)"});
  CHECK(only_app(app_with("    min_ready: 3s\n")).min_ready == std::chrono::seconds(3));
  CHECK(only_app(app_with("    ready: notify\n    min_ready: 0\n")).min_ready ==
        std::chrono::milliseconds(0));
  CHECK(errors_of(app_with("    min_ready: soon\n")).size() == 1);
}

TEST_CASE("without ready:, an adopting app waits for listen(), any other for exec", "[config]") {
  const cfg::AppSpec all = only_app(app_with("    adopt: all\n"));
  CHECK(all.ready == cfg::ReadyMode::Listen);
  CHECK(all.min_ready == std::chrono::milliseconds(0));
  const cfg::AppSpec listener =
      only_app(app_with("    listen: { http: { address: \"127.0.0.1:8080\", adopt: true } }\n"));
  CHECK(listener.ready == cfg::ReadyMode::Listen);
  const cfg::AppSpec plain = only_app(app_with(""));
  CHECK(plain.ready == cfg::ReadyMode::Exec);
  CHECK(plain.min_ready == cfg::kDefaultExecMinReady);
  // Said is said: an adopting app told `ready: exec` gets exec, and its min_ready default.
  const cfg::AppSpec told = only_app(app_with("    adopt: all\n    ready: exec\n"));
  CHECK(told.ready == cfg::ReadyMode::Exec);
  CHECK(told.min_ready == cfg::kDefaultExecMinReady);
}

TEST_CASE("an unknown key gets its near miss, or PM2's name for it, or the list", "[config]") {
  CHECK(errors_of(app_with("    comand: y\n")) ==
        Strings{"t.yaml:4:5: apps.web.comand: unknown key; did you mean command?"});
  CHECK(errors_of(app_with("    max_memory_restart: 300M\n")) ==
        Strings{"t.yaml:4:5: apps.web.max_memory_restart: unknown key; did you mean max_memory? "
                "(PM2's name)"});
  CHECK(errors_of(app_with("    script: app.js\n")) ==
        Strings{"t.yaml:4:5: apps.web.script: unknown key; PM2's script: clusterd runs command: "
                "[interpreter, script, args...] (clusterctl import FILE converts an ecosystem "
                "file)"});
  CHECK(errors_of(app_with("    exec_mode: cluster\n")) ==
        Strings{"t.yaml:4:5: apps.web.exec_mode: unknown key; PM2's exec_mode: cluster mode is "
                "adopt: all (the ports the workers bind are the master's shared sockets); fork "
                "mode is the default"});
  CHECK(errors_of(app_with("    autorestart: false\n")) ==
        Strings{"t.yaml:4:5: apps.web.autorestart: unknown key; did you mean restart? (PM2's "
                "autorestart: true is restart: always, false is restart: never)"});
  CHECK(errors_of(app_with("    kill_timeout: 5000\n")) ==
        Strings{"t.yaml:4:5: apps.web.kill_timeout: unknown key; did you mean stop_timeout? (PM2's "
                "name)"});
  CHECK(errors_of(app_with("    cron_restart: \"0 3 * * *\"\n")) ==
        Strings{"t.yaml:4:5: apps.web.cron_restart: unknown key; did you mean restart_schedule? "
                "(PM2's name; write the time zone: TZ=UTC 0 3 * * *)"});
  CHECK(errors_of("deploy: {}\n" + app_with("")) ==
        Strings{"t.yaml:1:1: deploy: unknown key; PM2's deploy section: clusterd runs what is on "
                "the machine and deploys nothing"});
  CHECK(errors_of("app:\n  web:\n    command: x\n") ==
        Strings{"t.yaml:1:1: app: unknown key; did you mean apps?",
                "t.yaml:1:1: apps: required key is missing"});
  CHECK(errors_of("control: { sock: /x }\n" + app_with("")) ==
        Strings{"t.yaml:1:12: control.sock: unknown key; did you mean socket?"});
  CHECK(errors_of(app_with("    frobnicate: 1\n"))[0].starts_with(
      "t.yaml:4:5: apps.web.frobnicate: unknown key; expected one of command, instances, "));
  // PM2's names are hints in an app only.
  CHECK(errors_of("control: { script: /x }\n" + app_with("")) ==
        Strings{"t.yaml:1:12: control.script: unknown key; expected one of socket, group, read, "
                "admin, max_clients, idle_timeout"});
}

TEST_CASE("apps: a PM2 list of apps is named as such", "[config]") {
  CHECK(errors_of("apps:\n  - name: web\n    script: app.js\n") ==
        Strings{"t.yaml:2:3: apps: expected a map of app name -> app, got a sequence (a PM2 "
                "ecosystem file? clusterctl import FILE converts one)"});
}

TEST_CASE("config: --check: restart_schedule's zone is in the tz database, watch's paths exist",
          "[config]") {
  const cfg::Config c = parse_ok(
      "apps:\n  a:\n    command: /bin/sh\n    restart_schedule: \"TZ=Mars/Olympus 0 3 * * *\"\n"
      "    watch: [/nonexistent-watch-path, /tmp]\n"
      "  b:\n    command: /bin/sh\n    restart_schedule: \"TZ=Europe/Paris 0 3 * * *\"\n"
      "  c:\n    command: /bin/sh\n    restart_schedule: \"TZ=local @daily\"\n");
  std::vector<std::string> errors;
  for (const cfg::ConfigError& e : cfg::check_environment(c, false))
    errors.push_back(e.to_string());
  CHECK(errors ==
        Strings{"t.yaml:4:23: apps.a.restart_schedule: time zone 'Mars/Olympus' is not in the time "
                "zone database (/usr/share/zoneinfo)",
                "t.yaml:5:12: apps.a.watch: '/nonexistent-watch-path' does not exist"});
}
