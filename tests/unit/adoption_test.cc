// The rules of socket adoption (core/adoption.h), table by table: how a bind's address matches a
// listener's, which answer each kind of bind gets with `adopt: true` and with `adopt: all`, what
// the replacement carries, and what a listen() gets.
#include "supervisor/core/adoption.h"

#include <catch2/catch.hpp>
#include <cerrno>

#include "config/values.h"

using namespace clusterd;

namespace {

config::Address at(const std::string& text) {
  config::Result<config::Address> r = config::parse_address(text);
  REQUIRE(r.value);
  return *r.value;
}

config::ListenerSpec listener(const std::string& name, const std::string& address, bool adopt,
                              config::ListenMode mode = config::ListenMode::Shared) {
  config::ListenerSpec l;
  l.name = name;
  l.address = at(address);
  l.adopt = adopt;
  l.mode = mode;
  return l;
}

core::CallerSocket tcp4() { return core::CallerSocket{true, false, false, false, true}; }
core::CallerSocket tcp6() { return core::CallerSocket{true, true, false, true, true}; }

core::BindCall bind_of(const std::string& address, core::CallerSocket socket = tcp4()) {
  core::BindCall call;
  call.address = at(address);
  call.socket = socket;
  return call;
}

// "run", "give listener 0", "give made 1", "make 127.0.0.1:80 (v6only)", "zero", "fail EINVAL"
std::string answer(const core::BindAnswer& a) {
  if (std::holds_alternative<core::LetRun>(a)) return "run";
  if (const auto* g = std::get_if<core::GiveSocket>(&a)) {
    return std::string("give ") +
           (g->socket.kind == core::HeldSocket::Kind::Listener ? "listener " : "made ") +
           std::to_string(g->socket.index);
  }
  if (const auto* m = std::get_if<core::MakeSocket>(&a)) {
    return "make " + m->address.text + (m->v6only ? " (v6only)" : "");
  }
  if (std::holds_alternative<core::ReturnZero>(a)) return "zero";
  const auto& f = std::get<core::FailCall>(a);
  return f.error == EINVAL ? "fail EINVAL" : "fail " + std::to_string(f.error);
}

std::string reason(const core::BindAnswer& a) {
  return std::visit([](const auto& x) { return x.reason; }, a);
}

core::AdoptionScope scope() {
  core::AdoptionScope s;
  s.listeners = {listener("web", "127.0.0.1:8080", true), listener("api", "[::1]:9090", false),
                 listener("sock", "unix:/run/x.sock", false),
                 listener("own", "127.0.0.1:7070", false, config::ListenMode::Worker)};
  return s;
}

}  // namespace

TEST_CASE("adoption: how a bind's address matches a listener's", "[adoption]") {
  struct Row {
    const char* bound;
    const char* listener;
    bool match;
  };
  const Row rows[] = {
      {"127.0.0.1:80", "127.0.0.1:80", true},           // exact
      {"127.0.0.1:81", "127.0.0.1:80", false},          // another port
      {"127.0.0.2:80", "127.0.0.1:80", false},          // another host
      {"0.0.0.0:80", "127.0.0.1:80", true},             // a wildcard bind gets the port
      {"[::]:80", "127.0.0.1:80", true},                // Node's server.listen(PORT)
      {"[::]:80", "[::1]:80", true},                    //
      {"[::ffff:127.0.0.1]:80", "127.0.0.1:80", true},  // mapped = its IPv4
      {"127.0.0.1:80", "[::ffff:127.0.0.1]:80", true},  //
      {"[::ffff:0.0.0.0]:80", "10.0.0.1:80", true},     // the mapped wildcard
      {"127.0.0.1:80", "0.0.0.0:80", false},            // a host of its own on a wildcard listener
      {"[::1]:80", "127.0.0.1:80", false},              // another family's loopback
      {"[::1]:80", "[::]:80", false},                   //
      {"127.0.0.1:0", "127.0.0.1:0", false},            // port 0 never
      {"0.0.0.0:0", "127.0.0.1:0", false},              //
      {"unix:/x", "unix:/x", false},                    // unix never
  };
  for (const Row& row : rows) {
    INFO(row.bound << " on " << row.listener);
    CHECK(core::bind_matches(at(row.bound), at(row.listener)) == row.match);
  }
  CHECK(core::unmapped(at("[::ffff:10.1.2.3]:8080")).text == "10.1.2.3:8080");
  CHECK(core::unmapped(at("[::ffff:10.1.2.3]:8080")).family == config::Address::Family::Ipv4);
  CHECK(core::unmapped(at("[::1]:8080")).text == "[::1]:8080");
  CHECK(core::unmapped(at("[::ffff:0:1]:8080")).text == "0.0.0.1:8080");         // ::ffff:0.0.0.1
  CHECK(core::unmapped(at("[::127.0.0.1]:8080")).text == "[::127.0.0.1]:8080");  // compatible
  CHECK(core::unmapped(at("[64:ff9b::127.0.0.1]:8080")).text == "[64:ff9b::127.0.0.1]:8080");
}

TEST_CASE("adoption: adopt: true listeners, one answer per kind of bind", "[adoption]") {
  const core::AdoptionScope s = scope();
  core::CallerSocket udp = tcp4();
  udp.tcp = false;
  core::CallerSocket v6only = tcp6();
  v6only.v6only = true;
  core::BindCall unreadable;
  unreadable.socket = tcp4();
  unreadable.unseen = "reading the address from its memory: Operation not permitted";
  core::BindCall unix_bind;
  unix_bind.socket = tcp4();
  core::BindCall no_socket;
  no_socket.address = at("127.0.0.1:8080");
  struct Row {
    const char* what;
    core::BindCall call;
    const char* answer;
  };
  const Row rows[] = {
      {"its exact address", bind_of("127.0.0.1:8080"), "give listener 0"},
      {"the IPv4 wildcard", bind_of("0.0.0.0:8080"), "give listener 0"},
      {"the IPv6 wildcard (dual stack)", bind_of("[::]:8080", tcp6()), "give listener 0"},
      {"its mapped address", bind_of("[::ffff:127.0.0.1]:8080", tcp6()), "give listener 0"},
      {"another port", bind_of("127.0.0.1:8081"), "run"},
      {"port 0", bind_of("127.0.0.1:0"), "run"},
      {"a listener without adopt", bind_of("[::1]:9090", tcp6()), "run"},
      {"a worker-mode listener", bind_of("127.0.0.1:7070"), "run"},
      {"UDP on the port", bind_of("127.0.0.1:8080", udp), "run"},
      {"an IPv4 address on an IPv6 socket", bind_of("127.0.0.1:8080", tcp6()), "run"},
      {"a mapped address on an IPv6-only socket", bind_of("[::ffff:127.0.0.1]:8080", v6only),
       "run"},
      {"a Unix or unreadable address", unix_bind, "run"},
      {"memory it could not read", unreadable, "run"},
      {"an fd that is no socket", no_socket, "run"},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    CHECK(answer(core::decide_bind(s, row.call)) == row.answer);
  }
  CHECK(reason(core::decide_bind(s, unreadable)) == unreadable.unseen);
  CHECK(reason(core::decide_bind(s, unix_bind)) ==
        "not an IPv4 or IPv6 address (Unix and other families are never adopted)");
  CHECK(reason(core::decide_bind(s, bind_of("127.0.0.1:8081"))) ==
        "127.0.0.1:8081 is no adopted listener's address");
  CHECK(reason(core::decide_bind(s, bind_of("0.0.0.0:8080"))) ==
        "bind(0.0.0.0:8080) gets listener 'web' (127.0.0.1:8080)");
}

TEST_CASE("adoption: a socket already given answers its bind again with 0, another with EINVAL",
          "[adoption]") {
  const core::AdoptionScope s = scope();
  core::BindCall again = bind_of("127.0.0.1:8080");
  again.held = core::HeldSocket{core::HeldSocket::Kind::Listener, 0};
  CHECK(answer(core::decide_bind(s, again)) == "zero");  // a bind interrupted after the ADDFD
  core::BindCall elsewhere = bind_of("127.0.0.1:9999");
  elsewhere.held = again.held;
  CHECK(answer(core::decide_bind(s, elsewhere)) == "fail EINVAL");  // as the kernel says
  CHECK(reason(core::decide_bind(s, elsewhere)) ==
        "the socket is bound already, to listener 'web' (127.0.0.1:8080)");
}

TEST_CASE("adoption: the replacement carries O_NONBLOCK and FD_CLOEXEC", "[adoption]") {
  for (const bool nonblocking : {false, true}) {
    for (const bool cloexec : {false, true}) {
      core::CallerSocket socket = tcp4();
      socket.nonblocking = nonblocking;
      socket.cloexec = cloexec;
      const core::BindAnswer a = core::decide_bind(scope(), bind_of("127.0.0.1:8080", socket));
      REQUIRE(std::holds_alternative<core::GiveSocket>(a));
      CHECK(std::get<core::GiveSocket>(a).replacement == core::Replacement{nonblocking, cloexec});
    }
  }
}

TEST_CASE("adoption: adopt: all makes a socket at the first bind, gives it to the later ones",
          "[adoption]") {
  core::AdoptionScope s = scope();
  s.all = true;
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.1:7000"))) == "make 127.0.0.1:7000");
  CHECK(answer(core::decide_bind(s, bind_of("[::]:7001", tcp6()))) == "make [::]:7001");
  core::CallerSocket v6only = tcp6();
  v6only.v6only = true;
  CHECK(answer(core::decide_bind(s, bind_of("[::]:7001", v6only))) == "make [::]:7001 (v6only)");
  CHECK(answer(core::decide_bind(s, bind_of("[::ffff:127.0.0.1]:7002", tcp6()))) ==
        "make 127.0.0.1:7002");
  // Every TCP listener the master holds counts, adopt: true or not; Unix and worker mode never.
  CHECK(answer(core::decide_bind(s, bind_of("[::1]:9090", tcp6()))) == "give listener 1");
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.1:7070"))) == "make 127.0.0.1:7070");
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.1:0"))) == "run");
  s.made = {at("127.0.0.1:7000")};
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.1:7000"))) == "give made 0");
  CHECK(answer(core::decide_bind(s, bind_of("[::]:7000", tcp6()))) == "give made 0");
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.2:7000"))) == "make 127.0.0.2:7000");
}

TEST_CASE("adoption: an exact match comes before config order", "[adoption]") {
  core::AdoptionScope s;
  s.all = true;
  s.listeners = {listener("v6", "[::1]:8080", true)};
  s.made = {at("127.0.0.1:8080")};
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.1:8080"))) == "give made 0");
  CHECK(answer(core::decide_bind(s, bind_of("[::]:8080", tcp6()))) == "give listener 0");
}

TEST_CASE("adoption: adopt: all makes no socket a worker could not bind itself", "[adoption]") {
  core::AdoptionScope s;
  s.all = true;
  s.unprivileged_port_start = 1024;
  CHECK(answer(core::decide_bind(s, bind_of("0.0.0.0:80"))) == "run");
  CHECK(reason(core::decide_bind(s, bind_of("0.0.0.0:80"))) ==
        "port 80 is below net.ipv4.ip_unprivileged_port_start (1024): adopt: all binds no port "
        "the worker could not bind itself");
  CHECK(answer(core::decide_bind(s, bind_of("0.0.0.0:1024"))) == "make 0.0.0.0:1024");
  s.privileged = true;
  CHECK(answer(core::decide_bind(s, bind_of("0.0.0.0:80"))) == "make 0.0.0.0:80");
  s.unprivileged_port_start = 0;
  s.privileged = false;
  CHECK(answer(core::decide_bind(s, bind_of("0.0.0.0:80"))) == "make 0.0.0.0:80");
}

TEST_CASE("adoption: adopt: all holds at most kMaxMadeSockets per app", "[adoption]") {
  core::AdoptionScope s;
  s.all = true;
  for (std::size_t i = 0; i < core::kMaxMadeSockets; ++i) {
    s.made.push_back(at("127.0.0.1:" + std::to_string(20000 + i)));
  }
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.1:20000"))) == "give made 0");
  CHECK(answer(core::decide_bind(s, bind_of("127.0.0.1:30000"))) == "run");
}

TEST_CASE("adoption: a socket adopt: all could not bind fails the caller's bind with its errno",
          "[adoption]") {
  const core::MakeSocket make{at("127.0.0.1:7000"), false, {}, ""};
  const core::FailCall f = core::made_socket_failed(make, EADDRINUSE, "bind: Address in use");
  CHECK(f.error == EADDRINUSE);
  CHECK(f.reason == "adopt: all could not bind 127.0.0.1:7000: bind: Address in use");
}

TEST_CASE("adoption: listen() on a given socket is answered without the kernel", "[adoption]") {
  const core::HeldSocket web{core::HeldSocket::Kind::Listener, 0};
  const core::ListenAnswer given = core::decide_listen({web, 511});
  REQUIRE(std::holds_alternative<core::Listening>(given));
  CHECK(std::get<core::Listening>(given).socket == web);
  CHECK(std::get<core::Listening>(given).reason ==
        "listen(511) on the master's socket: answered without the kernel, the socket keeps its "
        "own backlog");
  CHECK(std::holds_alternative<core::LetRun>(core::decide_listen({std::nullopt, 511})));
}
