// The metrics page (daemon/metrics.cc) from a snapshot, and the daemon's endpoint over the fake
// host: what it counts, /healthz, and the endpoint across reloads.
#include "supervisor/daemon/metrics.h"

#include <catch2/catch.hpp>
#include <csignal>
#include <string>

#include "daemon_loop.h"

namespace clusterd {
namespace {

bool has_line(const std::string& page, const std::string& line) {
  return page.find("\n" + line + "\n") != std::string::npos || page.rfind(line + "\n", 0) == 0;
}

control::StatusSnapshot one_worker() {
  control::StatusSnapshot s;
  s.master.version = "1.2.3";
  s.master.rss_kb = 100;
  s.master.cpu_user_s = 0.25;
  s.master.cpu_system_s = 0.5;
  control::AppStatus app;
  app.name = "web";
  app.instances = 2;
  app.instances_reason = "auto: 2 \"cpus\"";
  app.ready = 1;
  app.generation = 3;
  app.queues = {{"http", 5, 128}};
  control::WorkerStatus w;
  w.id = 1;
  w.pid = 42;
  w.state = "running";
  w.generation = 3;
  w.rss_kb = 2;
  w.pss_kb = 1;
  w.processes = 2;
  w.tree_threads = 7;
  w.cpu_user_s = 1.5;
  w.last_exit = "spawn failed: a\\b\nc";
  w.queues = {{"admin", 3, 64}};
  app.workers.push_back(w);
  control::WorkerStatus idle;
  idle.id = 0;
  idle.state = "backoff";
  idle.generation = 3;
  app.workers.push_back(idle);
  s.apps.push_back(app);
  return s;
}

}  // namespace

TEST_CASE("metrics: the text format, base units, escaped labels, only live workers' numbers") {
  daemon::MetricCounters c;
  c.restarts[{"web", 0, "signal"}] = 2;
  c.requests[{"status", "ok"}] = 4;
  const std::string page = daemon::render_metrics(one_worker(), c, false);
  CHECK(has_line(page, "# TYPE clusterd_worker_cpu_seconds_total counter"));
  CHECK(has_line(
      page,
      R"(clusterd_worker_cpu_seconds_total{app="web",worker="1",generation="3",mode="user"} 1.5)"));
  CHECK(has_line(
      page, R"(clusterd_worker_resident_memory_bytes{app="web",worker="1",generation="3"} 2048)"));
  CHECK(has_line(page, R"(clusterd_worker_pss_bytes{app="web",worker="1",generation="3"} 1024)"));
  // USS unknown (-1): no sample rather than a made-up one; the idle slot has up 0 and no numbers.
  CHECK(page.find("clusterd_worker_uss_bytes{") == std::string::npos);
  CHECK(has_line(page, R"(clusterd_worker_up{app="web",worker="0",generation="3"} 0)"));
  CHECK(page.find(R"(clusterd_worker_threads{app="web",worker="0")") == std::string::npos);
  CHECK(has_line(
      page, R"(clusterd_worker_state{app="web",worker="0",generation="3",state="backoff"} 1)"));
  CHECK(has_line(
      page,
      R"(clusterd_worker_last_exit_info{app="web",worker="1",generation="3",last_exit="spawn failed: a\\b\nc"} 1)"));
  CHECK(has_line(page, R"(clusterd_app_instances_info{app="web",reason="auto: 2 \"cpus\""} 1)"));
  CHECK(has_line(page, R"(clusterd_listener_accept_queue{app="web",listener="http"} 5)"));
  CHECK(has_line(
      page, R"(clusterd_listener_accept_queue_limit{app="web",listener="admin",worker="1"} 64)"));
  CHECK(
      has_line(page, R"(clusterd_worker_restarts_total{app="web",worker="0",reason="signal"} 2)"));
  CHECK(has_line(page, R"(clusterd_control_requests_total{verb="status",result="ok"} 4)"));
  CHECK(has_line(page, "process_cpu_seconds_total 0.75"));
  CHECK(has_line(page, R"(clusterd_build_info{version="1.2.3"} 1)"));
  CHECK(page.find("# EOF") == std::string::npos);
  CHECK(page.find("pid=") == std::string::npos);
}

TEST_CASE("metrics: OpenMetrics names counters and infos by their family, and ends with # EOF") {
  const std::string page = daemon::render_metrics(one_worker(), {}, true);
  CHECK(has_line(page, "# TYPE clusterd_worker_cpu_seconds counter"));
  CHECK(has_line(page, "# TYPE clusterd_build info"));
  CHECK(has_line(page, R"(clusterd_build_info{version="1.2.3"} 1)"));
  CHECK(has_line(page, "# TYPE clusterd_reloads counter"));
  CHECK(has_line(page, R"(clusterd_reloads_total{result="refused"} 0)"));
  CHECK(page.size() > 6);
  CHECK(page.substr(page.size() - 6) == "# EOF\n");
  CHECK(std::string(daemon::metrics_content_type(true)).rfind("application/openmetrics-text", 0) ==
        0);
}

TEST_CASE("metrics: /healthz is 503 naming the apps short of ready workers") {
  control::StatusSnapshot s = one_worker();
  daemon::HttpResponse r = daemon::health(s);
  CHECK(r.status == 503);
  CHECK(r.body == "web: 1/2 ready\n");
  s.apps[0].ready = 2;
  CHECK(daemon::health(s).status == 200);
}

TEST_CASE("daemon: the metrics endpoint counts restarts, requests and reloads, and moves") {
  test::Loop loop(test::web_config("2", "") + "metrics: \"127.0.0.1:9100\"\n");
  REQUIRE(loop.host.metrics.size() == 1);
  CHECK(loop.host.metrics_addresses == std::vector<std::string>{"127.0.0.1:9100"});
  const auto get = [&](const std::string& path) {
    return loop.host.metrics.begin()->second(daemon::HttpRequest{path, false, "127.0.0.1", false});
  };
  CHECK(get("/healthz").status == 503);  // nobody READY=1 yet
  loop.ready_all();
  CHECK(get("/healthz").status == 200);
  CHECK(get("/other").status == 404);

  // A worker killed from outside is a restart, by reason; a stop is not.
  const daemon::WorkerHandle first = loop.alive().front();
  loop.exit(first, core::ExitStatus::signaled(SIGKILL));
  loop.ready_all();
  auto reply = loop.request(R"({"cmd":"status"})");
  loop.request(R"({"cmd":"scale","app":"nope","instances":2})");
  loop.request(R"({"cmd":"stop","app":"web"})");
  for (daemon::WorkerHandle h : loop.alive()) loop.exit(h, core::ExitStatus::exited(0));
  std::string page = get("/metrics").body;
  CHECK(
      has_line(page, R"(clusterd_worker_restarts_total{app="web",worker="0",reason="signal"} 1)"));
  CHECK(page.find("reason=\"exit\"") == std::string::npos);
  CHECK(has_line(page, R"(clusterd_control_requests_total{verb="status",result="ok"} 1)"));
  CHECK(has_line(page, R"(clusterd_control_requests_total{verb="scale",result="error"} 1)"));
  CHECK(has_line(page, R"(clusterd_control_requests_total{verb="stop",result="ok"} 1)"));
  CHECK(has_line(page, "clusterd_metrics_scrapes_total 1"));

  // A reload that cannot open the new address is refused whole; the old endpoint stays.
  loop.host.config_text = test::web_config("2", "") + "metrics: \"127.0.0.1:9200\"\n";
  loop.host.fail_metrics = true;
  reply = loop.request(R"({"cmd":"reload"})");
  CHECK_THAT(reply->last().error, Catch::Contains("metrics 127.0.0.1:9200"));
  REQUIRE(loop.host.metrics.size() == 1);
  page = get("/metrics").body;
  CHECK(has_line(page, R"(clusterd_reloads_total{result="refused"} 1)"));
  // Then it can: the new one serves, the old one is closed.
  loop.host.fail_metrics = false;
  const int old_id = loop.host.metrics.begin()->first;
  reply = loop.request(R"({"cmd":"reload"})");
  CHECK(reply->last().ok);
  REQUIRE(loop.host.metrics.size() == 1);
  CHECK(loop.host.metrics.begin()->first != old_id);
  CHECK(loop.host.metrics_addresses.back() == "127.0.0.1:9200");
  CHECK(has_line(get("/metrics").body, R"(clusterd_reloads_total{result="applied"} 1)"));
  // And without `metrics:` none.
  loop.host.config_text = test::web_config("2", "");
  CHECK(loop.request(R"({"cmd":"reload"})")->last().ok);
  CHECK(loop.host.metrics.empty());
}

TEST_CASE("daemon: a page is served again until something counted changes or a second passes") {
  test::Loop loop(test::web_config("2", "") + "metrics: \"127.0.0.1:9100\"\n");
  loop.ready_all();
  const auto get = [&](const std::string& peer, bool openmetrics = false) {
    return loop.host.metrics.begin()->second(
        daemon::HttpRequest{"/metrics", openmetrics, peer, false});
  };
  const auto renders = [&](const std::string& page) {
    return has_line(page, "clusterd_metrics_renders_total 1")   ? 1
           : has_line(page, "clusterd_metrics_renders_total 2") ? 2
           : has_line(page, "clusterd_metrics_renders_total 3") ? 3
           : has_line(page, "clusterd_metrics_renders_total 4") ? 4
                                                                : -1;
  };
  std::string first = get("10.0.0.1").body;
  CHECK(renders(first) == 1);
  for (int i = 2; i < 100; ++i) CHECK(get("10.0.0." + std::to_string(i)).body == first);
  CHECK(renders(get("10.0.1.1", true).body) == 2);  // each format its own page
  // A counted request changes what the page shows: the next scrape renders, at once.
  loop.request(R"({"cmd":"status"})");
  std::string page = get("10.0.1.2").body;
  CHECK(renders(page) == 3);
  CHECK(has_line(page, R"(clusterd_control_requests_total{verb="status",result="ok"} 1)"));
  // Unchanged, a second later: rendered anew (gauges move without anything counted).
  loop.advance(std::chrono::milliseconds(999));
  CHECK(get("10.0.1.3").body == page);
  loop.advance(std::chrono::milliseconds(1));
  CHECK(renders(get("10.0.1.4").body) == 4);
}

TEST_CASE("daemon: one peer gets 10 scrapes at once, then 5 a second, /healthz is not rated") {
  test::Loop loop(test::web_config("2", "") + "metrics: \"127.0.0.1:9100\"\n");
  loop.ready_all();
  const auto get = [&](const std::string& path, const std::string& peer, bool trusted = false) {
    return loop.host.metrics.begin()->second(daemon::HttpRequest{path, false, peer, trusted});
  };
  int served = 0;
  for (int i = 0; i < 100; ++i) served += get("/metrics", "127.0.0.1").status == 200;
  CHECK(served == 10);
  daemon::HttpResponse r = get("/metrics", "127.0.0.1");
  CHECK(r.status == 429);
  CHECK(r.body == "too many requests from 127.0.0.1; try again in a second\n");
  CHECK(get("/healthz", "127.0.0.1").status == 200);
  CHECK(get("/metrics", "::1").status == 200);          // another peer
  CHECK(get("/metrics", "uid 0", true).status == 200);  // root on the unix socket
  loop.advance(std::chrono::milliseconds(200));
  CHECK(get("/metrics", "127.0.0.1").status == 200);
  CHECK(get("/metrics", "127.0.0.1").status == 429);
  loop.request(R"({"cmd":"status"})");
  CHECK(has_line(get("/metrics", "::1").body, "clusterd_metrics_throttled_total 92"));
}

TEST_CASE("daemon: a reuseport worker's own accept queue is in its status, a shared one per app") {
  test::Loop loop(test::web_config("2", ""));
  loop.ready_all();
  // The fake host numbers sockets from its first bind on: the two reuseport sockets of web.
  REQUIRE(loop.host.open_fds.size() >= 2);
  const int fd0 = *loop.host.open_fds.begin();
  loop.host.queues[fd0] = {7, 4096};
  auto reply = loop.request(R"({"cmd":"status"})");
  const control::StatusSnapshot s = *reply->last().status;
  REQUIRE(s.apps.size() == 1);
  REQUIRE(s.apps[0].workers.size() == 2);
  REQUIRE(s.apps[0].workers[0].queues.size() == 1);
  CHECK(s.apps[0].workers[0].queues[0].listener == "http");
  CHECK(s.apps[0].workers[0].queues[0].queued == 7);
  CHECK(s.apps[0].workers[0].queues[0].limit == 4096);
  CHECK(s.apps[0].workers[1].queues.empty());  // the fake host knows no queue for that fd
  CHECK(s.apps[0].queues.empty());             // no shared listener
}

}  // namespace clusterd
