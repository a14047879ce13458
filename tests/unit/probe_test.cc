// The ready probe (ready: http, tcp): the lane's schedule (a try at once, then every interval),
// what a try means (core::judge_probe), the ready timeout's text, the config that allows a probe
// (a port_per_worker listener, ports that fit), and the daemon carrying it out over a fake host.
#include "supervisor/core/probe.h"

#include <catch2/catch.hpp>

#include "config_test_helpers.h"
#include "daemon_loop.h"
#include "probed_spec.h"
#include "supervisor/core/lane.h"

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;

namespace {

using test::probed_spec;

struct Probed {
  config::AppSpec spec = probed_spec();
  core::Lane lane;
  core::TimePoint now{};
  std::vector<core::Action> last;
  unsigned probe_token = 0;
  unsigned state_token = 0;
  std::vector<core::Action>& feed(const core::Event& e) {
    last = lane.on(e, now, spec);
    for (const core::Action& a : last) {
      if (const auto* t = std::get_if<core::ArmTimer>(&a)) {
        (t->timer == core::LaneTimer::Probe ? probe_token : state_token) = t->token;
      }
    }
    return last;
  }
  int probes() const {
    return static_cast<int>(std::count_if(last.begin(), last.end(), [](const core::Action& a) {
      return std::holds_alternative<core::Probe>(a);
    }));
  }
  std::optional<core::Duration> probe_armed_in() const {
    for (const core::Action& a : last) {
      if (const auto* t = std::get_if<core::ArmTimer>(&a); t && t->timer == core::LaneTimer::Probe)
        return std::chrono::duration_cast<core::Duration>(t->deadline - now);
    }
    return std::nullopt;
  }
  bool probe_cancelled() const {
    return std::any_of(last.begin(), last.end(), [](const core::Action& a) {
      const auto* c = std::get_if<core::CancelTimer>(&a);
      return c && c->timer == core::LaneTimer::Probe;
    });
  }
};

}  // namespace

TEST_CASE("a probed worker is tried at once, then every interval, until a try succeeds") {
  Probed p;
  p.feed(core::StartRequested{});
  p.feed(core::Spawned{100});
  CHECK(p.probes() == 1);  // the first try right away
  CHECK(p.probe_armed_in() == 250ms);
  CHECK(p.lane.state() == LaneState::Starting);
  p.feed(core::ProbeResult{false, "connect: Connection refused"});
  CHECK(p.last.empty());  // a failure waits for the next try
  p.feed(core::Ready{});  // READY=1 says nothing to a probed app
  CHECK(p.lane.state() == LaneState::Starting);
  p.now += 250ms;
  p.feed(core::TimerFired{core::LaneTimer::Probe, p.probe_token});
  CHECK(p.probes() == 1);
  CHECK(p.probe_armed_in() == 250ms);
  p.feed(core::TimerFired{core::LaneTimer::Probe, p.probe_token + 7});  // stale
  CHECK(p.probes() == 0);
  p.feed(core::ProbeResult{true, {}});
  CHECK(p.lane.state() == LaneState::Running);
  CHECK(p.probe_cancelled());
  p.feed(core::ProbeResult{false, "late"});  // a try that ends after: nothing
  CHECK(p.lane.state() == LaneState::Running);
  CHECK(p.last.empty());
}

TEST_CASE("min_ready counts from the probe's success, and the probe stops there") {
  Probed p;
  p.spec.min_ready = 1s;
  p.feed(core::StartRequested{});
  p.feed(core::Spawned{100});
  p.now += 100ms;
  p.feed(core::ProbeResult{true, {}});
  CHECK(p.lane.state() == LaneState::Starting);
  CHECK(p.probe_cancelled());
  p.now += 250ms;
  p.feed(core::TimerFired{core::LaneTimer::Probe, p.probe_token});
  CHECK(p.probes() == 0);
  p.now += 750ms;
  p.feed(core::TimerFired{core::LaneTimer::State, p.state_token});
  CHECK(p.lane.state() == LaneState::Running);
}

TEST_CASE("a probe that never succeeds ends in the ready timeout with its last failure") {
  Probed p;
  p.feed(core::StartRequested{});
  p.feed(core::Spawned{100});
  p.feed(core::ProbeResult{false, "connect: Connection refused"});
  p.feed(core::ProbeResult{false, "GET /healthz: 503"});
  p.now += 2s;
  p.feed(core::TimerFired{core::LaneTimer::State, p.state_token});
  const auto* notice = std::get_if<core::Notice>(&p.last.at(1));
  REQUIRE(notice != nullptr);
  CHECK(notice->message ==
        "no successful probe (ready: http) within 2000ms (last: GET /healthz: 503); sending "
        "SIGKILL");
  CHECK(p.probe_cancelled());
  // The SIGKILL resets a try still under way; that is the kill's doing, not the worker's answer.
  p.feed(core::ProbeResult{false, "GET /healthz: read: Connection reset by peer"});
  CHECK(p.last.empty());
  p.feed(core::Exited{core::ExitStatus::signaled(9)});
  REQUIRE(p.lane.last_exit());
  CHECK(p.lane.last_exit()->to_string() ==
        "not ready within ready_timeout (probe: GET /healthz: 503)");
}

TEST_CASE("a worker that exits while probed leaves no probe timer behind") {
  Probed p;
  p.feed(core::StartRequested{});
  p.feed(core::Spawned{100});
  p.feed(core::Exited{core::ExitStatus::exited(1)});
  CHECK(p.probe_cancelled());
  CHECK(p.lane.record().tokens[static_cast<std::size_t>(core::LaneTimer::Probe)] == 0);
  p.feed(core::TimerFired{core::LaneTimer::Probe, p.probe_token});
  CHECK(p.probes() == 0);
}

TEST_CASE("what a try means") {
  const config::AppSpec http = probed_spec();
  using K = core::ProbeReply::Kind;
  const auto judge = [&](K kind, std::string error, std::string head) {
    const core::ProbeResult r = core::judge_probe(http, {kind, std::move(error), std::move(head)});
    return r.ok ? std::string("ok") : r.failure;
  };
  CHECK(judge(K::Answered, "", "HTTP/1.1 200 OK\r\n") == "ok");
  CHECK(judge(K::Answered, "", "HTTP/1.0 302 Found\r\n") == "ok");
  CHECK(judge(K::Answered, "", "HTTP/1.1 204\r\n") == "ok");
  CHECK(judge(K::Answered, "", "HTTP/1.1 503 Service Unavailable\r\n") == "GET /healthz: 503");
  CHECK(judge(K::Answered, "", "HTTP/1.1 404 Not Found\r\n") == "GET /healthz: 404");
  CHECK(judge(K::Answered, "", "HTTP/1.1 199 Early\r\n") == "GET /healthz: 199");
  CHECK(judge(K::Answered, "", "") == "GET /healthz: closed without an answer");
  CHECK(judge(K::Answered, "", "SSH-2.0-OpenSSH\r\n") ==
        "GET /healthz: not an HTTP status line: \"SSH-2.0-OpenSSH??\"");
  CHECK(judge(K::Answered, "", "HTTP/1.1 2000 OK\r\n") ==
        "GET /healthz: not an HTTP status line: \"HTTP/1.1 2000 OK??\"");
  CHECK(judge(K::ConnectFailed, "Connection refused", "") == "connect: Connection refused");
  CHECK(judge(K::ConnectTimeout, "", "") == "connect: no answer within 225ms");
  CHECK(judge(K::NoAnswer, "", "") == "GET /healthz: no status line within 225ms");
  CHECK(judge(K::IoFailed, "read: Connection reset by peer", "") ==
        "GET /healthz: read: Connection reset by peer");
  const config::AppSpec tcp = probed_spec(config::ReadyMode::Tcp);
  CHECK(core::judge_probe(tcp, {K::Connected, "", ""}).ok);
  CHECK(core::judge_probe(tcp, {K::ConnectFailed, "Connection refused", ""}).failure ==
        "connect: Connection refused");
}

TEST_CASE("each worker is probed on its own port, with the request the config says") {
  const config::AppSpec spec = probed_spec();
  CHECK(core::probe_target(spec, 0)->text == "127.0.0.1:8000");
  CHECK(core::probe_target(spec, 3)->text == "127.0.0.1:8003");
  CHECK(core::probe_request(spec, *core::probe_target(spec, 3)) ==
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8003\r\nConnection: close\r\n\r\n");
  CHECK(core::probe_request(probed_spec(config::ReadyMode::Tcp), *core::probe_target(spec, 0))
            .empty());
  config::AppSpec v6 = spec;
  v6.listeners[0].address = {config::Address::Family::Ipv6, "::1", 65534, "", "[::1]:65534"};
  CHECK(core::probe_target(v6, 1)->text == "[::1]:65535");
  CHECK_FALSE(core::probe_target(v6, 2));  // past 65535
}

TEST_CASE("port_per_worker and probes: what the config refuses, and where") {
  using test::app_with;
  using test::errors_of;
  const std::string own =
      "    listen:\n      http: {address: \"127.0.0.1:8000\", mode: worker, port_per_worker: "
      "true}\n";
  struct Case {
    std::string yaml;
    std::string want;
  };
  const std::vector<Case> cases = {
      {app_with("    listen:\n      http: {address: \"127.0.0.1:8000\", port_per_worker: true}\n"),
       "t.yaml:5:58: apps.web.listen.http.port_per_worker: needs mode: worker (each worker binds "
       "its own port; a shared socket is the master's, one for all)"},
      {app_with("    listen:\n      http: {address: \"127.0.0.1:0\", mode: worker, "
                "port_per_worker: true}\n"),
       "t.yaml:5:69: apps.web.listen.http.port_per_worker: needs a port other than 0 (worker N "
       "binds the port + N)"},
      {app_with("    instances: 4\n    listen:\n      http: {address: \"127.0.0.1:65533\", mode: "
                "worker, port_per_worker: true}\n"),
       "t.yaml:6:73: apps.web.listen.http.port_per_worker: ports 65533-65536 (one per worker, "
       "instances: 4) pass 65535"},
      {app_with("    instances: 4\n" + own + "      admin: {address: \"127.0.0.1:8003\"}\n"),
       "t.yaml:6:72: apps.web.listen.http.port_per_worker: ports 8000-8003 (one per worker, "
       "instances: 4) overlap 127.0.0.1:8003 of apps.web.listen.admin at line 7"},
      {app_with("    ready: tcp\n    listen:\n      http: {address: \"127.0.0.1:8000\", mode: "
                "reuseport}\n"),
       "t.yaml:4:12: apps.web.ready: ready: tcp probes each worker's own port: it needs a "
       "listener with mode: worker and port_per_worker: true, and the app has none (a probe to "
       "a shared or reuseport socket cannot tell which worker answered)"},
      {app_with("    ready: {http: \"GET /healthz\", listener: api}\n" + own),
       "t.yaml:4:12: apps.web.ready: ready: http names listener 'api', which the app does not "
       "have"},
      {app_with("    ready: {tcp: admin}\n" + own + "      admin: \"127.0.0.1:9000\"\n"),
       "t.yaml:4:12: apps.web.ready: ready: tcp probes each worker's own port: listener 'admin' "
       "needs mode: worker and port_per_worker: true (a probe to a shared or reuseport socket "
       "cannot tell which worker answered)"},
      {app_with("    ready: http\n" + own),
       "t.yaml:4:12: apps.web.ready: http needs the request to send: ready: {http: \"GET "
       "/healthz\"}"},
      {app_with("    ready: {http: \"get /x y\"}\n" + own),
       "t.yaml:4:19: apps.web.ready.http: expected \"METHOD /path\" (an upper-case method, a path "
       "of at most 1024 printable characters without spaces), got 'get /x y'"},
      {app_with("    ready: {http: \"GET /\", interval: 1ms}\n" + own),
       "t.yaml:4:38: apps.web.ready.interval: expected at least 10ms, got 1ms"},
      {app_with("    ready: {http: \"GET /\", tcp: http}\n" + own),
       "t.yaml:4:28: apps.web.ready.tcp: a probe is http or tcp, not both"},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    CHECK(test::joined(errors_of(c.yaml)) == c.want + "\n");
  }
  const config::Config ok = test::parse_ok(
      app_with("    instances: 3\n    ready: {http: \"HEAD /up\", interval: 100ms}\n" + own));
  const config::AppSpec& app = ok.apps.at(0);
  CHECK(app.ready == config::ReadyMode::Http);
  CHECK(app.probe == config::ReadyProbe{"HEAD", "/up", "http", 100ms});
}

TEST_CASE("the daemon probes each starting worker on its port, and stops at its exit") {
  test::Loop loop(
      "control: { socket: /run/test/ctl.sock }\n"
      "apps:\n"
      "  web:\n"
      "    command: [\"/bin/web\"]\n"
      "    instances: 2\n"
      "    ready: { http: \"GET /healthz\", interval: 100ms }\n"
      "    listen:\n"
      "      http: { address: \"127.0.0.1:8000\", mode: worker, port_per_worker: true }\n");
  REQUIRE(loop.host.probes_active.size() == 2);
  std::set<std::string> targets;
  for (const auto& [handle, attempt] : loop.host.probes_active) {
    targets.insert(attempt.address.text);
    CHECK(attempt.limit == 90ms);  // ends before the next try is due
    const auto& env = loop.host.workers.at(handle).request.env;
    CHECK(std::count(env.begin(), env.end(), "CLUSTER_LISTEN_HTTP=" + attempt.address.text) == 1);
  }
  CHECK(targets == std::set<std::string>{"127.0.0.1:8000", "127.0.0.1:8001"});
  // Each try ends before the lane asks for the next one (interval 100ms): a server that accepts
  // and never answers is reported, not cut off by the next try.
  for (const auto& [worker, attempt] : loop.host.probes_started) {
    CHECK(attempt.limit < std::chrono::milliseconds(100));
    CHECK(attempt.limit >= std::chrono::milliseconds(80));
  }
  const daemon::WorkerHandle first = loop.host.probes_active.begin()->first;
  const daemon::WorkerHandle second = std::next(loop.host.probes_active.begin())->first;
  loop.daemon->on_probe(first, {core::ProbeReply::Kind::Answered, "", "HTTP/1.1 200 OK\r\n"});
  loop.host.probes_active.erase(first);  // the host forgets a try that ended
  loop.daemon->on_probe(second, {core::ProbeReply::Kind::Answered, "", "HTTP/1.1 503 No\r\n"});
  loop.host.probes_active.erase(second);
  const std::size_t tries = loop.host.probes_started.size();
  loop.advance(100ms);  // the next try of the one not ready, none for the ready one
  REQUIRE(loop.host.probes_started.size() == tries + 1);
  CHECK(loop.host.probes_started.back().first == second);
  loop.exit(second, core::ExitStatus::exited(1));
  CHECK(loop.host.probes_active.count(second) == 0);  // no probe outlives its worker
  const std::size_t after = loop.host.probes_started.size();
  loop.advance(100ms);
  for (std::size_t i = after; i < loop.host.probes_started.size(); ++i) {
    CHECK(loop.host.probes_started[i].first != second);
  }
}

TEST_CASE("a worker still probed at a live upgrade is probed by the new master until ready") {
  const std::string yaml =
      "control: { socket: /run/test/ctl.sock }\n"
      "apps:\n"
      "  web:\n"
      "    command: [\"/bin/web\"]\n"
      "    instances: 1\n"
      "    ready: { http: \"GET /healthz\", interval: 100ms }\n"
      "    listen:\n"
      "      http: { address: \"127.0.0.1:8000\", mode: worker, port_per_worker: true }\n";
  test::Loop old(yaml);
  REQUIRE(old.host.probes_active.size() == 1);
  const daemon::WorkerHandle h = old.host.probes_active.begin()->first;
  old.daemon->on_probe(h, {core::ProbeReply::Kind::ConnectFailed, "Connection refused", ""});
  const auto reply = old.request(R"({"cmd":"upgrade","binary":"/new/clusterd"})");
  REQUIRE(reply->finished);
  daemon::UpgradeState state = daemon::decode_upgrade_state(old.host.exec_state);
  test::Loop adopted(std::move(state), old.host.clock);
  REQUIRE(adopted.web().slots[0].current().state() == LaneState::Starting);
  // The probe's timer came over with the lane: at its deadline the new master tries again.
  adopted.advance(100ms);
  REQUIRE(adopted.host.probes_active.size() == 1);
  const auto& [handle, attempt] = *adopted.host.probes_active.begin();
  CHECK(attempt.address.text == "127.0.0.1:8000");
  adopted.daemon->on_probe(handle, {core::ProbeReply::Kind::Answered, "", "HTTP/1.1 200 OK\r\n"});
  CHECK(adopted.web().slots[0].current().state() == LaneState::Running);
}
