// The rules of socket adoption (docs/adoption.md): which master-held socket a worker's own bind()
// gets, what its listen() does, and how the socket put in its place is set up. Pure: the OS layer
// reads the calls (supervisor/os/adopt.h) and carries out the answers.
//
// How a bind's address matches a listener's (the same rule for configured listeners and for
// those `adopt: all` made):
//   - only TCP over IPv4/IPv6 (MPTCP counts as TCP), with a port other than 0: UDP, Unix and
//     every other family, and port 0 (an ephemeral port), are never adopted;
//   - the ports must be equal;
//   - an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is its IPv4 address;
//   - equal hosts match; a bind to the wildcard (0.0.0.0 or ::) matches a listener on its port
//     whatever the listener's host (Node's `server.listen(PORT)` binds ::);
//   - a bind to a host of its own on a wildcard listener's port does not match (it would get a
//     socket that accepts on every address: it proceeds, and the kernel refuses it);
//   - among several listeners that match, an exact one comes first, then the first in config
//     order, then the first made.
// Anything that does not match proceeds untouched: the kernel answers it as it would have.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/config.h"

namespace clusterd::core {

/// The socket behind the fd a worker passed, as the master saw it.
struct CallerSocket {
  bool tcp = false;   // a TCP (or MPTCP) stream socket over IPv4 or IPv6
  bool ipv6 = false;  // an AF_INET6 socket (else AF_INET, when tcp)
  bool v6only = false;
  bool nonblocking = false;  // O_NONBLOCK of its open file
  bool cloexec = true;       // FD_CLOEXEC of its fd
};

/// A socket the master holds for an app: its listener `index` in config order (`listen:`), or
/// the `index`th one made for `adopt: all`.
struct HeldSocket {
  enum class Kind { Listener, Made };
  Kind kind = Kind::Listener;
  std::size_t index = 0;
  friend bool operator==(const HeldSocket&, const HeldSocket&) = default;
};

/// A bind() of one of the app's workers (or of anything it started).
struct BindCall {
  /// The address it names, if IPv4 or IPv6 and readable; nullopt otherwise (`unseen` says why,
  /// when it could not be read).
  std::optional<config::Address> address;
  /// The socket behind its fd; nullopt when it is not an open socket.
  std::optional<CallerSocket> socket;
  /// The fd is already one of the master's sockets (a bind made again after a signal
  /// interrupted the first, once answered; or a second bind of the same socket).
  std::optional<HeldSocket> held;
  std::string unseen;
};

/// What the app offers to adoption.
struct AdoptionScope {
  std::vector<config::ListenerSpec> listeners;  // the app's, in config order
  bool all = false;                             // `adopt: all`
  std::vector<config::Address> made;            // made for `adopt: all` so far, in order
  /// The worker could bind ports below `unprivileged_port_start` itself (root, or
  /// CAP_NET_BIND_SERVICE): `adopt: all` makes no socket a worker could not have bound.
  bool privileged = false;
  unsigned unprivileged_port_start = 1024;  // net.ipv4.ip_unprivileged_port_start
};

/// `adopt: all` makes at most this many sockets per app; later addresses proceed untouched.
inline constexpr std::size_t kMaxMadeSockets = 64;

/// How the socket put in the caller's place is set up: what it carries over from the caller's
/// own socket. Options the program set on its own socket before bind() (SO_RCVBUF, TCP_NODELAY,
/// SO_BINDTODEVICE, ...) go with that socket and are not carried over (docs/adoption.md).
struct Replacement {
  bool nonblocking = false;  // libuv and Go make non-blocking sockets and never set it again
  bool cloexec = true;
  friend bool operator==(const Replacement&, const Replacement&) = default;
};
Replacement replacement_for(const CallerSocket& socket);

// The answers to a bind(). Each carries why, for the log.
struct LetRun {  // the kernel runs the call as if nothing had stopped it
  std::string reason;
};
struct GiveSocket {  // our socket in place of the caller's, and 0 returned
  HeldSocket socket;
  Replacement replacement;
  std::string reason;
};
struct MakeSocket {  // `adopt: all`: bind a shared listener at `address`, then give it
  config::Address address;
  bool v6only = false;  // for [::]: the caller's own choice (Node's is dual-stack)
  Replacement replacement;
  std::string reason;
};
struct ReturnZero {  // 0 returned without running the call
  std::string reason;
};
struct FailCall {  // the call fails with `error` (an errno value) without running
  int error = 0;
  std::string reason;
};
using BindAnswer = std::variant<LetRun, GiveSocket, MakeSocket, ReturnZero, FailCall>;

/// Which answer a worker's bind() gets.
BindAnswer decide_bind(const AdoptionScope& scope, const BindCall& call);

/// The answer to a bind() whose MakeSocket failed with `error` (EADDRINUSE, EADDRNOTAVAIL, ...):
/// the caller gets that error, as if its own bind had failed so.
FailCall made_socket_failed(const MakeSocket& make, int error, const std::string& what);

/// A listen() of one of the app's workers.
struct ListenCall {
  std::optional<HeldSocket> held;  // its fd is one of the master's sockets
  int backlog = 0;
};
/// listen() on a socket the master gave: 0 without running it (the master's socket listens
/// already, with the backlog of the config: a worker's listen() never shrinks it, as Node's 511
/// would the 4096 of clusterd). It is the moment a worker reaches the line where its server
/// starts: `ready: listen`.
struct Listening {
  HeldSocket socket;
  std::string reason;
};
using ListenAnswer = std::variant<LetRun, Listening>;
ListenAnswer decide_listen(const ListenCall& call);

/// `address` with an IPv4-mapped IPv6 host (::ffff:a.b.c.d) written as the IPv4 address.
config::Address unmapped(const config::Address& address);
/// True when a bind to `bound` gets a listener on `listener` (the rules at the top).
bool bind_matches(const config::Address& bound, const config::Address& listener);

}  // namespace clusterd::core
