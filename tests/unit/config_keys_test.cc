// Unit tests of the config keys of what clusterd shows and how it sizes workers: `metrics:`,
// `auto_follow:`, and the per-worker cgroup limits `memory_max`, `cpu_weight`, `pids_max`.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "config_test_helpers.h"

namespace cfg = clusterd::config;
using namespace clusterd::test;

TEST_CASE("metrics: an address, as a scalar or under address:, not one a listener uses",
          "[config]") {
  CHECK_FALSE(parse_ok(app_with("")).metrics.address);
  const cfg::Config scalar = parse_ok("metrics: \"127.0.0.1:9100\"\n" + app_with(""));
  REQUIRE(scalar.metrics.address);
  CHECK(scalar.metrics.address->text == "127.0.0.1:9100");
  CHECK(scalar.metrics.at.line == 1);
  const cfg::Config map = parse_ok("metrics: { address: \"unix:/run/m.sock\" }\n" + app_with(""));
  REQUIRE(map.metrics.address);
  CHECK(map.metrics.address->text == "unix:/run/m.sock");
  CHECK(errors_of("metrics: localhost:9100\n" + app_with("")) ==
        std::vector<std::string>{"t.yaml:1:10: metrics: expected a numeric address (hostnames "
                                 "are not resolved), got 'localhost'"});
  CHECK(errors_of("metrics: {}\n" + app_with("")) ==
        std::vector<std::string>{"t.yaml:1:1: metrics.address: required key is missing"});
  CHECK(
      errors_of("metrics: { port: 9100 }\n" + app_with("")) ==
      std::vector<std::string>{"t.yaml:1:1: metrics.address: required key is missing",
                               "t.yaml:1:12: metrics.port: unknown key; expected one of address"});
  CHECK(errors_of("metrics: \"0.0.0.0:8080\"\n" +
                  app_with("    listen:\n      http: \"127.0.0.1:8080\"\n")) ==
        std::vector<std::string>{"t.yaml:1:10: metrics.address: 0.0.0.0:8080 is already used by "
                                 "apps.web.listen.http at line 6"});
}

TEST_CASE("auto_follow: a duration of at least 1s, for instances: auto only", "[config]") {
  const cfg::AppSpec app = only_app(app_with("    auto_follow: 5s\n"));
  REQUIRE(app.auto_follow);
  CHECK(*app.auto_follow == std::chrono::seconds(5));
  CHECK_FALSE(only_app(app_with("")).auto_follow);
  CHECK(errors_of(app_with("    auto_follow: 500ms\n")) ==
        std::vector<std::string>{
            "t.yaml:4:18: apps.web.auto_follow: expected at least 1s, got 500ms"});
  CHECK(errors_of(app_with("    instances: 3\n    auto_follow: 5s\n")) ==
        std::vector<std::string>{"t.yaml:5:18: apps.web.auto_follow: follows the CPU limit for "
                                 "instances: auto or max only; instances is 3"});
}

TEST_CASE("memory_max, cpu_weight and pids_max: a cgroup's limits per worker", "[config]") {
  const cfg::AppSpec app =
      only_app(app_with("    memory_max: 256M\n    cpu_weight: 50\n    pids_max: 64\n"));
  CHECK(app.cgroup_limits.memory_max == 256u * 1024 * 1024);
  CHECK(app.cgroup_limits.cpu_weight == 50u);
  CHECK(app.cgroup_limits.pids_max == 64u);
  CHECK_FALSE(only_app(app_with("")).cgroup_limits.any());
  CHECK(errors_of(app_with("    cpu_weight: 0\n")) ==
        std::vector<std::string>{
            "t.yaml:4:17: apps.web.cpu_weight: expected an integer from 1 to 10000, got '0'"});
}

TEST_CASE("adopt: true on a shared or reuseport TCP listener, adopt: all on an app", "[config]") {
  const cfg::AppSpec app =
      only_app(app_with("    listen:\n"
                        "      a: { address: \"127.0.0.1:8080\", adopt: true }\n"
                        "      b: { address: \"127.0.0.1:8081\", mode: reuseport, adopt: true }\n"
                        "      c: \"127.0.0.1:8082\"\n"));
  CHECK(app.listeners[0].adopt);
  CHECK(app.listeners[1].adopt);
  CHECK_FALSE(app.listeners[2].adopt);
  CHECK_FALSE(app.adopt_all);
  CHECK(cfg::uses_adoption(app));
  CHECK_FALSE(cfg::uses_adoption(only_app(app_with(""))));
  const cfg::AppSpec all = only_app(app_with("    adopt: all\n"));
  CHECK(all.adopt_all);
  CHECK(cfg::uses_adoption(all));
  CHECK_FALSE(only_app(app_with("    adopt: none\n")).adopt_all);
  CHECK(errors_of(app_with("    adopt: true\n")) ==
        std::vector<std::string>{
            "t.yaml:4:12: apps.web.adopt: expected one of all, none, got 'true'"});
  CHECK(
      errors_of(app_with("    listen:\n      a: { address: \"127.0.0.1:8080\", adopt: all }\n")) ==
      std::vector<std::string>{
          "t.yaml:5:46: apps.web.listen.a.adopt: expected one of true, false, got 'all'"});
  CHECK(errors_of(
            app_with("    listen:\n      a: { address: \"unix:/tmp/a.sock\", adopt: true }\n")) ==
        std::vector<std::string>{
            "t.yaml:5:48: apps.web.listen.a.adopt: adopts TCP addresses only (unix:/tmp/a.sock is "
            "a unix socket: a worker's bind() of a path is never adopted)"});
  CHECK(
      errors_of(app_with(
          "    listen:\n      a: { address: \"127.0.0.1:8080\", mode: worker, adopt: true }\n")) ==
      std::vector<std::string>{
          "t.yaml:5:60: apps.web.listen.a.adopt: needs a socket the master holds, and mode "
          "worker leaves the bind to each worker; use shared or reuseport"});
  CHECK(errors_of(app_with("    adopt: all\n    listen:\n"
                           "      a: { address: \"127.0.0.1:8080\", mode: worker }\n")) ==
        std::vector<std::string>{
            "t.yaml:4:12: apps.web.adopt: all takes over every TCP bind of the app's workers, and "
            "listener 'a' has mode worker (each worker binds it itself); use shared or reuseport "
            "there"});
}
