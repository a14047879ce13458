#include "supervisor/control/protocol.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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
  s.detail = true;  // every field is written
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

namespace {

// A prefork worker of a large host as a plain status shows it: a 7-digit pid, a day's uptime,
// 64 CPUs, a status text, a restart whose last exit is set by the caller.
WorkerStatus wide_worker(unsigned id, const std::string& last_exit = "") {
  WorkerStatus w;
  w.id = id;
  w.pid = 4194000 + static_cast<int>(id);
  w.state = "running";
  w.generation = 2;
  w.uptime_s = 86399.123456789;
  w.restarts = 1;
  w.threads = 4;
  w.rss_kb = 123456;
  w.cpu_percent = 99.987654321;
  w.cpus = "0-63";
  w.processes = 1;
  w.tree_threads = 4;
  w.last_exit = last_exit;
  w.status_text = "serving on 1 sockets";
  w.cpu_user_s = 12.5;  // read always; written only with detail
  w.cgroup = "/sys/fs/cgroup/clusterd/workers/web/" + std::to_string(id);
  return w;
}

}  // namespace

TEST_CASE("a plain status is at most 250 bytes a worker, and decodes every field it shows") {
  constexpr unsigned n = 1024;
  StatusSnapshot s;
  s.master.pid = 1;
  AppStatus app;
  app.name = "web";
  app.instances = n;
  for (unsigned i = 0; i < n; ++i) app.workers.push_back(wide_worker(i));
  s.apps.push_back(app);
  const std::string line = encode_status(s).text;
  INFO(line.substr(0, 600));
  CHECK(line.size() / n <= 250);
  // The last worker ended once before: its last exit decodes too.
  s.apps[0].workers.back() = wide_worker(n - 1, "signal SIGKILL");
  const Reply reply = decode_reply(encode_status(s).text);
  REQUIRE(reply.status);
  CHECK_FALSE(reply.status->detail);
  REQUIRE(reply.status->apps.at(0).workers.size() == n);
  const WorkerStatus& got = reply.status->apps[0].workers[n - 1];
  const WorkerStatus want = wide_worker(n - 1, "signal SIGKILL");
  CHECK(got.id == want.id);
  CHECK(got.pid == want.pid);
  CHECK(got.state == want.state);
  CHECK(got.generation == want.generation);
  CHECK(got.uptime_s == Approx(want.uptime_s).margin(0.0005));  // to the millisecond
  CHECK(got.restarts == want.restarts);
  CHECK(got.threads == want.threads);
  CHECK(got.rss_kb == want.rss_kb);
  CHECK(got.cpu_percent == Approx(want.cpu_percent).margin(0.005));
  CHECK(got.cpus == want.cpus);
  CHECK(got.processes == want.processes);
  CHECK(got.tree_threads == want.tree_threads);
  CHECK(got.last_exit == want.last_exit);
  CHECK(got.status_text == want.status_text);
  // Left out: what only --detail shows decodes as "not read", the defaults as themselves.
  CHECK(got.pss_kb == -1);
  CHECK(got.uss_kb == -1);
  CHECK(got.fds == -1);
  CHECK(got.tree_cpu_user_s == -1);
  CHECK(got.cgroup.empty());
  CHECK(got.last_words.empty());
  CHECK(got.queues.empty());
  // ... and what a plain status must still show when it is there.
  s.apps[0].workers[0].last_words = "bind: Address already in use";
  s.apps[0].workers[0].queues = {{"http", 2, 128}};
  s.apps[0].workers[0].processes = 3;  // children with threads of their own
  s.apps[0].workers[0].tree_threads = 9;
  const Reply again = decode_reply(encode_status(s).text);
  CHECK(again.status->apps[0].workers[0].tree_threads == 9);
  CHECK(again.status->apps[0].workers[0].last_words == "bind: Address already in use");
  CHECK(again.status->apps[0].workers[0].queues.at(0).queued == 2);
  // With detail every field is written, null where unknown, and the decoder knows it was.
  s.detail = true;
  const std::string full = encode_status(s).text;
  CHECK_THAT(full, Catch::Contains(R"("pss_kb":null)"));
  CHECK_THAT(full, Catch::Contains(R"("cgroup":"/sys/fs/cgroup/clusterd/workers/web/0")"));
  CHECK(decode_reply(full).status->detail);
  CHECK(decode_reply(full).status->apps[0].workers[1].cpu_user_s == 12.5);
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

TEST_CASE("describe: env values only when asked, secret-looking names always redacted") {
  for (const char* name :
       {"API_KEY", "secret", "GithubToken", "DB_PASSWORD", "pass", "PASSPHRASE", "keyring"}) {
    INFO(name);
    CHECK(secret_name(name));
  }
  for (const char* name : {"PORT", "MODE", "NODE_ENV", "PATH", "K", "PAS"}) {
    INFO(name);
    CHECK_FALSE(secret_name(name));
  }
  Request r = decode_request(R"({"cmd":"describe","app":"web"})");
  CHECK(r.command == Command::Describe);
  CHECK_FALSE(r.env);
  r = decode_request(R"({"cmd":"describe","app":"web","env":true})");
  CHECK(r.env);
  CHECK(decode_request(encode_request(r)).env);
  CHECK_THROWS_AS(decode_request(R"({"cmd":"describe"})"), ProtocolError);
  CHECK_THROWS_AS(decode_request(R"({"cmd":"describe","app":"web","env":1})"), ProtocolError);
  CHECK(spec_of(Command::Describe).role == Role::Read);
}

TEST_CASE("a description goes over the wire whole, and its text is escaped for a terminal") {
  AppDescription d;
  d.name = "web";
  d.fields = {{"command", "node \033[31mserver.js"}, {"ready", "listen"}};
  d.env = {{"MODE", std::nullopt}, {"API_KEY", std::string(kRedacted)}};
  d.listeners = {{"http", "127.0.0.1:8080", "shared", 511, true}};
  d.adopted = {"[::]:3000"};
  d.workers = {{0, "failed", 0, "exit 3", "goodbye"}};
  const Reply reply = decode_reply(encode_describe(d).text);
  REQUIRE(reply.description);
  const AppDescription& back = *reply.description;
  CHECK(back.name == "web");
  CHECK(back.fields == d.fields);
  CHECK(back.env == d.env);
  CHECK(back.adopted == d.adopted);
  REQUIRE(back.listeners.size() == 1);
  CHECK(back.listeners[0].backlog == 511);
  CHECK(back.listeners[0].adopt);
  REQUIRE(back.workers.size() == 1);
  CHECK(back.workers[0].last_words == "goodbye");
  const std::string text = describe_text(back);
  CHECK(text.find('\033') == std::string::npos);
  CHECK(text.find("  API_KEY=(redacted)\n") != std::string::npos);
  CHECK(text.find("  MODE\n") != std::string::npos);
  CHECK(text.find("  http: 127.0.0.1:8080 mode shared backlog 511 adopt\n") != std::string::npos);
  CHECK(text.find("  0: failed; last exit: exit 3: goodbye\n") != std::string::npos);
}

TEST_CASE("status --json prints the status member exactly as the document's dump(2) would") {
  using ojson = nlohmann::ordered_json;
  const std::string inner =
      R"({"z":1,"a":{},"b":[],"c":[{}, [], [1, -2, 3.5e-07, 0.1, 1e+300]],"d":null,)"
      R"("e":true,"f":false,"g":"quote \" newline \n tab \t ctl \u0001 é \ud83d\ude00",)"
      R"("h":{"nested":{"deeper":[{"k":"v"}]}},"i":18446744073709551615,"j":-9223372036854775808,)"
      R"("k":"bad \u00ff utf8","": "empty key"})";
  const std::string line = R"({"v":1,"ok":true,"other":{"status":[1]},"status":)" + inner + "}";
  const std::string expected =
      ojson::parse(line)["status"].dump(2, ' ', false, ojson::error_handler_t::replace);
  CHECK(reply_status_json(line) == expected);
  // Invalid UTF-8 (which the master never sends: it dumps with replacement) is refused whole.
  const std::string raw = std::string(R"({"ok":true,"status":{"s":"a)") + "\xff" + R"(b"}})";
  CHECK_FALSE(reply_status_json(raw));  // the parser refuses it before anything is printed
  // Not ok, or no status object: nothing printed here (the caller decodes the reply).
  CHECK_FALSE(reply_status_json(R"({"ok":false,"status":{}})"));
  CHECK_FALSE(reply_status_json(R"({"ok":true,"status":null})"));
  CHECK_FALSE(reply_status_json(R"({"ok":true,"status":{"a":1})"));  // cut short
  CHECK(reply_status_json(R"({"status":{},"ok":true})") == "{}");
}

TEST_CASE("status: an app's watch decodes; without one, its fields are left out") {
  StatusSnapshot s;
  AppStatus app;
  app.name = "web";
  app.watching = 12;
  app.watch_pending = true;
  s.apps.push_back(app);
  const Reply reply = decode_reply(encode_status(s).text);
  REQUIRE(reply.status);
  CHECK(reply.status->apps.at(0).watching == 12);
  CHECK(reply.status->apps.at(0).watch_pending);
  s.apps[0].watching = 0;
  s.apps[0].watch_pending = false;
  const std::string plain = encode_status(s).text;
  CHECK(plain.find("watch") == std::string::npos);
}
