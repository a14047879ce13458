// What the random walk of every command (tests/e2e/walk.sh) found, each reduced to its fewest
// moves: the core with a fake clock, the daemon over a fake host, and the kernel for the socket
// cases (the last one was found beside them, not by the walk). Each failed before its fix.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <memory>

#include "daemon_loop.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/os/listen_socket.h"

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;
using test::Loop;
using test::web_config;

namespace {

std::vector<control::EventRecord> events_of(Loop& loop) {
  const auto reply = loop.request(R"({"cmd":"events","lines":1000})");
  std::vector<control::EventRecord> out;
  for (const std::string& line : reply->lines) {
    const control::Reply r = control::decode_reply(line);
    if (r.event) out.push_back(*r.event);
  }
  return out;
}

// Until nothing moves: the workers sent SIGTERM drain and exit, the new ones get ready.
void settle(Loop& loop) {
  for (int round = 0; round < 10; ++round) {
    loop.ready_all();
    bool moved = false;
    for (const daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) {
        loop.exit(h, core::ExitStatus::exited(0));
        moved = true;
      }
    }
    if (!moved) return;
  }
}

daemon::WorkerHandle handle_of(const Loop& loop, int pid) {
  for (const daemon::WorkerHandle h : loop.alive()) {
    if (loop.host.workers.at(h).pid == pid) return h;
  }
  FAIL("no live worker with pid " << pid);
  return 0;
}

// An app of two workers (ready: notify), started, ready, then stopped: every slot idle.
std::unique_ptr<core::Supervisor> stopped_web() {
  core::AppState app;
  app.spec.name = "web";
  app.spec.command = {"/bin/web"};
  app.spec.ready = config::ReadyMode::Notify;
  app.instances = 2;
  auto s = std::make_unique<core::Supervisor>(std::vector<core::AppState>{app});
  const core::TimePoint now{};
  int pid = 100;
  for (const auto& a : s->start_all(now)) {
    s->on(a.slot, core::Spawned{pid++}, now);
    s->on(a.slot, core::Ready{}, now);
  }
  s->stop_app(0, now);
  for (unsigned i = 0; i < 2; ++i) s->on({0, i, 0}, core::Exited{core::ExitStatus::exited(0)}, now);
  return s;
}

}  // namespace

TEST_CASE("walk: a slot scaled away is `stopped` with its number and its worker's generation") {
  Loop loop(web_config("3"));
  loop.ready_all();
  loop.host.config_text = web_config("1", "    env: { V: \"2\" }\n");
  loop.request(R"({"cmd":"reload","wait":false})");
  settle(loop);
  REQUIRE(loop.web().slots.size() == 1);
  REQUIRE(loop.web().generation == 2);
  std::vector<int> gone;
  for (const control::EventRecord& e : events_of(loop)) {
    if (e.kind != "stopped") continue;
    CHECK(e.worker >= 0);
    if (e.worker > 0) {
      CHECK(e.generation == 1);  // the worker's, not the app's 2
      gone.push_back(e.worker);
    }
  }
  std::sort(gone.begin(), gone.end());
  CHECK(gone == std::vector<int>{1, 2});
}

TEST_CASE("walk: a memory-limit event names the generation of the worker it replaces") {
  const std::string limit = "    max_memory: 100M\n";
  Loop loop(web_config("1", limit));
  loop.ready_all();
  loop.host.config_text = web_config("1", limit + "    env: { V: \"2\" }\n");
  loop.request(R"({"cmd":"reload","wait":false})");
  settle(loop);
  REQUIRE(loop.web().slots[0].active == 1);  // generation 2 serves from the other lane
  const int pid = loop.web().slots[0].current().pid();
  loop.daemon->on_memory_high(handle_of(loop, pid), 200 * 1024);
  unsigned found = 0;
  for (const control::EventRecord& e : events_of(loop)) {
    if (e.kind != "memory-limit") continue;
    ++found;
    CHECK(e.pid == pid);
    CHECK(e.worker == 0);
    CHECK(e.generation == 2);
  }
  CHECK(found == 1);
}

TEST_CASE("walk: a reload that removes slots and fails gives them back with the rollback") {
  Loop loop(web_config("3"));
  loop.ready_all();
  loop.host.config_text = web_config("1", "    env: { V: \"2\" }\n");
  loop.request(R"({"cmd":"reload","wait":false})");
  const daemon::WorkerHandle canary = loop.alive().back();
  SECTION("the canary fails while the removed slots' workers still drain") {
    loop.exit(canary, core::ExitStatus::exited(1));
  }
  SECTION("the canary fails once the removed slots are gone, their sockets closed") {
    for (const daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
    }
    REQUIRE(loop.web().slots.size() == 1);
    loop.exit(canary, core::ExitStatus::exited(1));
  }
  settle(loop);
  CHECK_FALSE(loop.web().rollout);
  CHECK(loop.web().generation == 1);
  CHECK(loop.web().instances == 3);
  REQUIRE(loop.web().slots.size() == 3);
  for (const core::Slot& slot : loop.web().slots) {
    CHECK(slot.current().state() == LaneState::Running);
    CHECK(slot.current().generation() == 1);
  }
  CHECK(loop.alive().size() == 3);
  CHECK(loop.host.not_listening.empty());
}

TEST_CASE("walk: the idle slots of a stopped app show the generation `start` will run") {
  const std::unique_ptr<core::Supervisor> s = stopped_web();
  const core::TimePoint now{};
  s->scale(0, 3, "3: test", now);
  CHECK(s->apps()[0].slots[2].current().generation() == 1);  // never ran: not 0
  config::AppSpec next = s->apps()[0].spec;
  next.env = {{"V", "2"}};
  s->roll(0, next, 3, "3: test", now);
  REQUIRE(s->apps()[0].generation == 2);
  for (const core::Slot& slot : s->apps()[0].slots) CHECK(slot.current().generation() == 2);
}

TEST_CASE("walk: a generation `start` ran after a stopped reload is the one to roll back to") {
  const std::unique_ptr<core::Supervisor> s = stopped_web();
  const core::TimePoint now{};
  config::AppSpec second = s->apps()[0].spec;
  second.env = {{"V", "2"}};
  s->roll(0, second, 2, "2: test", now);
  int pid = 200;
  for (const auto& a : s->start_app(0, now).actions) {
    if (!std::holds_alternative<core::Spawn>(a.action)) continue;
    s->on(a.slot, core::Spawned{pid++}, now);
    s->on(a.slot, core::Ready{}, now);
  }
  CHECK(s->apps()[0].good_generation == 2);  // every slot runs it, ready
  config::AppSpec third = second;
  third.env = {{"V", "3"}};
  for (const auto& a : s->roll(0, third, 2, "2: test", now).actions) {
    if (!std::holds_alternative<core::Spawn>(a.action)) continue;
    s->on(a.slot, core::Spawned{pid++}, now);
    s->on(a.slot, core::Exited{core::ExitStatus::exited(1)}, now);  // the canary dies
  }
  CHECK_FALSE(s->apps()[0].rollout);
  CHECK(s->apps()[0].generation == 2);  // what every worker runs, not generation 1
  CHECK(s->apps()[0].spec.env == second.env);
}

TEST_CASE("walk: a relative scale of a stopped app says by how much, then that it is stopped") {
  Loop loop(web_config("2"));
  loop.ready_all();
  loop.request(R"({"cmd":"stop","app":"web"})");
  settle(loop);
  const auto reply = loop.request(R"({"cmd":"scale","app":"web","delta":1})");
  CHECK(reply->last().message ==
        "scaled web from 2 to 3 (+1); web is stopped: none starts until `start`");
}

TEST_CASE("walk: a socket stopped twice listens again, and what it accepts is not at its end") {
  // A port of its own: one the kernel picked (":0") is given back by the shutdown.
  config::Address address;
  address.host = "127.0.0.1";
  address.text = "127.0.0.1:0";
  address.port = os::local_port(os::bind_listener(address, 1, false).get());
  const os::UniqueFd listener = os::bind_listener(address, 16, true);
  os::stop_listening(listener.get());
  CHECK(os::socket_mismatch(listener.get(), address, false) == "not listening");
  CHECK(os::socket_mismatch(listener.get(), address, true).empty());  // as a live upgrade hands it
  os::stop_listening(listener.get());  // a master that took it over does not know it stopped
  os::listen_again(listener.get(), 16);
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(address.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(client, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
  const int accepted = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(accepted >= 0);
  char byte = 0;
  const ssize_t got = recv(accepted, &byte, 1, MSG_DONTWAIT);
  const int error = errno;
  CHECK(got == -1);  // nothing sent yet; a socket shut for reading said 0, the end, at once
  CHECK(error == EAGAIN);
  close(accepted);
  close(client);
}

TEST_CASE("a socket on a port the kernel picked keeps it when it stops and listens again") {
  config::Address address;
  address.host = "127.0.0.1";
  address.text = "127.0.0.1:0";
  const os::UniqueFd listener = os::bind_listener(address, 16, false);
  const std::uint16_t port = os::local_port(listener.get());
  REQUIRE(port != 0);
  os::stop_listening(listener.get());  // a stopped app
  os::listen_again(listener.get(), 16);
  CHECK(os::local_port(listener.get()) == port);  // before: another one, and `port` refused
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(client, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
  close(client);
}
