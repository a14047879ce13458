// Worker output and lifecycle events in the daemon, over the fake host: lines attributed to
// their slot, where each mode sends them, the ring and the follow of `clusterctl logs`, the
// events of a crash, and drops counted when a sink is behind.
#include <catch2/catch.hpp>
#include <csignal>

#include "daemon_loop.h"

using namespace clusterd;
using test::Loop;
using test::web_config;

namespace {

std::vector<control::Reply> replies(const test::RecordingReply& reply) {
  std::vector<control::Reply> out;
  for (const std::string& line : reply.lines) out.push_back(control::decode_reply(line));
  return out;
}

std::vector<std::string> texts(const test::RecordingReply& reply) {
  std::vector<std::string> out;
  for (const control::Reply& r : replies(reply)) {
    if (r.log)
      out.push_back(r.log->app + "[" + std::to_string(r.log->worker) + "] " +
                    std::to_string(r.log->pid) + (r.log->err ? " err " : " out ") + r.log->text);
  }
  return out;
}

std::vector<std::string> kinds(const test::RecordingReply& reply, int worker) {
  std::vector<std::string> out;
  for (const control::Reply& r : replies(reply)) {
    if (r.event && r.event->worker == worker) out.push_back(r.event->kind);
  }
  return out;
}

}  // namespace

TEST_CASE("logs: a worker's lines are attributed to its app, slot, generation and pid") {
  Loop loop(web_config("2", "    logs: capture\n"));
  REQUIRE(loop.host.workers.at(1).request.capture_output);
  loop.daemon->on_output(1, daemon::OutputStream::Out, "first\nsec");
  loop.daemon->on_output(2, daemon::OutputStream::Err, "other\n");
  loop.daemon->on_output(1, daemon::OutputStream::Out, "ond\n");
  const auto reply = loop.request(R"({"cmd":"logs","app":"web"})");
  CHECK(texts(*reply) == std::vector<std::string>{"web[0] 1000 out first", "web[1] 1001 err other",
                                                  "web[0] 1000 out second"});
  CHECK(reply->last().message == "3 lines");
  const auto one = loop.request(R"({"cmd":"logs","worker":1})");
  CHECK(texts(*one) == std::vector<std::string>{"web[1] 1001 err other"});
}

TEST_CASE("logs: the unterminated rest of a stream is a line when the stream ends") {
  Loop loop(web_config("1", "    logs: capture\n"));
  loop.daemon->on_output(1, daemon::OutputStream::Out, "last words");
  loop.daemon->on_output_end(1, daemon::OutputStream::Out);
  CHECK(texts(*loop.request(R"({"cmd":"logs"})")) ==
        std::vector<std::string>{"web[0] 1000 out last words"});
}

TEST_CASE("logs: inherit gives the worker the master's own output, nothing captured") {
  Loop loop(web_config("1", "    logs: inherit\n"));
  CHECK_FALSE(loop.host.workers.at(1).request.capture_output);
}

TEST_CASE("logs: auto is journal when clusterd's own output is the journal, else capture") {
  Loop plain(web_config("1"));
  Loop journal(web_config("1"), [](test::FakeHost& h) { h.journal_stderr = true; });
  plain.daemon->on_output(1, daemon::OutputStream::Out, "x\n");
  journal.daemon->on_output(1, daemon::OutputStream::Out, "x\n");
  CHECK(plain.host.journal.empty());
  CHECK(journal.host.journal.size() == 1);
  const auto status = journal.request(R"({"cmd":"status"})")->last().status;
  REQUIRE(status);
  CHECK(status->apps[0].logs == "journal");
}

TEST_CASE("logs: journal mode sends each line with the app's fields, in the worker's name") {
  Loop loop(web_config("1", "    logs: journal\n"));
  loop.daemon->on_output(1, daemon::OutputStream::Err, "<4>disk almost full\n");
  REQUIRE(loop.host.journal.size() == 1);
  const daemon::JournalEntry& e = loop.host.journal[0];
  CHECK(e.pid == 1000);
  for (const char* field : {"MESSAGE=disk almost full\n", "PRIORITY=4\n", "SYSLOG_IDENTIFIER=web\n",
                            "CLUSTERD_APP=web\n", "CLUSTERD_WORKER=0\n", "CLUSTERD_GENERATION=1\n",
                            "CLUSTERD_PID=1000\n", "CLUSTERD_STREAM=stderr\n"}) {
    CHECK(e.fields.find(field) != std::string::npos);
  }
}

TEST_CASE("logs: capture writes timestamped, attributed, escaped lines to the app's file") {
  Loop loop(web_config("1", "    logs: { file: /var/log/web.log, console: false }\n"));
  loop.daemon->on_output(1, daemon::OutputStream::Out, "GET /\n\x1b]0;title\x07\n");
  const std::string& file = loop.host.files["/var/log/web.log"];
  CHECK(file ==
        "2027-01-15T08:00:00.000Z web[0] out: GET /\n"
        "2027-01-15T08:00:00.000Z web[0] out: \\x1b]0;title\\x07\n");
}

TEST_CASE("logs: what a sink behind drops is counted in status, not waited for") {
  Loop loop(web_config("1", "    logs: { file: /var/log/web.log, console: false }\n"));
  loop.host.files_full = true;
  loop.daemon->on_output(1, daemon::OutputStream::Out, "0123456789\nabc\n");
  const auto status = loop.request(R"({"cmd":"status"})")->last().status;
  REQUIRE(status);
  CHECK(status->apps[0].log_dropped_bytes == 89);  // both lines as the file would have had them
  CHECK(texts(*loop.request(R"({"cmd":"logs"})")).size() == 2);  // the ring still has them
}

TEST_CASE("logs: lines the file's writer could not write are dropped, counted to its app") {
  Loop loop(web_config("1", "    logs: { file: /var/log/web.log, console: false }\n"));
  loop.daemon->on_output(1, daemon::OutputStream::Out, "refused\n");
  loop.host.files_lost = {{"/var/log/web.log", 42}, {"/var/log/unknown.log", 7}};
  const auto status = loop.request(R"({"cmd":"status"})")->last().status;
  REQUIRE(status);
  CHECK(status->apps[0].log_dropped_bytes == 42);
}

TEST_CASE("logs: a follow gets new lines across a restart and a reload, until it goes") {
  Loop loop(web_config("1", "    logs: capture\n"));
  loop.ready_all();
  const auto follow = loop.request(R"({"cmd":"logs","app":"web","lines":0,"follow":true})");
  loop.daemon->on_output(1, daemon::OutputStream::Out, "before\n");
  loop.exit(1, core::ExitStatus::signaled(SIGKILL));
  loop.advance(std::chrono::seconds(1));
  REQUIRE(loop.alive().size() == 1);
  const daemon::WorkerHandle second = loop.alive()[0];
  loop.daemon->on_output(second, daemon::OutputStream::Out, "after restart\n");
  loop.ready_all();
  loop.host.config_text = web_config("1", "    logs: capture\n    env: { V: \"2\" }\n");
  loop.daemon->on_signal(SIGHUP);
  loop.advance(std::chrono::seconds(1));
  loop.ready_all();
  loop.advance(std::chrono::seconds(10));
  const daemon::WorkerHandle third = loop.alive().back();
  REQUIRE(third != second);
  loop.daemon->on_output(third, daemon::OutputStream::Out, "after reload\n");
  CHECK_FALSE(follow->finished);
  const auto got = texts(*follow);
  REQUIRE(got.size() == 3);
  CHECK(got[0] == "web[0] 1000 out before");
  CHECK(got[1].find("out after restart") != std::string::npos);
  CHECK(got[2].find("out after reload") != std::string::npos);
  for (const control::Reply& r : replies(*follow)) {
    if (r.log && r.log->text == "after reload") CHECK(r.log->generation == 2);
  }
}

TEST_CASE("events: a worker killed with SIGKILL is one exited, one spawned and one ready") {
  Loop loop(web_config("2"));
  loop.ready_all();
  const auto follow = loop.request(R"({"cmd":"events","lines":0,"follow":true})");
  loop.host.clock += std::chrono::seconds(5);
  loop.exit(1, core::ExitStatus::signaled(SIGKILL));
  loop.ready_all();
  CHECK(kinds(*follow, 0) == std::vector<std::string>{"exited", "spawned", "ready"});
  CHECK(kinds(*follow, 1).empty());
  const auto events = replies(*follow);
  CHECK(events[0].event->pid == 1000);
  CHECK(events[0].event->reason == "signal SIGKILL");
  CHECK(events[1].event->pid == 1002);
  CHECK(events[1].event->generation == 1);
}

TEST_CASE("events: the history answers without follow, newest last, with the same fields") {
  Loop loop(web_config("1"));
  loop.ready_all();
  loop.host.config_text = "apps: [broken";
  loop.daemon->on_signal(SIGHUP);
  const auto reply = loop.request(R"({"cmd":"events"})");
  const auto all = replies(*reply);
  REQUIRE(all.size() >= 3);
  CHECK(all[0].event->kind == "spawned");
  CHECK(all[1].event->kind == "ready");
  const control::EventRecord& refused = *all[all.size() - 2].event;
  CHECK(refused.kind == "reload-refused");
  CHECK(refused.app.empty());
  CHECK(refused.worker == -1);
  CHECK(reply->last().message == std::to_string(all.size() - 1) + " events");
}

TEST_CASE("backoff: the delay is shortened by jitter times the host's random draw") {
  Loop loop(web_config("1", "    backoff: { initial: 1s, max: 10s, jitter: 50% }\n"));
  loop.host.chances = {0.5};
  loop.exit(1, core::ExitStatus::exited(1));  // a quick death: backoff
  REQUIRE(loop.web().slots[0].lanes[0].state() == core::LaneState::Backoff);
  loop.advance(std::chrono::milliseconds(749));
  CHECK(loop.alive().empty());
  loop.advance(std::chrono::milliseconds(1));
  CHECK(loop.alive().size() == 1);  // 1s - 1s * 0.5 * 0.5
}

TEST_CASE("logs: flush empties the app's ring and its file, then new lines come as before") {
  Loop loop(web_config("1", "    logs: { file: /var/log/web.log, console: false }\n"));
  loop.daemon->on_output(1, daemon::OutputStream::Out, "one\ntwo\n");
  REQUIRE_FALSE(loop.host.files["/var/log/web.log"].empty());
  CHECK(loop.request(R"({"cmd":"flush","app":"web"})")->last().message ==
        "flushed web: 2 lines, /var/log/web.log emptied");
  CHECK(texts(*loop.request(R"({"cmd":"logs","app":"web"})")).empty());
  CHECK(loop.host.files["/var/log/web.log"].empty());
  loop.daemon->on_output(1, daemon::OutputStream::Out, "three\n");
  CHECK(texts(*loop.request(R"({"cmd":"logs"})")) ==
        std::vector<std::string>{"web[0] 1000 out three"});
  CHECK(loop.request(R"({"cmd":"flush"})")->last().message ==
        "flushed web: 1 line, /var/log/web.log emptied");
  CHECK_FALSE(loop.request(R"({"cmd":"flush","app":"nope"})")->last().ok);
}
