// Socket adoption through the whole daemon over the fake host (docs/adoption.md): which socket a
// worker's own bind() gets, `ready: listen`, and the sockets `adopt: all` makes and closes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>

#include "config/values.h"
#include "daemon_loop.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/daemon/upgrade_state.h"

using namespace clusterd;
using test::Loop;

namespace {

std::string adopt_config(const std::string& app_extra, const std::string& listen) {
  return "control: { socket: /run/test/ctl.sock }\n"
         "apps:\n"
         "  web:\n"
         "    command: [\"/bin/web\"]\n"
         "    instances: 2\n"
         "    ready: listen\n" +
         app_extra + listen;
}

const std::string kReuseportAdopt =
    "    listen:\n"
    "      http: { address: \"127.0.0.1:8080\", mode: reuseport, adopt: true }\n";

config::Address address(const std::string& text) {
  config::Result<config::Address> a = config::parse_address(text);
  REQUIRE(a.value);
  return *a.value;
}

// A bind() of `worker` (the fake pid 4242: a process it started counts the same) to `where`
// on a TCP socket of its own, inode `inode`.
os::SocketCall bind_call(const std::string& where, std::uint64_t inode, bool ipv6 = true) {
  os::SocketCall call;
  call.kind = os::SocketCall::Kind::Bind;
  call.id = inode;
  call.pid = 4242;
  call.fd = 3;
  call.address = address(where);
  os::TargetSocket socket;
  socket.domain = ipv6 ? 10 : 2;  // AF_INET6, AF_INET
  socket.tcp = true;
  socket.ipv6 = ipv6;
  socket.nonblocking = true;
  socket.inode = inode;
  call.socket = socket;
  return call;
}

os::SocketCall listen_call(std::uint64_t inode) {
  os::SocketCall call;
  call.kind = os::SocketCall::Kind::Listen;
  call.pid = 4242;
  call.backlog = 511;
  os::TargetSocket socket;
  socket.tcp = true;
  socket.inode = inode;
  call.socket = socket;
  return call;
}

}  // namespace

TEST_CASE("daemon: a worker's bind gets its slot's socket, its listen() makes it ready") {
  Loop loop(adopt_config("", kReuseportAdopt));
  REQUIRE(loop.alive().size() == 2);
  for (daemon::WorkerHandle h : loop.alive()) CHECK(loop.host.workers.at(h).request.adopt);
  const int slot0 = loop.host.workers.at(1).request.fds.at(0);
  const int slot1 = loop.host.workers.at(2).request.fds.at(0);

  // Node's server.listen(8080) binds [::]:8080: the wildcard gets the listener on its port.
  daemon::SocketAnswer a = loop.daemon->on_socket_call(1, bind_call("[::]:8080", 77));
  CHECK(a.kind == daemon::SocketAnswer::Kind::Replace);
  CHECK(a.fd == slot0);
  CHECK(a.nonblocking);  // as the caller's own socket was
  a = loop.daemon->on_socket_call(2, bind_call("0.0.0.0:8080", 78, false));
  CHECK(a.kind == daemon::SocketAnswer::Kind::Replace);
  CHECK(a.fd == slot1);
  // Another port is none of the master's business.
  CHECK(loop.daemon->on_socket_call(1, bind_call("127.0.0.1:9090", 79)).kind ==
        daemon::SocketAnswer::Kind::Proceed);

  // listen() on a socket that is not the master's: the kernel's, and no readiness.
  CHECK(loop.daemon->on_socket_call(1, listen_call(79)).kind ==
        daemon::SocketAnswer::Kind::Proceed);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Starting);
  // listen() on the master's socket (now the caller's fd): answered, and the worker is ready.
  const std::uint64_t inode0 = loop.host.socket_inode(slot0);
  CHECK(loop.daemon->on_socket_call(1, listen_call(inode0)).kind ==
        daemon::SocketAnswer::Kind::Succeed);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Running);
  CHECK(loop.web().slots[1].current().state() == core::LaneState::Starting);
}

TEST_CASE("daemon: adopt: all makes a socket once, shares it, and closes it when the key goes") {
  Loop loop(adopt_config("    adopt: all\n", ""));
  const std::size_t open_before = loop.host.open_fds.size();
  const daemon::SocketAnswer first = loop.daemon->on_socket_call(1, bind_call("[::]:3000", 91));
  REQUIRE(first.kind == daemon::SocketAnswer::Kind::Replace);
  CHECK(loop.host.open_fds.size() == open_before + 1);
  const daemon::SocketAnswer second = loop.daemon->on_socket_call(2, bind_call("[::]:3000", 92));
  REQUIRE(second.kind == daemon::SocketAnswer::Kind::Replace);
  CHECK(second.fd == first.fd);  // the same socket: PM2's cluster mode sharing one port
  CHECK(loop.host.open_fds.size() == open_before + 1);
  // Port 0 (an ephemeral port) is never adopted.
  CHECK(loop.daemon->on_socket_call(1, bind_call("[::]:0", 93)).kind ==
        daemon::SocketAnswer::Kind::Proceed);

  // A reload without adopt: all closes what it made.
  loop.host.config_text =
      "control: { socket: /run/test/ctl.sock }\n"
      "apps:\n"
      "  web:\n"
      "    command: [\"/bin/web\"]\n"
      "    instances: 2\n"
      "    ready: notify\n";
  auto reply = loop.request(R"({"cmd":"reload"})");
  CHECK(reply->lines.size() >= 1);
  CHECK(loop.host.open_fds.count(first.fd) == 0);
}

TEST_CASE("daemon: a call from what a reaped worker left behind is the kernel's to answer") {
  Loop loop(adopt_config("", kReuseportAdopt));
  loop.exit(1, core::ExitStatus::exited(1));
  CHECK(loop.daemon->on_socket_call(1, bind_call("[::]:8080", 55)).kind ==
        daemon::SocketAnswer::Kind::Proceed);
}

TEST_CASE(
    "daemon: ready: fd names the pipe after the sockets, a line on it makes the worker ready") {
  Loop loop(
      "control: { socket: /run/test/ctl.sock }\n"
      "apps:\n"
      "  web:\n"
      "    command: [\"/bin/web\"]\n"
      "    instances: 2\n"
      "    ready: fd\n"
      "    listen:\n"
      "      http: { address: \"127.0.0.1:8080\", mode: shared }\n");
  const daemon::SpawnRequest& request = loop.host.workers.at(1).request;
  CHECK(request.ready_pipe);
  CHECK(std::count(request.env.begin(), request.env.end(), "CLUSTER_READY_FD=4") == 1);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Starting);
  loop.notify(1, "STATUS=up");  // anything but its line does not count
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Starting);
  loop.daemon->on_ready_line(1);
  CHECK(loop.web().slots[0].current().state() == core::LaneState::Running);
  CHECK(loop.web().slots[1].current().state() == core::LaneState::Starting);
}

TEST_CASE(
    "daemon: a live upgrade hands over the sockets adopt: all made, and the new master "
    "gives the same one") {
  Loop old(adopt_config("    adopt: all\n", ""));
  const daemon::SocketAnswer made = old.daemon->on_socket_call(1, bind_call("[::]:3000", 91));
  REQUIRE(made.kind == daemon::SocketAnswer::Kind::Replace);
  const auto reply = old.request(R"({"cmd":"upgrade","binary":"/new/clusterd"})");
  REQUIRE(reply->finished);
  const daemon::UpgradeState state = daemon::decode_upgrade_state(old.host.exec_state);
  REQUIRE(state.made_sockets.size() == 1);
  CHECK(state.made_sockets[0].app == "web");
  CHECK(state.made_sockets[0].address == "[::]:3000");
  CHECK(state.made_sockets[0].fd == made.fd);
  const std::vector<int> kept = state.fds();
  CHECK(std::count(kept.begin(), kept.end(), made.fd) == 1);  // open across the exec

  Loop adopted(state, old.host.clock);
  const daemon::WorkerHandle worker = adopted.alive().front();
  const daemon::SocketAnswer again =
      adopted.daemon->on_socket_call(worker, bind_call("[::]:3000", 95));
  CHECK(again.kind == daemon::SocketAnswer::Kind::Replace);
  CHECK(again.fd == made.fd);  // not a second socket on the same port
}
