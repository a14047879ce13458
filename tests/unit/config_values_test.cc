// Unit tests of the typed values of a config (durations, addresses, signals, sizes) and of the
// keys added with rollouts, the watchdog and memory limits: accepted forms and exact errors.
// Split from config_parse_test.cc to keep each file short.
#include <catch2/catch.hpp>
#include <csignal>
#include <string>
#include <vector>

#include "config/parse.h"
#include "config/values.h"

namespace cfg = clusterd::config;
using namespace std::chrono_literals;

namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string errors_of(const std::string& yaml) {
  std::vector<std::string> out;
  for (const cfg::ConfigError& e : cfg::parse_config(yaml, "t.yaml").errors) {
    out.push_back(e.to_string());
  }
  return joined(out);
}

// A one-app config whose app has `extra` (lines indented by 4) after `command: x`.
std::string app_with(const std::string& extra) { return "apps:\n  web:\n    command: x\n" + extra; }

cfg::AppSpec only_app(const std::string& yaml) {
  cfg::ParseResult r = cfg::parse_config(yaml, "t.yaml");
  std::vector<std::string> errors;
  for (const auto& e : r.errors) errors.push_back(e.to_string());
  INFO(yaml);
  INFO(joined(errors));
  REQUIRE(r.config.has_value());
  REQUIRE(r.config->apps.size() == 1);
  return r.config->apps[0];
}

}  // namespace

TEST_CASE("durations", "[config]") {
  struct Case {
    std::string text;
    cfg::Duration want;
  };
  std::vector<Case> cases = {{"0", 0ms},       {"0ms", 0ms},   {"0s", 0ms},  {"1ms", 1ms},
                             {"250ms", 250ms}, {"10s", 10s},   {"2m", 2min}, {"1h", 1h},
                             {"90s", 90s},     {"596h", 596h}, {"007s", 7s}};
  for (const Case& c : cases) {
    INFO(c.text);
    CHECK(only_app(app_with("    min_uptime: " + c.text + "\n")).min_uptime == c.want);
    CHECK(cfg::parse_duration(c.text).value == c.want);
  }
  CHECK(only_app(app_with("    ready_timeout: 1ms\n    stop_timeout: 3h\n")).stop_timeout == 3h);
  for (auto d : {0ms, 5ms, 1000ms, 60000ms, 3600000ms, 1500ms, 7200000ms}) {
    CHECK(cfg::parse_duration(cfg::format_duration(d)).value == d);
  }
  CHECK(cfg::format_duration(90s) == "90s");
  CHECK(cfg::format_duration(2h) == "2h");
  CHECK(cfg::format_duration(0ms) == "0");
}

TEST_CASE("addresses", "[config]") {
  using F = cfg::Address::Family;
  struct Case {
    std::string text;
    F family;
    std::string host;
    int port;
    std::string path;
  };
  std::vector<Case> cases = {
      {"127.0.0.1:8080", F::Ipv4, "127.0.0.1", 8080, ""},
      {"0.0.0.0:80", F::Ipv4, "0.0.0.0", 80, ""},
      {"10.1.2.3:0", F::Ipv4, "10.1.2.3", 0, ""},
      {"192.168.0.1:65535", F::Ipv4, "192.168.0.1", 65535, ""},
      {"[::1]:8080", F::Ipv6, "::1", 8080, ""},
      {"[::]:80", F::Ipv6, "::", 80, ""},
      {"[0:0:0:0:0:0:0:1]:81", F::Ipv6, "::1", 81, ""},
      {"[fe80::1:2]:443", F::Ipv6, "fe80::1:2", 443, ""},
      {"[::ffff:127.0.0.1]:82", F::Ipv6, "::ffff:127.0.0.1", 82, ""},
      {"unix:/run/app.sock", F::Unix, "", 0, "/run/app.sock"},
      {"unix:rel/app.sock", F::Unix, "", 0, "rel/app.sock"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    cfg::AppSpec a = only_app(app_with("    listen:\n      l: \"" + c.text + "\"\n"));
    REQUIRE(a.listeners.size() == 1);
    const cfg::Address& addr = a.listeners[0].address;
    CHECK(addr.family == c.family);
    CHECK(addr.host == c.host);
    CHECK(addr.port == c.port);
    CHECK(addr.path == c.path);
    CHECK(addr.text == c.text);
  }
}

TEST_CASE("stop signals with and without SIG", "[config]") {
  struct Case {
    std::string text;
    int want;
  };
  std::vector<Case> cases = {{"SIGTERM", SIGTERM}, {"TERM", SIGTERM},  {"SIGINT", SIGINT},
                             {"QUIT", SIGQUIT},    {"SIGHUP", SIGHUP}, {"KILL", SIGKILL},
                             {"SIGUSR1", SIGUSR1}, {"USR2", SIGUSR2},  {"SIGWINCH", SIGWINCH},
                             {"PWR", SIGPWR},      {"SIGSYS", SIGSYS}, {"STKFLT", SIGSTKFLT}};
  for (const Case& c : cases) {
    INFO(c.text);
    CHECK(only_app(app_with("    stop_signal: " + c.text + "\n")).stop_signal == c.want);
  }
}

TEST_CASE("sizes", "[config]") {
  constexpr std::uint64_t K = 1024, M = K * K, G = M * K, T = G * K;
  struct Case {
    std::string text;
    std::uint64_t want;
  };
  std::vector<Case> cases = {
      {"1", 1},
      {"1048576", 1048576},
      {"4096B", 4096},
      {"512K", 512 * K},
      {"512M", 512 * M},
      {"1G", G},
      {"2T", 2 * T},
      {"64KiB", 64 * K},
      {"64MiB", 64 * M},
      {"2GiB", 2 * G},
      {"1TiB", T},
      {"100KB", 100'000},
      {"100MB", 100'000'000},
      {"1GB", 1'000'000'000},
      {"3TB", 3'000'000'000'000},
      {"0010M", 10 * M},
      {"1024T", 1024 * T},
      {"1125899906842624", 1024 * T},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    CHECK(cfg::parse_size(c.text).value == c.want);
    CHECK(only_app(app_with("    logs: { max_size: " + c.text + " }\n")).logs.max_size == c.want);
    if (c.want >= 1024 * 1024) {
      CHECK(only_app(app_with("    max_memory: " + c.text + "\n")).max_memory == c.want);
    }
  }
  CHECK(cfg::parse_size("0").value == std::uint64_t{0});  // parse_size allows 0; the key does not
  const std::string hint = "expected a size such as 512M, 1G or 1048576, got ";
  const std::string big = "expected a size of at most 1024T, got ";
  struct Bad {
    std::string text;
    std::string want;
  };
  std::vector<Bad> bad = {
      {"", hint + "''"},
      {"M", hint + "'M'"},
      {"512m", hint + "'512m'"},
      {"1g", hint + "'1g'"},
      {"1Gi", hint + "'1Gi'"},
      {"1kB", hint + "'1kB'"},
      {"1.5G", hint + "'1.5G'"},
      {"1 G", hint + "'1 G'"},
      {"-1M", hint + "'-1M'"},
      {"1G512M", hint + "'1G512M'"},
      {"1025T", big + "'1025T'"},
      {"1125899906842625", big + "'1125899906842625'"},
      {"1125899906843KB", big + "'1125899906843KB'"},
      {"99999999999999999999999", big + "'99999999999999999999999'"},
      {"99999999999999999999999M", big + "'99999999999999999999999M'"},
  };
  for (const Bad& b : bad) {
    INFO(b.text);
    cfg::Result<std::uint64_t> r = cfg::parse_size(b.text);
    CHECK_FALSE(r.value.has_value());
    CHECK(r.error == b.want);
  }
}

TEST_CASE("rollout, watchdog and memory keys", "[config]") {
  cfg::AppSpec a = only_app(app_with("    rollout: {}\n"));
  CHECK(a.rollout.batch == 1);
  CHECK(a.rollout.canary_time == 0ms);
  a = only_app(app_with("    rollout:\n      batch: 65536\n      canary_time: 0\n"));
  CHECK(a.rollout.batch == 65536);
  CHECK(a.rollout.canary_time == 0ms);
  a = only_app(app_with("    rollout: { canary_time: 1h }\n"));
  CHECK(a.rollout.batch == 1);
  CHECK(a.rollout.canary_time == 1h);
  CHECK(only_app(app_with("    watchdog: 1ms\n")).watchdog == cfg::Duration(1ms));
  CHECK(only_app(app_with("    watchdog: 596h\n")).watchdog == cfg::Duration(596h));
  a = only_app(app_with("    memory_check_interval: 250ms\n"));
  CHECK(a.memory_check_interval == 250ms);
  CHECK_FALSE(a.max_memory.has_value());  // an interval alone sets no limit
}

TEST_CASE("malformed new keys: one exact error each", "[config]") {
  struct Case {
    std::string yaml;
    std::string want;
  };
  const std::string kDur = "expected a duration such as 250ms, 10s or 2m, got ";
  const std::string kSize = "expected a size such as 512M, 1G or 1048576";
  std::vector<Case> cases = {
      // rollout
      {app_with("    rollout: 2\n"), "t.yaml:4:14: apps.web.rollout: expected a map"},
      {app_with("    rollout:\n"), "t.yaml:4:5: apps.web.rollout: expected a map"},
      {app_with("    rollout: {batch: 0}\n"),
       "t.yaml:4:22: apps.web.rollout.batch: expected an integer from 1 to 65536, got '0'"},
      {app_with("    rollout: {batch: 65537}\n"),
       "t.yaml:4:22: apps.web.rollout.batch: expected an integer from 1 to 65536, got '65537'"},
      {app_with("    rollout: {batch: all}\n"),
       "t.yaml:4:22: apps.web.rollout.batch: expected an integer from 1 to 65536, got 'all'"},
      {app_with("    rollout: {batch: [1]}\n"),
       "t.yaml:4:22: apps.web.rollout.batch: expected an integer"},
      {app_with("    rollout: {canary_time: 5}\n"),
       "t.yaml:4:28: apps.web.rollout.canary_time: " + kDur + "'5'"},
      {app_with("    rollout: {canary_time: -1s}\n"),
       "t.yaml:4:28: apps.web.rollout.canary_time: " + kDur + "'-1s'"},
      {app_with("    rollout: {size: 2}\n"),
       "t.yaml:4:15: apps.web.rollout.size: unknown key; expected one of batch, canary_time"},
      {app_with("    rollout: {batch: 1, batch: 2}\n"),
       "t.yaml:4:25: apps.web.rollout.batch: duplicate key; first defined at line 4"},
      // watchdog
      {app_with("    watchdog: 0\n"), "t.yaml:4:15: apps.web.watchdog: must be greater than 0"},
      {app_with("    watchdog: 0s\n"), "t.yaml:4:15: apps.web.watchdog: must be greater than 0"},
      {app_with("    watchdog: 30\n"), "t.yaml:4:15: apps.web.watchdog: " + kDur + "'30'"},
      {app_with("    watchdog: off\n"), "t.yaml:4:15: apps.web.watchdog: " + kDur + "'off'"},
      {app_with("    watchdog: [1s]\n"),
       "t.yaml:4:15: apps.web.watchdog: expected a duration such as 250ms, 10s or 2m"},
      {app_with("    watchdog: 1000h\n"),
       "t.yaml:4:15: apps.web.watchdog: expected a duration of at most 596h, got '1000h'"},
      // max_memory
      {app_with("    max_memory: 0\n"), "t.yaml:4:17: apps.web.max_memory: must be greater than 0"},
      {app_with("    max_memory: 0M\n"),
       "t.yaml:4:17: apps.web.max_memory: must be greater than 0"},
      {app_with("    max_memory: 512m\n"),
       "t.yaml:4:17: apps.web.max_memory: " + kSize + ", got '512m'"},
      {app_with("    max_memory: 1.5G\n"),
       "t.yaml:4:17: apps.web.max_memory: " + kSize + ", got '1.5G'"},
      {app_with("    max_memory: \"\"\n"),
       "t.yaml:4:17: apps.web.max_memory: " + kSize + ", got ''"},
      {app_with("    max_memory: [1G]\n"), "t.yaml:4:17: apps.web.max_memory: " + kSize},
      {app_with("    max_memory:\n"), "t.yaml:4:5: apps.web.max_memory: " + kSize},
      {app_with("    max_memory: 2000T\n"),
       "t.yaml:4:17: apps.web.max_memory: expected a size of at most 1024T, got '2000T'"},
      // memory_check_interval
      {app_with("    memory_check_interval: 0\n"),
       "t.yaml:4:28: apps.web.memory_check_interval: must be greater than 0"},
      {app_with("    memory_check_interval: 1.5s\n"),
       "t.yaml:4:28: apps.web.memory_check_interval: " + kDur + "'1.5s'"},
      // control
      {"control: {max_clients: 0}\n" + app_with(""),
       "t.yaml:1:24: control.max_clients: expected an integer from 1 to 65536, got '0'"},
      {"control: {max_clients: 65537}\n" + app_with(""),
       "t.yaml:1:24: control.max_clients: expected an integer from 1 to 65536, got '65537'"},
      {"control: {idle_timeout: 0}\n" + app_with(""),
       "t.yaml:1:25: control.idle_timeout: must be greater than 0"},
      {"control: {idle_timeout: 30}\n" + app_with(""),
       "t.yaml:1:25: control.idle_timeout: " + kDur + "'30'"},
  };
  for (const Case& c : cases) {
    INFO("yaml:\n" << c.yaml);
    CHECK(errors_of(c.yaml) == c.want + "\n");
  }
}
