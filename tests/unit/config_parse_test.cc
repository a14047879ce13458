// Unit tests of config::parse_config / load_config: every accepted form, defaults, and the exact
// text (file:line:col: key: message) of the errors for malformed configs.
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "config/parse.h"
#include "config/values.h"
#include "config_test_helpers.h"

namespace cfg = clusterd::config;
using namespace std::chrono_literals;
using namespace clusterd::test;

TEST_CASE("ConfigError::to_string formats file, position and key", "[config]") {
  CHECK(cfg::ConfigError{"a.yaml", {3, 7}, "apps.web", "boom"}.to_string() ==
        "a.yaml:3:7: apps.web: boom");
  CHECK(cfg::ConfigError{"a.yaml", {3, 7}, "", "boom"}.to_string() == "a.yaml:3:7: boom");
  CHECK(cfg::ConfigError{"a.yaml", {0, 0}, "apps", "boom"}.to_string() == "a.yaml: apps: boom");
  CHECK(cfg::ConfigError{"a.yaml", {0, 0}, "", "boom"}.to_string() == "a.yaml: boom");
}

TEST_CASE("a minimal app gets every default", "[config]") {
  cfg::Config c = parse_ok("apps:\n  web:\n    command: [./w]\n");
  CHECK(c.path == "t.yaml");
  CHECK(c.control.socket.empty());
  CHECK(c.control.group.empty());
  REQUIRE(c.apps.size() == 1);
  const cfg::AppSpec& a = c.apps[0];
  CHECK(a.name == "web");
  CHECK(a.command == std::vector<std::string>{"./w"});
  CHECK_FALSE(a.instances.count.has_value());
  CHECK(a.cpu_affinity == cfg::CpuAffinity::None);
  CHECK(a.listeners.empty());
  CHECK(a.ready == cfg::ReadyMode::Exec);
  CHECK(a.ready_timeout == 10s);
  CHECK(a.stop_signal == SIGTERM);
  CHECK(a.stop_timeout == 10s);
  CHECK(a.restart == cfg::RestartPolicy::Always);
  CHECK(a.min_uptime == 1s);
  CHECK(a.max_restarts == 10);
  CHECK(a.restart_window == 60s);
  CHECK(a.backoff_initial == 100ms);
  CHECK(a.backoff_max == 30s);
  CHECK(a.env.empty());
  CHECK(a.cwd.empty());
  CHECK(a.user.empty());
  CHECK(a.group.empty());
  CHECK_FALSE(a.nofile.has_value());
  CHECK(a.rollout.batch == 1);
  CHECK(a.rollout.canary_time == 0ms);
  CHECK_FALSE(a.watchdog.has_value());
  CHECK_FALSE(a.max_memory.has_value());
  CHECK(a.memory_check_interval == 5s);
  CHECK(c.control.max_clients == 64);
  CHECK(c.control.idle_timeout == 30s);
  CHECK(a.at.line == 2);
  CHECK(a.at.column == 3);
  CHECK(a.command_at.line == 3);
  CHECK(a.command_at.column == 14);
}

TEST_CASE("every key set explicitly", "[config]") {
  cfg::Config c = parse_ok(R"(control:
  socket: /run/x.sock
  group: wheel
  max_clients: 8
  idle_timeout: 2m
apps:
  web:
    command: ["/bin/w", "--threads", "1"]
    instances: 4
    cpu_affinity: per-worker
    listen:
      http: { address: "127.0.0.1:8080", mode: reuseport, backlog: 128 }
      admin: "unix:/run/admin.sock"
      raw: { address: "[::1]:9000", mode: worker }
    ready: notify
    ready_timeout: 250ms
    stop_signal: SIGQUIT
    stop_timeout: 2m
    restart: on-failure
    min_uptime: 0
    max_restarts: 0
    restart_window: 1h
    backoff: { initial: 1s, max: 1s }
    env: { GOMAXPROCS: 1, DEBUG: true, NAME: "a b", EMPTY: "" }
    cwd: /srv/web
    user: www-data
    group: www-data
    limits: { nofile: 65536 }
    rollout: { batch: 3, canary_time: 30s }
    watchdog: 20s
    max_memory: 512M
    memory_check_interval: 1s
  worker.two:
    command: "python3 -m app   --port=1"
    restart: never
)");
  CHECK(c.control.socket == "/run/x.sock");
  CHECK(c.control.group == "wheel");
  CHECK(c.control.socket_at.line == 2);
  CHECK(c.control.socket_at.column == 11);
  CHECK(c.control.group_at.line == 3);
  CHECK(c.control.max_clients == 8);
  CHECK(c.control.idle_timeout == 2min);
  REQUIRE(c.apps.size() == 2);
  const cfg::AppSpec& a = c.apps[0];
  CHECK(a.command == std::vector<std::string>{"/bin/w", "--threads", "1"});
  CHECK(a.instances.count == 4u);
  CHECK(a.cpu_affinity == cfg::CpuAffinity::PerWorker);
  REQUIRE(a.listeners.size() == 3);
  CHECK(a.listeners[0].name == "http");
  CHECK(a.listeners[0].address.family == cfg::Address::Family::Ipv4);
  CHECK(a.listeners[0].address.host == "127.0.0.1");
  CHECK(a.listeners[0].address.port == 8080);
  CHECK(a.listeners[0].address.text == "127.0.0.1:8080");
  CHECK(a.listeners[0].mode == cfg::ListenMode::ReusePort);
  CHECK(a.listeners[0].backlog == 128);
  CHECK(a.listeners[0].at.line == 12);
  CHECK(a.listeners[0].at.column == 24);
  CHECK(a.listeners[1].name == "admin");
  CHECK(a.listeners[1].address.family == cfg::Address::Family::Unix);
  CHECK(a.listeners[1].address.path == "/run/admin.sock");
  CHECK(a.listeners[1].mode == cfg::ListenMode::Shared);
  CHECK(a.listeners[1].backlog == 4096);
  CHECK(a.listeners[1].at.line == 13);
  CHECK(a.listeners[1].at.column == 14);
  CHECK(a.listeners[2].address.family == cfg::Address::Family::Ipv6);
  CHECK(a.listeners[2].address.host == "::1");
  CHECK(a.listeners[2].address.port == 9000);
  CHECK(a.listeners[2].mode == cfg::ListenMode::Worker);
  CHECK(a.ready == cfg::ReadyMode::Notify);
  CHECK(a.ready_timeout == 250ms);
  CHECK(a.stop_signal == SIGQUIT);
  CHECK(a.stop_timeout == 2min);
  CHECK(a.restart == cfg::RestartPolicy::OnFailure);
  CHECK(a.min_uptime == 0ms);
  CHECK(a.max_restarts == 0);
  CHECK(a.restart_window == 1h);
  CHECK(a.backoff_initial == 1s);
  CHECK(a.backoff_max == 1s);
  using Env = std::vector<std::pair<std::string, std::string>>;
  CHECK(a.env == Env{{"GOMAXPROCS", "1"}, {"DEBUG", "true"}, {"NAME", "a b"}, {"EMPTY", ""}});
  CHECK(a.cwd == "/srv/web");
  CHECK(a.cwd_at.line == 25);
  CHECK(a.user == "www-data");
  CHECK(a.user_at.line == 26);
  CHECK(a.group == "www-data");
  CHECK(a.group_at.line == 27);
  CHECK(a.nofile == std::uint64_t{65536});
  CHECK(a.rollout.batch == 3);
  CHECK(a.rollout.canary_time == 30s);
  CHECK(a.watchdog == cfg::Duration(20s));
  CHECK(a.max_memory == std::uint64_t{512} << 20);
  CHECK(a.memory_check_interval == 1s);
  const cfg::AppSpec& b = c.apps[1];
  CHECK(b.name == "worker.two");
  CHECK(b.command == std::vector<std::string>{"python3", "-m", "app", "--port=1"});
  CHECK(b.restart == cfg::RestartPolicy::Never);
}

TEST_CASE("command as a list and as a string, instances", "[config]") {
  CHECK(only_app("apps:\n  a:\n    command: [\"prog\", \"\", \"x y\"]\n").command ==
        std::vector<std::string>{"prog", "", "x y"});
  CHECK(only_app("apps:\n  a:\n    command:\n      - prog\n      - --flag\n").command ==
        std::vector<std::string>{"prog", "--flag"});
  CHECK(only_app("apps:\n  a:\n    command: \" prog\\targ  \"\n").command ==
        std::vector<std::string>{"prog", "arg"});
  CHECK(only_app("apps:\n  a:\n    command: sh -c 'echo hi'\n").command ==
        std::vector<std::string>{"sh", "-c", "'echo", "hi'"});
  CHECK(only_app(app_with("    instances: auto\n")).instances.count == std::nullopt);
  CHECK(only_app(app_with("    instances: 1\n")).instances.count == 1u);
  CHECK(only_app(app_with("    instances: 65536\n")).instances.count == 65536u);
  CHECK(only_app(app_with("    max_restarts: 1000000\n")).max_restarts == 1000000u);
  CHECK(only_app(app_with("    limits: { nofile: 1073741824 }\n")).nofile == std::uint64_t{1}
                                                                                 << 30);
  CHECK(only_app(app_with("    listen: {}\n    env: {}\n")).listeners.empty());
}

TEST_CASE("the same port is fine across families, port 0 and distinct hosts", "[config]") {
  cfg::Config c = parse_ok(R"(apps:
  a:
    command: x
    listen:
      one: "127.0.0.1:80"
      two: "127.0.0.2:80"
      three: "[::1]:80"
      four: "127.0.0.1:0"
      five: "0.0.0.0:0"
      six: "127.0.0.1:81"
  b:
    command: x
    listen:
      one: "127.0.0.1:0"
      two: "unix:/run/b.sock"
      three: "unix:/run/c.sock"
)");
  CHECK(c.apps[0].listeners.size() == 6);
  CHECK(c.apps[1].listeners.size() == 3);
}

TEST_CASE("malformed configs: one exact error each", "[config]") {
  struct Case {
    std::string yaml;
    std::string want;
  };
  const std::string kAppKeys =
      "command, instances, cpu_affinity, listen, ready, ready_timeout, min_ready, stop_signal, "
      "stop_timeout, restart, min_uptime, max_restarts, restart_window, backoff, env, cwd, user, "
      "group, limits, rollout, watchdog, max_memory, memory_check_interval, inherit_env, logs, "
      "auto_follow, memory_max, cpu_weight, pids_max, umask, restart_schedule, watch, adopt";
  const std::string kDur = "expected a duration such as 250ms, 10s or 2m, got ";
  std::vector<Case> cases = {
      // The document and apps.
      {"", "t.yaml:1:1: apps: required key is missing"},
      {"# nothing\n", "t.yaml:1:1: apps: required key is missing"},
      {"control: {socket: /x}\n", "t.yaml:1:1: apps: required key is missing"},
      {"- apps\n", "t.yaml:1:1: expected a map"},
      {"apps: {}\n", "t.yaml:1:7: apps: expected at least one app"},
      {"apps: [web]\n",
       "t.yaml:1:7: apps: expected a map of app name -> app, got a sequence (a PM2 ecosystem file? "
       "clusterctl import FILE converts one)"},
      {"apps:\n", "t.yaml:1:1: apps: expected a map"},
      {"apps:\n  web:\n", "t.yaml:2:3: apps.web: expected a map"},
      {"apps:\n  web/1:\n    command: x\n",
       "t.yaml:2:3: apps.web/1: invalid app name; expected 1 to 64 characters of A-Z, a-z, 0-9, "
       "'_', '.', '-'"},
      {"apps:\n  " + std::string(65, 'a') + ":\n    command: x\n",
       "t.yaml:2:3: apps." + std::string(65, 'a') +
           ": invalid app name; expected 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'"},
      {"apps:\n  web:\n    command: x\n    comand: y\n",
       "t.yaml:4:5: apps.web.comand: unknown key; did you mean command?"},
      {"apps:\n  web:\n    command: x\n    bogus: y\n",
       "t.yaml:4:5: apps.web.bogus: unknown key; expected one of " + kAppKeys},
      {"control: {sock: x}\napps:\n  web:\n    command: x\n",
       "t.yaml:1:11: control.sock: unknown key; did you mean socket?"},
      {"control: {socket: \"\"}\napps:\n  web:\n    command: x\n",
       "t.yaml:1:19: control.socket: expected a non-empty string"},
      {"apps:\n  web:\n    command: x\n    command: y\n",
       "t.yaml:4:5: apps.web.command: duplicate key; first defined at line 3"},
      {"apps:\n  web: {command: x}\n  web: {command: y}\n",
       "t.yaml:3:3: apps.web: duplicate key; first defined at line 2"},
      {"apps:\n  [a]: {command: x}\n", "t.yaml:2:3: apps: expected a string key"},
      // Syntax errors come straight from the YAML parser.
      {"apps: [1, 2\n", "t.yaml:2:1: end of sequence flow not found"},
      {"apps:\n  web: x: y\n", "t.yaml:2:9: illegal map value"},
      {"apps: *nope\n", "t.yaml:1:7: the referenced anchor is not defined"},
      {"apps: " + std::string(3000, '[') + std::string(3000, ']') + "\n",
       "t.yaml:1:6007: the document is nested too deeply"},
      {app_with("---\napps: {}\n"), "t.yaml:5:1: expected a single YAML document, found 2"},
      // command
      {"apps:\n  web:\n    instances: 2\n",
       "t.yaml:2:3: apps.web.command: required key is missing"},
      {"apps:\n  web:\n    command: []\n",
       "t.yaml:3:14: apps.web.command: expected a non-empty sequence of strings"},
      {"apps:\n  web:\n    command: \"  \"\n",
       "t.yaml:3:14: apps.web.command: expected a non-empty command"},
      {"apps:\n  web:\n    command: {a: b}\n",
       "t.yaml:3:14: apps.web.command: expected a sequence of strings or a string"},
      {"apps:\n  web:\n    command:\n",
       "t.yaml:3:5: apps.web.command: expected a sequence of strings or a string"},
      {"apps:\n  web:\n    command: [\"\", x]\n",
       "t.yaml:3:15: apps.web.command[0]: expected a non-empty string"},
      {"apps:\n  web:\n    command: [x, [y]]\n",
       "t.yaml:3:18: apps.web.command[1]: expected a string"},
      // instances, enums, integers
      {app_with("    instances: 0\n"),
       "t.yaml:4:16: apps.web.instances: expected auto, max, -1 or an integer from 1 to 65536, got "
       "'0' (PM2's 0 is every CPU: write max)"},
      {app_with("    instances: 65537\n"),
       "t.yaml:4:16: apps.web.instances: expected auto, max, -1 or an integer from 1 to 65536, got "
       "'65537'"},
      {app_with("    instances: Auto\n"),
       "t.yaml:4:16: apps.web.instances: expected auto, max, -1 or an integer from 1 to 65536, got "
       "'Auto'"},
      {app_with("    instances: [1]\n"),
       "t.yaml:4:16: apps.web.instances: expected auto, max, -1 or an integer from 1 to 65536"},
      {app_with("    cpu_affinity: all\n"),
       "t.yaml:4:19: apps.web.cpu_affinity: expected one of per-worker, none, got 'all'"},
      {app_with("    ready: ready\n"),
       "t.yaml:4:12: apps.web.ready: expected one of exec, notify, listen, fd, tcp, got 'ready'"},
      {app_with("    restart: sometimes\n"),
       "t.yaml:4:14: apps.web.restart: expected one of always, on-failure, never, got "
       "'sometimes'"},
      {app_with("    restart: {}\n"),
       "t.yaml:4:14: apps.web.restart: expected one of always, on-failure, never"},
      {app_with("    max_restarts: 1000001\n"),
       "t.yaml:4:19: apps.web.max_restarts: expected an integer from 0 to 1000000, got "
       "'1000001'"},
      {app_with("    max_restarts: -1\n"),
       "t.yaml:4:19: apps.web.max_restarts: expected an integer from 0 to 1000000, got '-1'"},
      {app_with("    max_restarts: 99999999999999999999999\n"),
       "t.yaml:4:19: apps.web.max_restarts: expected an integer from 0 to 1000000, got "
       "'99999999999999999999999'"},
      {app_with("    max_restarts: [1]\n"),
       "t.yaml:4:19: apps.web.max_restarts: expected an integer"},
      // durations and signals
      {app_with("    ready_timeout: 0\n"),
       "t.yaml:4:20: apps.web.ready_timeout: must be greater than 0"},
      {app_with("    stop_timeout: 0ms\n"),
       "t.yaml:4:19: apps.web.stop_timeout: must be greater than 0"},
      {app_with("    ready_timeout: 10\n"),
       "t.yaml:4:20: apps.web.ready_timeout: " + kDur + "'10'"},
      {app_with("    stop_timeout: 1.5s\n"),
       "t.yaml:4:19: apps.web.stop_timeout: " + kDur + "'1.5s'"},
      {app_with("    min_uptime: -1s\n"), "t.yaml:4:17: apps.web.min_uptime: " + kDur + "'-1s'"},
      {app_with("    restart_window: 10sec\n"),
       "t.yaml:4:21: apps.web.restart_window: " + kDur + "'10sec'"},
      {app_with("    restart_window: 1 s\n"),
       "t.yaml:4:21: apps.web.restart_window: " + kDur + "'1 s'"},
      {app_with("    min_uptime: ms\n"), "t.yaml:4:17: apps.web.min_uptime: " + kDur + "'ms'"},
      {app_with("    min_uptime: [1s]\n"),
       "t.yaml:4:17: apps.web.min_uptime: expected a duration such as 250ms, 10s or 2m"},
      {app_with("    stop_timeout: 1000h\n"),
       "t.yaml:4:19: apps.web.stop_timeout: expected a duration of at most 596h, got '1000h'"},
      {app_with("    stop_signal: term\n"),
       "t.yaml:4:18: apps.web.stop_signal: expected a signal name such as SIGTERM or TERM, got "
       "'term'"},
      {app_with("    stop_signal: SIGFOO\n"),
       "t.yaml:4:18: apps.web.stop_signal: expected a signal name such as SIGTERM or TERM, got "
       "'SIGFOO'"},
      {app_with("    stop_signal: 15\n"),
       "t.yaml:4:18: apps.web.stop_signal: expected a signal name such as SIGTERM or TERM, got "
       "'15'"},
      // backoff, env, limits, strings
      {app_with("    backoff: {initial: 0}\n"),
       "t.yaml:4:24: apps.web.backoff.initial: must be greater than 0"},
      {app_with("    backoff: {initial: 1m, max: 10s}\n"),
       "t.yaml:4:24: apps.web.backoff.initial: backoff.initial (1m) must not be greater than "
       "backoff.max (10s)"},
      {app_with("    backoff: {max: 50ms}\n"),
       "t.yaml:4:20: apps.web.backoff.max: backoff.initial (100ms) must not be greater than "
       "backoff.max (50ms)"},
      {app_with("    backoff: {min: 1s}\n"),
       "t.yaml:4:15: apps.web.backoff.min: unknown key; expected one of initial, max, jitter"},
      {app_with("    backoff: 5s\n"), "t.yaml:4:14: apps.web.backoff: expected a map"},
      {app_with("    backoff: {jitter: 2}\n"),
       "t.yaml:4:23: apps.web.backoff.jitter: must be from 0 to 1 (0% to 100%), got '2'"},
      {app_with("    backoff: {jitter: lots}\n"),
       "t.yaml:4:23: apps.web.backoff.jitter: expected a fraction from 0 to 1, such as 0.2 or "
       "20%"},
      {app_with("    logs: files\n"),
       "t.yaml:4:11: apps.web.logs: expected one of auto, journal, capture, inherit, got "
       "'files'"},
      {app_with("    logs: { mode: inherit, file: /tmp/x.log }\n"),
       "t.yaml:4:11: apps.web.logs: file, console, max_size, keep, line_max and ring need mode "
       "capture, journal or auto; inherit passes the bytes through untouched"},
      {app_with("    logs: { line_max: 10 }\n"),
       "t.yaml:4:23: apps.web.logs.line_max: must be from 80 bytes to 1M"},
      {app_with("    logs: { keep: -1 }\n"),
       "t.yaml:4:19: apps.web.logs.keep: expected an integer from 0 to 1000, got '-1'"},
      {app_with("    env: {A=B: x}\n"),
       "t.yaml:4:11: apps.web.env.A=B: invalid environment variable name; expected non-empty, "
       "without '='"},
      {app_with("    env: {A: [1]}\n"),
       "t.yaml:4:14: apps.web.env.A: expected a scalar value (write \"\" for an empty string)"},
      {app_with("    env:\n      A:\n"),
       "t.yaml:5:7: apps.web.env.A: expected a scalar value (write \"\" for an empty string)"},
      {app_with("    env: [A=1]\n"), "t.yaml:4:10: apps.web.env: expected a map"},
      {app_with("    limits: {nofile: 0}\n"),
       "t.yaml:4:22: apps.web.limits.nofile: expected an integer from 1 to 1073741824, got '0'"},
      {app_with("    limits: {files: 10}\n"),
       "t.yaml:4:14: apps.web.limits.files: unknown key; expected one of nofile"},
      {app_with("    cwd: \"\"\n"), "t.yaml:4:10: apps.web.cwd: expected a non-empty string"},
      {app_with("    user: [a]\n"), "t.yaml:4:11: apps.web.user: expected a string"},
      {app_with("    group:\n"), "t.yaml:4:5: apps.web.group: expected a string"},
      // listeners
      {app_with("    listen: [a]\n"), "t.yaml:4:13: apps.web.listen: expected a map"},
      {app_with("    listen:\n      http: localhost:80\n"),
       "t.yaml:5:13: apps.web.listen.http: expected a numeric address (hostnames are not "
       "resolved), got 'localhost'"},
      {app_with("    listen:\n      http: \"127.0.0.1:65536\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected a port from 0 to 65535, got '65536'"},
      {app_with("    listen:\n      http: \"127.0.0.1:http\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected a port from 0 to 65535, got 'http'"},
      {app_with("    listen:\n      http: \"127.0.0.1:\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected a port from 0 to 65535, got ''"},
      {app_with("    listen:\n      http: \"256.0.0.1:80\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected a numeric address (hostnames are not "
       "resolved), got '256.0.0.1'"},
      {app_with("    listen:\n      http: \"[::g]:80\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected a numeric address (hostnames are not "
       "resolved), got '::g'"},
      {app_with("    listen:\n      http: \"::1:80\"\n"),
       "t.yaml:5:13: apps.web.listen.http: IPv6 addresses must be written in brackets, e.g. "
       "[::1]:8080, got '::1:80'"},
      {app_with("    listen:\n      http: \"8080\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected HOST:PORT, [IPV6]:PORT or unix:PATH, got "
       "'8080'"},
      {app_with("    listen:\n      http: \":8080\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected HOST:PORT, [IPV6]:PORT or unix:PATH, got "
       "':8080'"},
      {app_with("    listen:\n      http: \"[::1]8080\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected HOST:PORT, [IPV6]:PORT or unix:PATH, got "
       "'[::1]8080'"},
      {app_with("    listen:\n      http: \"unix:\"\n"),
       "t.yaml:5:13: apps.web.listen.http: expected a socket path after 'unix:'"},
      {app_with("    listen:\n      http: \"unix:/" + std::string(107, 'a') + "\"\n"),
       "t.yaml:5:13: apps.web.listen.http: unix socket path is too long (108 bytes, at most 107)"},
      {app_with("    listen:\n      http: {address: \"unix:/tmp/a.sock\", mode: reuseport}\n"),
       "t.yaml:5:49: apps.web.listen.http.mode: reuseport does not work with unix sockets "
       "(SO_REUSEPORT does not balance them); use shared"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:80\", mode: reuse}\n"),
       "t.yaml:5:45: apps.web.listen.http.mode: expected one of shared, reuseport, worker, got "
       "'reuse'"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:80\", backlog: 0}\n"),
       "t.yaml:5:48: apps.web.listen.http.backlog: expected an integer from 1 to 65535, got '0'"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:80\", port: 80}\n"),
       "t.yaml:5:39: apps.web.listen.http.port: unknown key; expected one of address, mode, "
       "adopt, backlog, socket_mode, socket_user, socket_group, port_per_worker, port_env"},
      {app_with("    listen:\n      http: {mode: shared}\n"),
       "t.yaml:5:7: apps.web.listen.http.address: required key is missing"},
      {app_with("    listen:\n      http: {address: [a]}\n"),
       "t.yaml:5:23: apps.web.listen.http.address: expected a string"},
      {app_with("    listen:\n      http:\n"), "t.yaml:5:7: apps.web.listen.http: expected a map"},
      {app_with("    listen:\n      http/2: \"127.0.0.1:80\"\n"),
       "t.yaml:5:7: apps.web.listen.http/2: invalid listener name; expected 1 to 255 characters "
       "of A-Z, a-z, 0-9, '_', '-'"},
      {app_with(
           "    listen:\n      http-api: \"127.0.0.1:80\"\n      HTTP_API: \"127.0.0.1:81\"\n"),
       "t.yaml:6:7: apps.web.listen.HTTP_API: listener name clashes with 'http-api' (both become "
       "CLUSTER_LISTEN_HTTP_API)"},
      {app_with("    listen:\n      http: \"127.0.0.1:80\"\n      http: \"127.0.0.1:81\"\n"),
       "t.yaml:6:7: apps.web.listen.http: duplicate key; first defined at line 5"},
  };
  REQUIRE(cases.size() >= 30);
  for (const Case& c : cases) {
    INFO("yaml:\n" << c.yaml);
    std::vector<std::string> got = errors_of(c.yaml);
    CHECK(joined(got) == c.want + "\n");
  }
}

TEST_CASE("all errors of a document are reported, in document order", "[config]") {
  std::vector<std::string> got = errors_of(R"(app:
  web: {}
apps:
  web:
    instances: zero
    ready: maybe
    listen:
      http: "localhost:80"
  api:
    command: ./api
    stop_timeout: 5
    comand: x
)");
  std::vector<std::string> want = {
      "t.yaml:1:1: app: unknown key; did you mean apps?",
      "t.yaml:4:3: apps.web.command: required key is missing",
      "t.yaml:5:16: apps.web.instances: expected auto, max, -1 or an integer from 1 to 65536, got "
      "'zero'",
      "t.yaml:6:12: apps.web.ready: expected one of exec, notify, listen, fd, tcp, got 'maybe'",
      "t.yaml:8:13: apps.web.listen.http: expected a numeric address (hostnames are not "
      "resolved), got 'localhost'",
      "t.yaml:11:19: apps.api.stop_timeout: expected a duration such as 250ms, 10s or 2m, got '5'",
      "t.yaml:12:5: apps.api.comand: unknown key; did you mean command?",
  };
  CHECK(joined(got) == joined(want));
  CHECK_FALSE(cfg::parse_config("app: {}\n", "t.yaml").config.has_value());
  CHECK(errors_of("app: {}\n") ==
        std::vector<std::string>{"t.yaml:1:1: app: unknown key; did you mean apps?",
                                 "t.yaml:1:1: apps: required key is missing"});
}

TEST_CASE("duplicate keys in every kind of map", "[config]") {
  std::vector<std::string> got = errors_of(R"(control:
  socket: /a
  socket: /b
apps:
  web:
    command: x
    env:
      A: 1
      A: 2
    backoff: {initial: 1s, initial: 2s}
    limits: {nofile: 100, nofile: 200}
)");
  std::vector<std::string> want = {
      "t.yaml:3:3: control.socket: duplicate key; first defined at line 2",
      "t.yaml:9:7: apps.web.env.A: duplicate key; first defined at line 8",
      "t.yaml:10:28: apps.web.backoff.initial: duplicate key; first defined at line 10",
      "t.yaml:11:27: apps.web.limits.nofile: duplicate key; first defined at line 11",
  };
  CHECK(joined(got) == joined(want));
}

TEST_CASE("listeners may not share an address anywhere in the file", "[config]") {
  std::vector<std::string> got = errors_of(R"(apps:
  web:
    command: x
    listen:
      http: "127.0.0.1:8080"
      any4: "0.0.0.0:9000"
      any6: "[::]:9100"
      sock: "unix:/run/web.sock"
      eph: "127.0.0.1:0"
  api:
    command: x
    listen:
      http: { address: "127.0.0.1:8080", mode: reuseport }
      other: "10.0.0.1:9000"
      v6: "[::1]:9100"
      v4: "127.0.0.1:9100"
      sock: "unix:/run/../run/web.sock"
      eph: "127.0.0.1:0"
      dup: "[0::1]:9100"
)");
  std::vector<std::string> want = {
      "t.yaml:13:24: apps.api.listen.http.address: 127.0.0.1:8080 is already used by "
      "apps.web.listen.http at line 5",
      "t.yaml:14:14: apps.api.listen.other: 10.0.0.1:9000 overlaps 0.0.0.0:9000 of "
      "apps.web.listen.any4 at line 6",
      "t.yaml:15:11: apps.api.listen.v6: [::1]:9100 overlaps [::]:9100 of apps.web.listen.any6 at "
      "line 7",
      "t.yaml:17:13: apps.api.listen.sock: unix:/run/../run/web.sock overlaps unix:/run/web.sock "
      "of apps.web.listen.sock at line 8",
      "t.yaml:19:12: apps.api.listen.dup: [0::1]:9100 overlaps [::]:9100 of apps.web.listen.any6 "
      "at line 7",
  };
  CHECK(joined(got) == joined(want));
}

TEST_CASE("load_config reads files and reports unreadable ones", "[config]") {
  cfg::ParseResult missing = cfg::load_config("/nonexistent/clusterd.yaml");
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].to_string() ==
        "/nonexistent/clusterd.yaml: cannot read: No such file or directory");
  CHECK_FALSE(missing.config.has_value());

  cfg::ParseResult dir = cfg::load_config("/");
  REQUIRE(dir.errors.size() == 1);
  CHECK(dir.errors[0].to_string() == "/: not a regular file");

  char path[] = "/tmp/cfgtest-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::FILE* f = fdopen(fd, "w");
  std::fputs("apps:\n  web:\n    command: x\n    ready: no\n", f);
  std::fclose(f);
  cfg::ParseResult bad = cfg::load_config(path);
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].to_string() == std::string(path) +
                                         ":4:12: apps.web.ready: expected one of exec, notify, "
                                         "listen, fd, tcp, got 'no'");
  std::remove(path);
}

TEST_CASE("the shipped example is valid", "[config]") {
  // The source tree's root, from this file's path (absolute under CMake; relative to the root
  // when compiled from there by hand).
  std::string self = __FILE__;
  std::string root =
      self.substr(0, self.size() - std::string("tests/unit/config_parse_test.cc").size());
  cfg::ParseResult r = cfg::load_config(root + "config/examples/demo.yaml");
  std::vector<std::string> errors;
  for (const auto& e : r.errors) errors.push_back(e.to_string());
  INFO(joined(errors));
  REQUIRE(r.config.has_value());
  const cfg::AppSpec& web = r.config->apps.at(0);
  CHECK(web.name == "web");
  CHECK_FALSE(web.instances.count.has_value());
  CHECK(web.command == std::vector<std::string>{"./build/worker/hello-worker"});
  CHECK(web.cpu_affinity == cfg::CpuAffinity::PerWorker);
  CHECK(web.ready == cfg::ReadyMode::Notify);
  REQUIRE(web.listeners.size() == 1);
  CHECK(web.listeners[0].name == "http");
  CHECK(web.listeners[0].mode == cfg::ListenMode::ReusePort);
  CHECK(web.listeners[0].address.text == "127.0.0.1:8080");
}
