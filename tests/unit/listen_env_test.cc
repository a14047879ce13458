#include "worker/listen_env.h"

#include <algorithm>
#include <catch2/catch.hpp>

using namespace clusterd::worker;

namespace {
bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}
int count_name(const std::vector<std::string>& env, const std::string& name) {
  return static_cast<int>(std::count_if(
      env.begin(), env.end(), [&](const std::string& e) { return e.rfind(name + "=", 0) == 0; }));
}
}  // namespace

TEST_CASE("worker environment carries the contract variables") {
  WorkerEnvSpec spec;
  spec.app = "web";
  spec.worker_id = 3;
  spec.workers = 8;
  spec.fd_names = {"http", "admin"};
  spec.notify_socket = "@clusterd/1/2";
  spec.app_env = {{"GOMAXPROCS", "1"}, {"PATH", "/opt/bin"}};
  const std::vector<std::string> inherited = {"PATH=/usr/bin",
                                              "HOME=/root",
                                              "LISTEN_FDS=5",
                                              "LISTEN_PID=1",
                                              "NOTIFY_SOCKET=/run/systemd/notify",
                                              "WATCHDOG_USEC=1000",
                                              "CLUSTER_APP=outer"};
  const std::vector<std::string> env = build_worker_env(inherited, spec);
  CHECK(has(env, "PATH=/opt/bin"));  // the app's env overrides the master's
  CHECK(has(env, "HOME=/root"));
  CHECK(has(env, "GOMAXPROCS=1"));
  CHECK(has(env, "CLUSTER_APP=web"));
  CHECK(has(env, "CLUSTER_WORKER_ID=3"));
  CHECK(has(env, "CLUSTER_WORKERS=8"));
  CHECK(has(env, "LISTEN_FDS=2"));
  CHECK(has(env, "LISTEN_FDNAMES=http:admin"));
  CHECK(has(env, "LISTEN_PID=" + std::string(kListenPidDigits, '0')));
  CHECK(has(env, "NOTIFY_SOCKET=@clusterd/1/2"));
  CHECK(count_name(env, "LISTEN_FDS") == 1);
  CHECK(count_name(env, "NOTIFY_SOCKET") == 1);
  CHECK(count_name(env, "WATCHDOG_USEC") == 0);
  CHECK(count_name(env, "CLUSTER_APP") == 1);
}

TEST_CASE("an app's env cannot fake the socket contract or the master's instance") {
  WorkerEnvSpec spec;
  spec.app = "web";
  spec.instance = "4711-900-4026531836";
  spec.app_env = {{"LISTEN_FDS", "9"}, {"CLUSTER_WORKER_ID", "99"}, {"CLUSTER_INSTANCE", "1-2-3"}};
  // Nor the master's own CLUSTER_INSTANCE (a master started by another's worker).
  const std::vector<std::string> env = build_worker_env({"CLUSTER_INSTANCE=5-6-7"}, spec);
  CHECK(count_name(env, "LISTEN_FDS") == 0);
  CHECK(has(env, "CLUSTER_WORKER_ID=0"));
  CHECK(has(env, "CLUSTER_INSTANCE=4711-900-4026531836"));
  CHECK(count_name(env, "CLUSTER_INSTANCE") == 1);
  CHECK(count_name(env, "LISTEN_PID") == 0);
}

TEST_CASE("worker-mode listeners become CLUSTER_LISTEN_<NAME>") {
  WorkerEnvSpec spec;
  spec.app = "api";
  spec.worker_listen = {{"http", "127.0.0.1:8080"}, {"api-v2", "[::1]:9000"}};
  const std::vector<std::string> env = build_worker_env({}, spec);
  CHECK(has(env, "CLUSTER_LISTEN_HTTP=127.0.0.1:8080"));
  CHECK(has(env, "CLUSTER_LISTEN_API_V2=[::1]:9000"));
  CHECK(listen_env_name("a.b") == "CLUSTER_LISTEN_A_B");
}
