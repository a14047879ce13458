// What the random walk of every command (tests/e2e/walk.sh) found, each reduced to its fewest
// moves: the core with a fake clock, the daemon over a fake host, and the kernel for the one
// socket case. Each of these failed before its fix.
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
#include "supervisor/os/listeners.h"

using namespace clusterd;
using namespace std::chrono_literals;
using core::LaneState;
using test::Loop;
using test::web_config;

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
