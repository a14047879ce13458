#include "supervisor/core/adoption.h"

#include <cerrno>
#include <string_view>

namespace clusterd::core {

namespace {

using Family = config::Address::Family;

bool is_wildcard(const config::Address& a) {
  return (a.family == Family::Ipv4 && a.host == "0.0.0.0") ||
         (a.family == Family::Ipv6 && a.host == "::");
}

std::string text_of(const config::Address& a) {
  return a.family == Family::Ipv6 ? "[" + a.host + "]:" + std::to_string(a.port)
                                  : a.host + ":" + std::to_string(a.port);
}

bool same_host(const config::Address& a, const config::Address& b) {
  return a.family == b.family && a.host == b.host && a.port == b.port;
}

// A listener a bind may get: `adopt: true`, or every TCP listener the master holds under
// `adopt: all`.
bool adoptable(const config::ListenerSpec& listener, bool all) {
  return (listener.adopt || all) && listener.address.family != Family::Unix &&
         listener.mode != config::ListenMode::Worker;
}

// The held socket a bind to `bound` (unmapped) gets: an exact match first (configured, then
// made), then the first a wildcard bind matches.
std::optional<HeldSocket> find_held(const AdoptionScope& scope, const config::Address& bound) {
  for (bool exact : {true, false}) {
    const auto fits = [&](const config::Address& listener) {
      return exact ? same_host(bound, unmapped(listener)) : bind_matches(bound, listener);
    };
    for (std::size_t i = 0; i < scope.listeners.size(); ++i) {
      if (adoptable(scope.listeners[i], scope.all) && fits(scope.listeners[i].address)) {
        return HeldSocket{HeldSocket::Kind::Listener, i};
      }
    }
    for (std::size_t i = 0; i < scope.made.size(); ++i) {
      if (fits(scope.made[i])) return HeldSocket{HeldSocket::Kind::Made, i};
    }
  }
  return std::nullopt;
}

std::string name_of(const AdoptionScope& scope, const HeldSocket& held) {
  if (held.kind == HeldSocket::Kind::Listener) {
    const config::ListenerSpec& l = scope.listeners[held.index];
    return "listener '" + l.name + "' (" + l.address.text + ")";
  }
  return "the socket adopt: all made for " + scope.made[held.index].text;
}

}  // namespace

config::Address unmapped(const config::Address& address) {
  constexpr std::string_view kMapped = "::ffff:";
  const std::string_view host = address.host;
  // inet_ntop writes a mapped address as ::ffff: and a dotted quad, and nothing else so.
  if (address.family != Family::Ipv6 || host.size() <= kMapped.size() ||
      host.substr(0, kMapped.size()) != kMapped ||
      host.substr(kMapped.size()).find_first_not_of("0123456789.") != std::string_view::npos) {
    return address;
  }
  config::Address v4 = address;
  v4.family = Family::Ipv4;
  v4.host = address.host.substr(kMapped.size());
  v4.text = text_of(v4);
  return v4;
}

bool bind_matches(const config::Address& bound, const config::Address& listener) {
  const config::Address b = unmapped(bound);
  const config::Address l = unmapped(listener);
  if (b.family == Family::Unix || l.family == Family::Unix) return false;
  if (b.port == 0 || b.port != l.port) return false;
  return same_host(b, l) || is_wildcard(b);
}

Replacement replacement_for(const CallerSocket& socket) {
  return Replacement{socket.nonblocking, socket.cloexec};
}

BindAnswer decide_bind(const AdoptionScope& scope, const BindCall& call) {
  if (!call.address) {
    return LetRun{call.unseen.empty()
                      ? "not an IPv4 or IPv6 address (Unix and other families are never adopted)"
                      : call.unseen};
  }
  const config::Address& named = *call.address;
  if (!call.socket) return LetRun{call.unseen.empty() ? "the fd is not a socket" : call.unseen};
  const CallerSocket& socket = *call.socket;
  if (!socket.tcp) return LetRun{"not a TCP socket (UDP and other kinds are never adopted)"};
  if ((named.family == Family::Ipv6) != socket.ipv6) {
    return LetRun{"the address's family is not the socket's (the kernel refuses it)"};
  }
  if (named.port == 0) return LetRun{"port 0 (an ephemeral port) is never adopted"};
  const config::Address bound = unmapped(named);
  if (socket.v6only && bound.family != named.family) {
    return LetRun{"an IPv4-mapped address on an IPv6-only socket (the kernel refuses it)"};
  }
  const std::optional<HeldSocket> held = find_held(scope, bound);
  if (call.held) {
    if (held == call.held) return ReturnZero{"bound already to " + name_of(scope, *held)};
    return FailCall{EINVAL, "the socket is bound already, to " + name_of(scope, *call.held)};
  }
  if (held) {
    return GiveSocket{*held, replacement_for(socket),
                      "bind(" + named.text + ") gets " + name_of(scope, *held)};
  }
  if (!scope.all) return LetRun{bound.text + " is no adopted listener's address"};
  if (scope.made.size() >= kMaxMadeSockets) {
    return LetRun{"adopt: all holds " + std::to_string(kMaxMadeSockets) +
                  " sockets for this app already: " + bound.text + " is left to the worker"};
  }
  if (bound.port < scope.unprivileged_port_start && !scope.privileged) {
    return LetRun{"port " + std::to_string(bound.port) +
                  " is below net.ipv4.ip_unprivileged_port_start (" +
                  std::to_string(scope.unprivileged_port_start) +
                  "): adopt: all binds no port the worker could not bind itself"};
  }
  return MakeSocket{bound, bound.family == Family::Ipv6 && socket.v6only, replacement_for(socket),
                    "adopt: all: the first bind of " + bound.text + " makes a shared socket"};
}

FailCall made_socket_failed(const MakeSocket& make, int error, const std::string& what) {
  return FailCall{error, "adopt: all could not bind " + make.address.text + ": " + what};
}

ListenAnswer decide_listen(const ListenCall& call) {
  if (!call.held) return LetRun{"not a socket of the master"};
  return Listening{*call.held, "listen(" + std::to_string(call.backlog) +
                                   ") on the master's socket: answered without the kernel, "
                                   "the socket keeps its own backlog"};
}

}  // namespace clusterd::core
