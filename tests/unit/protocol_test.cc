#include "supervisor/control/protocol.h"

#include <catch2/catch.hpp>

using namespace clusterd::control;

TEST_CASE("requests decode, with every field checked") {
  Request r = decode_request(R"({"cmd":"scale","app":"web","instances":4})");
  CHECK(r.command == Command::Scale);
  CHECK(*r.app == "web");
  CHECK(*r.instances == 4);
  r = decode_request(R"({"cmd":"restart","app":"web","worker":1})");
  CHECK(r.command == Command::Restart);
  CHECK(*r.worker == 1);
  r = decode_request(R"({"cmd":"status"})");
  CHECK(r.command == Command::Status);
  CHECK_FALSE(r.app);
}

TEST_CASE("bad requests are ProtocolErrors with a message naming the problem") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "invalid JSON"},
      {"[1,2]", "a request must be a JSON object"},
      {"{}", "missing field 'cmd'"},
      {R"({"cmd":5})", "'cmd' must be a string"},
      {R"({"cmd":"explode"})", "unknown command 'explode'; expected one of status, version, scale"},
      {R"({"cmd":"scale","app":"web"})", "missing field 'instances' (or 'delta') for scale"},
      {R"({"cmd":"scale","instances":2})", "missing field 'app' for scale"},
      {R"({"cmd":"scale","app":"web","instances":-1})", "'instances' must be between 0 and"},
      {R"({"cmd":"scale","app":"web","instances":"2"})", "'instances' must be a non-negative"},
      {R"({"cmd":"stop","app":7})", "'app' must be a string"},
      {R"({"cmd":"logs","app":"web","worker":1e99})", "'worker' must be a non-negative"},
      {R"({"cmd":"status","app":"web","worker":1})", "'worker' is not a field of status"},
      {R"({"cmd":"version","app":"web"})", "'app' is not a field of version"},
      {R"({"cmd":"stop","app":"web","instances":3})", "'instances' is not a field of stop"},
  };
  for (const auto& [line, expected] : cases) {
    INFO(line);
    try {
      decode_request(line);
      FAIL("accepted");
    } catch (const ProtocolError& e) {
      CHECK_THAT(e.what(), Catch::Contains(expected));
    }
  }
}

TEST_CASE("a status survives the round trip through the wire format") {
  StatusSnapshot s;
  s.master.pid = 123;
  s.master.threads = 1;
  s.master.rss_kb = 2048;
  s.master.uptime_s = 5.5;
  s.master.config = "/etc/clusterd.yaml";
  s.master.version = "0.1.0";
  s.master.cgroups = "per-worker cgroups under /cg/workers (cgroups: /cg)";
  AppStatus app;
  app.name = "web";
  app.instances = 2;
  app.instances_reason = "2: affinity 0-1, no cgroup quota";
  app.ready = 1;
  app.generation = 1;
  WorkerStatus w;
  w.id = 0;
  w.pid = 456;
  w.state = "running";
  w.threads = 4;
  w.processes = 2;
  w.last_exit = "signal SIGKILL";
  w.status_text = "serving";
  w.pss_kb = 900;
  w.uss_kb = 300;
  w.fds = 9;
  w.queues = {{"http", 3, 128}};
  w.cgroup = "/cg/workers/web/0/1";
  app.workers.push_back(w);
  app.queues = {{"admin", 0, 64}};
  app.rollout = "canary";
  WorkerStatus idle;
  idle.id = 1;
  idle.state = "backoff";
  app.workers.push_back(idle);
  s.apps.push_back(app);
  s.totals = {4, 7};
  const std::string line = encode_status(s).text;
  CHECK(line.back() == '\n');
  CHECK_THAT(line, Catch::Contains(R"("v":1)"));
  CHECK_THAT(line, Catch::Contains(R"("pid":null)"));
  const Reply reply = decode_reply(line.substr(0, line.size() - 1));
  REQUIRE(reply.ok);
  REQUIRE(reply.status);
  CHECK(reply.status->master.pid == 123);
  CHECK(reply.status->apps.at(0).workers.at(0).threads == 4);
  CHECK(reply.status->apps.at(0).workers.at(0).last_exit == "signal SIGKILL");
  CHECK(reply.status->apps.at(0).workers.at(1).pid == 0);
  CHECK(reply.status->totals.threads == 7);
  CHECK(reply.status->master.cgroups == s.master.cgroups);
  const WorkerStatus& got = reply.status->apps.at(0).workers.at(0);
  CHECK(got.pss_kb == 900);
  CHECK(got.uss_kb == 300);
  CHECK(got.fds == 9);
  REQUIRE(got.queues.size() == 1);
  CHECK(got.queues[0].listener == "http");
  CHECK(got.queues[0].queued == 3);
  CHECK(got.queues[0].limit == 128);
  CHECK(got.cgroup == "/cg/workers/web/0/1");
  CHECK(reply.status->apps.at(0).workers.at(1).cgroup.empty());
  CHECK(reply.status->apps.at(0).queues.at(0).listener == "admin");
  CHECK(reply.status->apps.at(0).rollout == "canary");
  // `status --json` prints the reply's object as is: the same text as through the snapshot.
  CHECK(reply_status_json(line.substr(0, line.size() - 1)) == status_json(*reply.status));
  CHECK_FALSE(reply_status_json(encode_error("no app named 'x'").text));
  CHECK_FALSE(reply_status_json(encode_done("ok").text));
  CHECK_FALSE(reply_status_json("{not json"));
}

TEST_CASE("errors and requests encode as single lines") {
  const std::string error = encode_error("no app named 'x'").text;
  // Keys in the order written, as docs/control-protocol.md shows them: v, ok, then the rest.
  CHECK(error == "{\"v\":1,\"ok\":false,\"error\":\"no app named 'x'\"}\n");
  Request r;
  r.command = Command::Restart;
  r.app = "web";
  r.worker = 2;
  CHECK(decode_request(encode_request(r)).worker == 2u);
  CHECK_THROWS_AS(decode_reply("{}"), ProtocolError);
}

TEST_CASE("logs and events requests carry lines, since and follow; records round-trip") {
  Request r = decode_request(
      R"({"cmd":"logs","app":"web","worker":2,"lines":5,"since_s":60,"follow":true})");
  CHECK(r.command == Command::Logs);
  CHECK(*r.lines == 5);
  CHECK(*r.since_ms == 60000);
  CHECK(r.follow);
  CHECK(decode_request(encode_request(r)).since_ms == 60000u);
  CHECK_THROWS_WITH(decode_request(R"({"cmd":"events","follow":1})"),
                    "'follow' must be true or false");
  LogRecord log{7, 1800000000000, "web", 2, 3, 4242, true, false, "bad \xff byte"};
  const Reply got = decode_reply(encode_log(log).text);
  REQUIRE(got.log);
  CHECK(got.more());
  CHECK(got.log->seq == 7);
  CHECK(got.log->err);
  CHECK(got.log->text == "bad \xEF\xBF\xBD byte");  // invalid UTF-8 becomes U+FFFD
  EventRecord event{9, 1800000000000, "exited", "web", -1, 0, 0, "signal SIGKILL"};
  const Reply e = decode_reply(encode_event(event).text);
  REQUIRE(e.event);
  CHECK(e.event->worker == -1);
  CHECK(e.event->reason == "signal SIGKILL");
  CHECK(record_json(event).find("\"worker\":null") != std::string::npos);
}

TEST_CASE("a status request asks for the costly numbers only with detail: true") {
  CHECK_FALSE(decode_request(R"({"cmd":"status"})").detail);
  CHECK(decode_request(R"({"cmd":"status","detail":true})").detail);
  CHECK_THROWS_WITH(decode_request(R"({"cmd":"status","detail":"no"})"),
                    "'detail' must be true or false");
  Request r;
  r.command = Command::Status;
  CHECK(encode_request(r).find("detail") == std::string::npos);
  r.detail = true;
  CHECK(decode_request(encode_request(r)).detail);
}

TEST_CASE("scale takes a count or \"auto\"") {
  const Request r = decode_request(R"({"cmd":"scale","app":"web","instances":"auto"})");
  CHECK(r.instances_auto);
  CHECK_FALSE(r.instances);
  CHECK(decode_request(encode_request(r)).instances_auto);
  CHECK_FALSE(decode_request(R"({"cmd":"scale","app":"web","instances":3})").instances_auto);
  CHECK_THROWS_WITH(decode_request(R"({"cmd":"scale","app":"web","instances":"many"})"),
                    Catch::StartsWith("'instances' must be a non-negative"));
}

TEST_CASE("scale takes a delta instead of a count: +N or -N workers from the count it has") {
  Request r = decode_request(R"({"cmd":"scale","app":"web","delta":1})");
  CHECK(r.delta == 1);
  CHECK_FALSE(r.instances);
  CHECK_FALSE(r.instances_auto);
  CHECK(decode_request(R"({"cmd":"scale","app":"web","delta":-65536})").delta == -65536);
  CHECK(decode_request(R"({"cmd":"scale","app":"web","delta":65536})").delta == 65536);
  r.delta = -2;
  CHECK(encode_request(r) == "{\"cmd\":\"scale\",\"app\":\"web\",\"delta\":-2}\n");
  CHECK(decode_request(encode_request(r)).delta == -2);
  // Old requests keep working, and say nothing of a delta.
  CHECK_FALSE(decode_request(R"({"cmd":"scale","app":"web","instances":3})").delta);
  // Other verbs refuse it, as any field they do not take.
  CHECK_THROWS_WITH(decode_request(R"({"cmd":"status","delta":"x"})"),
                    "'delta' is not a field of status");
  const std::string range = "'delta' must be a non-zero integer from -65536 to 65536";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"cmd":"scale","app":"web","delta":0})", range},
      {R"({"cmd":"scale","app":"web","delta":65537})", range},
      {R"({"cmd":"scale","app":"web","delta":-65537})", range},
      {R"({"cmd":"scale","app":"web","delta":18446744073709551615})", range},  // not -1
      {R"({"cmd":"scale","app":"web","delta":-9223372036854775808})", range},
      {R"({"cmd":"scale","app":"web","delta":1.5})", range},
      {R"({"cmd":"scale","app":"web","delta":"+1"})", range},
      {R"({"cmd":"scale","app":"web","delta":null})", range},
      {R"({"cmd":"scale","app":"web","delta":1,"instances":3})",
       "'instances' and 'delta' exclude each other: give one"},
      {R"({"cmd":"scale","app":"web","delta":1,"instances":"auto"})",
       "'instances' and 'delta' exclude each other: give one"},
  };
  for (const auto& [line, expected] : cases) {
    INFO(line);
    CHECK_THROWS_WITH(decode_request(line), expected);
  }
}
