// What a master does about processes holding its addresses: the core's decision
// (core/leftovers.h) case by case, then the daemon over a fake host: at the start it ends the
// leftovers of the recorded previous master, which is gone, and nothing else; its workers carry
// its CLUSTER_INSTANCE, which it records once its sockets are bound.
#include "supervisor/core/leftovers.h"

#include <catch2/catch.hpp>

#include "daemon_loop.h"

using namespace clusterd;
using test::Loop;

namespace {

const std::string kOld = "4711-900-4026531836";  // the previous master of this config
const std::string kRecord = "/run/test/ctl.sock.instance";

core::Occupant occupant(int pid, unsigned uid, std::optional<std::string> instance) {
  return {pid, uid, true, "hello-worker --threads 1", std::move(instance)};
}

struct LeftoverCase {
  const char* what;
  core::Occupant o;
  std::optional<core::PreviousMaster> previous;
  std::string refused;  // empty: a leftover the master may end
};

}  // namespace

TEST_CASE("leftovers: only a process of the recorded, gone master, of our uids, is ours to end") {
  const core::PreviousMaster gone{kOld, false};
  core::Occupant mixed = occupant(10, 0, kOld);
  mixed.one_uid = false;  // a setuid program: effective root, real uid someone else
  const std::vector<LeftoverCase> cases = {
      {"the previous master's worker's child", occupant(10, 0, kOld), gone, ""},
      {"as the app's user", occupant(10, 65534, kOld), gone, ""},
      {"a foreign process", occupant(10, 0, std::nullopt), gone,
       "not started by clusterd (no CLUSTER_INSTANCE in its environment, or it cannot be read)"},
      {"nothing on record", occupant(10, 0, kOld), std::nullopt,
       "started by a clusterd (CLUSTER_INSTANCE=" + kOld +
           "), but no previous master of this config is on record"},
      {"another clusterd's", occupant(10, 0, "5-6-7"), gone,
       "started by another clusterd (CLUSTER_INSTANCE=5-6-7; the previous master of this config "
       "was " +
           kOld + ")"},
      {"its master runs", occupant(10, 0, kOld), core::PreviousMaster{kOld, true},
       "its clusterd (CLUSTER_INSTANCE=" + kOld + ") is still running"},
      {"its master in another pid namespace", occupant(10, 0, kOld),
       core::PreviousMaster{kOld, std::nullopt},
       "its clusterd (CLUSTER_INSTANCE=" + kOld +
           ") cannot be told to be gone (another pid namespace)"},
      {"another uid, the marker forged", occupant(10, 1000, kOld), gone,
       "runs as uid 1000, not only as clusterd's or the app's user"},
      {"mixed uids", mixed, gone,
       "runs as uid 0 (among others), not only as clusterd's or the "
       "app's user"},
  };
  for (const LeftoverCase& c : cases) {
    INFO(c.what);
    CHECK(core::not_a_leftover(c.o, c.previous, {0, 65534}).value_or("") == c.refused);
  }
}

TEST_CASE("leftovers: all holders ours, or none touched") {
  const std::optional<core::PreviousMaster> gone = core::PreviousMaster{kOld, false};
  const std::vector<unsigned> uids = {0};
  const std::vector<core::Occupant> two = {occupant(10, 0, kOld), occupant(11, 0, kOld)};
  std::vector<core::Occupant> group = {occupant(12, 0, kOld), occupant(13, 0, std::nullopt)};

  core::AddressInUse v = core::judge_address_in_use(two, group, gone, uids, std::nullopt);
  CHECK(v.end);
  CHECK(v.pids == std::vector<int>{10, 11, 12});  // 13 has no marker: left alone
  CHECK(v.message ==
        "held by pid 10 (hello-worker --threads 1); pid 11 (hello-worker --threads 1), left by "
        "the previous clusterd (CLUSTER_INSTANCE=" +
            kOld + "), which is gone: ending them and 1 more of the same process group");

  // One foreign holder among them: nothing is ended, each is named with why.
  std::vector<core::Occupant> three = two;
  three.push_back(occupant(20, 0, std::nullopt));
  three.back().command = "python3 -m http.server";
  v = core::judge_address_in_use(three, group, gone, uids, std::nullopt);
  CHECK_FALSE(v.end);
  CHECK(v.pids.empty());
  CHECK(v.message ==
        "by pid 20 (python3 -m http.server): not started by clusterd (no CLUSTER_INSTANCE in its "
        "environment, or it cannot be read)");

  // Once the master runs (a reload), leftovers are only named.
  v = core::judge_address_in_use(two, group, gone, uids, "not now");
  CHECK_FALSE(v.end);
  CHECK(v.message ==
        "by pid 10 (hello-worker --threads 1); pid 11 (hello-worker --threads 1): "
        "left by the previous clusterd (CLUSTER_INSTANCE=" +
            kOld + "), which is gone; not now");

  // Nobody found (another uid's fds cannot be read without root): nothing to add.
  v = core::judge_address_in_use({}, {}, gone, uids, std::nullopt);
  CHECK_FALSE(v.end);
  CHECK(v.message.empty());

  // At most five named.
  std::vector<core::Occupant> many;
  for (int pid = 30; pid < 38; ++pid) many.push_back(occupant(pid, 0, std::nullopt));
  v = core::judge_address_in_use(many, {}, gone, uids, std::nullopt);
  CHECK(v.message.find("pid 34 ") != std::string::npos);
  CHECK(v.message.find("pid 35 ") == std::string::npos);
  CHECK(v.message.substr(v.message.size() - 12) == "; and 3 more");
}

namespace {

os::Occupant held(int pid, std::optional<std::string> instance, unsigned uid = 0) {
  os::Occupant o;
  o.pid = pid;
  o.uid = uid;
  o.one_uid = true;
  o.pgrp = pid;
  o.start = 77;
  o.command = "python3 -c hold";
  o.instance = std::move(instance);
  return o;
}

std::string shared_config() {
  return "control: { socket: /run/test/ctl.sock }\n"
         "apps:\n"
         "  web:\n"
         "    command: [\"/bin/web\"]\n"
         "    instances: 2\n"
         "    stop_timeout: 3s\n"
         "    listen:\n"
         "      http: { address: \"127.0.0.1:8080\", mode: shared }\n";
}

}  // namespace

TEST_CASE("daemon: at the start, the gone previous master's leftovers on an address are ended") {
  for (const std::string& yaml : {shared_config(), test::web_config("2")}) {  // shared, reuseport
    test::FakeHost* host = nullptr;
    Loop loop(yaml, [&](test::FakeHost& h) {
      host = &h;
      h.records[kRecord] = kOld;
      h.running[kOld] = false;
      h.occupants["127.0.0.1:8080"].holders = {held(900, kOld), held(901, kOld)};
      h.occupants["127.0.0.1:8080"].group = {held(902, kOld), held(903, std::nullopt)};
    });
    REQUIRE(host->ended.size() == 1);
    CHECK(host->ended[0] == std::vector<int>{900, 901, 902});
    CHECK(host->binds >= 1);
    REQUIRE(loop.alive().size() == 2);
    const std::vector<std::string>& env = host->workers.begin()->second.request.env;
    CHECK(std::count(env.begin(), env.end(), "CLUSTER_INSTANCE=100-5-4026531836") == 1);
    CHECK(host->records[kRecord] == "100-5-4026531836");  // the next master's previous one
  }
}

namespace {

// Starts a master on `host` (set up by the test); returns why it could not start, if it could not.
std::string start_error(test::FakeHost& host, const std::string& yaml) {
  if (std::getenv("CLUSTERD_TEST_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
  host.config_text = yaml;
  config::ParseResult parsed = host.load_config("c.yaml");
  REQUIRE(parsed.errors.empty());
  daemon::DaemonOptions options;
  options.config = std::move(*parsed.config);
  try {
    daemon::Daemon master(host, std::move(options));
    master.start();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("daemon: a holder that is not provably a leftover is named, and nothing is touched") {
  const auto start = [](const std::function<void(test::FakeHost&)>& setup) {
    test::FakeHost host;
    host.records[kRecord] = kOld;
    host.running[kOld] = false;
    setup(host);
    const std::string error = start_error(host, shared_config());
    CHECK(host.ended.empty());
    CHECK(host.workers.empty());
    CHECK(host.records[kRecord] == kOld);  // not overwritten by a master that did not start
    return error;
  };
  // A foreign listener beside a leftover: neither is ended.
  std::string error = start([](test::FakeHost& h) {
    h.occupants["127.0.0.1:8080"].holders = {held(900, kOld), held(950, std::nullopt)};
  });
  CHECK(error ==
        "bind 127.0.0.1:8080: Address already in use by pid 950 (python3 -c hold): not started "
        "by clusterd (no CLUSTER_INSTANCE in its environment, or it cannot be read)");
  // The recorded master still runs (a second master started on the same config).
  error = start([](test::FakeHost& h) {
    h.running[kOld] = true;
    h.occupants["127.0.0.1:8080"].holders = {held(900, kOld)};
  });
  CHECK(error ==
        "bind 127.0.0.1:8080: Address already in use by pid 900 (python3 -c hold): its "
        "clusterd (CLUSTER_INSTANCE=" +
            kOld + ") is still running");
  // The marker forged by another uid.
  error = start(
      [](test::FakeHost& h) { h.occupants["127.0.0.1:8080"].holders = {held(900, kOld, 1000)}; });
  CHECK(error ==
        "bind 127.0.0.1:8080: Address already in use by pid 900 (python3 -c hold): runs "
        "as uid 1000, not only as clusterd's or the app's user");
}

TEST_CASE("daemon: leftovers that cannot be ended are named after a few rounds") {
  test::FakeHost host;
  host.records[kRecord] = kOld;
  host.running[kOld] = false;
  host.occupants["127.0.0.1:8080"].holders = {held(900, kOld)};
  host.unkillable = {900};
  const std::string error = start_error(host, shared_config());
  CHECK(host.ended.size() == 3);
  CHECK(error ==
        "bind 127.0.0.1:8080: Address already in use by pid 900 (python3 -c hold): left "
        "by the previous clusterd (CLUSTER_INSTANCE=" +
            kOld + "), which is gone; they are still there after SIGKILL");
}

TEST_CASE("daemon: a reload onto a held address names the holders and ends none") {
  Loop loop(shared_config());
  loop.ready_all();
  loop.host.records[kRecord] = kOld;  // as if this master had found a predecessor on record
  loop.host.occupants["127.0.0.1:9090"].holders = {held(900, std::nullopt)};
  std::string yaml = shared_config();
  yaml += "      admin: { address: \"127.0.0.1:9090\", mode: shared }\n";
  loop.host.config_text = yaml;
  auto reply = loop.request(R"({"cmd":"reload"})");
  REQUIRE(reply->finished);
  CHECK_THAT(reply->last().error,
             Catch::Contains("bind 127.0.0.1:9090: Address already in use by pid 900 (python3 -c "
                             "hold): not started by clusterd"));
  CHECK(loop.host.ended.empty());
  CHECK(loop.alive().size() == 2);
}
