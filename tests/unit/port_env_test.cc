// `port_env: NAME` on a listener: each worker gets its port in NAME (worker N's port + N with
// port_per_worker), for programs that read PORT; what the config refuses, and where; the
// variable's place in the worker's environment; the daemon giving each slot its own.
#include <catch2/catch.hpp>

#include "config_test_helpers.h"
#include "daemon_loop.h"
#include "worker/listen_env.h"

using namespace clusterd;
using test::app_with;
using test::errors_of;

namespace {
std::size_t count(const std::vector<std::string>& env, const std::string& entry) {
  return static_cast<std::size_t>(std::count(env.begin(), env.end(), entry));
}
}  // namespace

TEST_CASE("port_env: what the config refuses, and where") {
  struct Case {
    std::string yaml;
    std::string want;
  };
  const std::vector<Case> cases = {
      {app_with("    listen:\n      http: {address: \"127.0.0.1:8000\", port_env: 9PORT}\n"),
       "t.yaml:5:51: apps.web.listen.http.port_env: expected a variable name (letters, digits and "
       "_, not starting with a digit); got '9PORT'"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:8000\", port_env: \"A=B\"}\n"),
       "t.yaml:5:51: apps.web.listen.http.port_env: expected a variable name (letters, digits and "
       "_, not starting with a digit); got 'A=B'"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:8000\", port_env: "
                "CLUSTER_WORKER_ID}\n"),
       "t.yaml:5:51: apps.web.listen.http.port_env: CLUSTER_WORKER_ID is one of the variables "
       "clusterd sets itself; pick another"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:8000\", port_env: LISTEN_FDS}\n"),
       "t.yaml:5:51: apps.web.listen.http.port_env: LISTEN_FDS is one of the variables clusterd "
       "sets itself; pick another"},
      {app_with("    listen:\n      http: {address: \"unix:/run/x.sock\", port_env: PORT}\n"),
       "t.yaml:5:53: apps.web.listen.http.port_env: needs a TCP address (unix:/run/x.sock is a "
       "unix socket)"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:0\", port_env: PORT}\n"),
       "t.yaml:5:48: apps.web.listen.http.port_env: needs a port other than 0 (127.0.0.1:0)"},
      {app_with("    listen:\n      a: {address: \"127.0.0.1:8000\", port_env: PORT}\n"
                "      b: {address: \"127.0.0.1:9000\", port_env: PORT}\n"),
       "t.yaml:6:48: apps.web.listen.b.port_env: PORT is already the port of listener a"},
      {app_with("    env: {PORT: \"3000\"}\n"
                "    listen:\n      http: {address: \"127.0.0.1:8000\", port_env: PORT}\n"),
       "t.yaml:6:51: apps.web.listen.http.port_env: PORT is also set by apps.web.env; the "
       "listener's port would replace it: remove one"},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    CHECK(test::joined(errors_of(c.yaml)) == c.want + "\n");
  }
  const config::AppSpec app =
      test::only_app(app_with("    listen:\n      http: {address: \"[::1]:8000\", mode: worker, "
                              "port_per_worker: true, port_env: PORT}\n"));
  CHECK(app.listeners.at(0).port_env == "PORT");
}

TEST_CASE("port_env: after the app's env and the master's, before the contract") {
  worker::WorkerEnvSpec spec;
  spec.app = "web";
  spec.app_env = {{"HTTP_PORT", "1"}};
  spec.port_env = {{"HTTP_PORT", "8001"}};
  const std::vector<std::string> env = worker::build_worker_env({"HTTP_PORT=2", "PATH=/bin"}, spec);
  CHECK(count(env, "HTTP_PORT=8001") == 1);
  CHECK(std::count_if(env.begin(), env.end(),
                      [](const std::string& e) { return e.rfind("HTTP_PORT=", 0) == 0; }) == 1);
}

TEST_CASE("daemon: port_env gives each slot its port, port + N with port_per_worker") {
  const std::string yaml =
      "control: { socket: /run/test/ctl.sock }\n"
      "apps:\n"
      "  web:\n"
      "    command: [\"/bin/web\"]\n"
      "    instances: 2\n"
      "    listen:\n"
      "      http: { address: \"127.0.0.1:8000\", mode: worker, port_per_worker: true, port_env: "
      "PORT }\n"
      "      admin: { address: \"127.0.0.1:9000\", port_env: ADMIN_PORT }\n";
  test::Loop loop(yaml);
  REQUIRE(loop.alive().size() == 2);
  const std::vector<std::string>& first = loop.host.workers.at(1).request.env;
  const std::vector<std::string>& second = loop.host.workers.at(2).request.env;
  CHECK(count(first, "PORT=8000") == 1);
  CHECK(count(second, "PORT=8001") == 1);
  CHECK(count(first, "ADMIN_PORT=9000") == 1);
  CHECK(count(second, "ADMIN_PORT=9000") == 1);
  CHECK(count(second, "CLUSTER_LISTEN_HTTP=127.0.0.1:8001") == 1);
}
