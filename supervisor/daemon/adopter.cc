#include "supervisor/daemon/adopter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <type_traits>
#include <variant>

#include "config/values.h"
#include "supervisor/core/adoption.h"

namespace clusterd::daemon {

namespace {

std::string call_text(const os::SocketCall& call) {
  if (call.kind == os::SocketCall::Kind::Listen) {
    return "listen(" + std::to_string(call.backlog) + ")";
  }
  return "bind(" + (call.address ? call.address->text : std::string("?")) + ")";
}

SocketAnswer replace(int fd, const core::Replacement& r) {
  SocketAnswer a;
  a.kind = SocketAnswer::Kind::Replace;
  a.fd = fd;
  a.nonblocking = r.nonblocking;
  a.cloexec = r.cloexec;
  return a;
}

}  // namespace

Adopter::~Adopter() {
  for (const auto& [app, made] : made_) {
    for (const Made& m : made) host_.close(m.fd);
  }
}

int Adopter::fd_of(const Caller& caller, std::size_t listener) const {
  if (listener >= caller.gen.listeners.size()) return -1;
  const Listener& l = *caller.gen.listeners[listener];
  const std::size_t which = l.spec.mode == config::ListenMode::ReusePort ? caller.slot : 0;
  return which < l.fds.size() && l.fds[which] ? l.fds[which].get() : -1;
}

// Which of the master's sockets the caller's fd is already (its inode against ours).
std::optional<core::HeldSocket> Adopter::held_by(const Caller& caller, const os::SocketCall& call,
                                                 const std::vector<Made>& made) const {
  if (!call.socket || call.socket->inode == 0) return std::nullopt;
  for (std::size_t i = 0; i < caller.gen.listeners.size(); ++i) {
    const int fd = fd_of(caller, i);
    if (fd >= 0 && host_.socket_inode(fd) == call.socket->inode) {
      return core::HeldSocket{core::HeldSocket::Kind::Listener, i};
    }
  }
  for (std::size_t i = 0; i < made.size(); ++i) {
    if (made[i].inode == call.socket->inode)
      return core::HeldSocket{core::HeldSocket::Kind::Made, i};
  }
  return std::nullopt;
}

Adopter::Answered Adopter::answer(const Caller& caller, const os::SocketCall& call) {
  std::vector<Made>& made = made_[caller.spec.name];
  core::AdoptionScope scope;
  for (const std::shared_ptr<Listener>& l : caller.gen.listeners)
    scope.listeners.push_back(l->spec);
  scope.all = caller.spec.adopt_all;
  for (const Made& m : made) scope.made.push_back(m.address);
  scope.privileged = caller.privileged;
  scope.unprivileged_port_start = host_.unprivileged_port_start();

  const std::optional<core::HeldSocket> held = held_by(caller, call, made);
  const auto fd_for = [&](const core::HeldSocket& s) {
    return s.kind == core::HeldSocket::Kind::Listener ? fd_of(caller, s.index)
                                                      : made.at(s.index).fd;
  };

  Answered out;
  out.what = call_text(call);
  if (call.kind == os::SocketCall::Kind::Listen) {
    const core::ListenAnswer decision = core::decide_listen({held, call.backlog});
    if (const auto* listening = std::get_if<core::Listening>(&decision)) {
      out.answer.kind = SocketAnswer::Kind::Succeed;
      out.listening = true;
      out.what += ": " + listening->reason;
    } else {
      out.what += ": " + std::get<core::LetRun>(decision).reason;
    }
    return out;
  }

  std::optional<core::CallerSocket> socket;
  if (call.socket) {
    socket = core::CallerSocket{call.socket->tcp, call.socket->ipv6, call.socket->v6only,
                                call.socket->nonblocking, call.socket->cloexec};
  }
  core::BindAnswer decision = core::decide_bind(scope, {call.address, socket, held, call.unseen});
  if (const auto* make = std::get_if<core::MakeSocket>(&decision)) {
    try {
      // The backlog of a made socket: the kernel's ceiling, as a listener's default.
      const int fd = host_.bind_adopted(make->address, 4096, make->v6only);
      made.push_back({make->address, fd, host_.socket_inode(fd)});
      out.made = true;
      decision = core::GiveSocket{
          {core::HeldSocket::Kind::Made, made.size() - 1}, make->replacement, make->reason};
    } catch (const std::system_error& e) {
      decision = core::made_socket_failed(*make, e.code().value(), e.what());
    }
  }
  std::visit(
      [&](const auto& a) {
        using A = std::decay_t<decltype(a)>;
        out.what += ": " + a.reason;
        if constexpr (std::is_same_v<A, core::GiveSocket>) {
          const int fd = fd_for(a.socket);
          if (fd < 0) {  // a slot without its socket (a reload between spawn and bind)
            out.answer.kind = SocketAnswer::Kind::Refuse;
            out.answer.error = EADDRNOTAVAIL;
            out.what += "; but that socket is gone: EADDRNOTAVAIL";
            return;
          }
          out.answer = replace(fd, a.replacement);
        } else if constexpr (std::is_same_v<A, core::ReturnZero>) {
          out.answer.kind = SocketAnswer::Kind::Succeed;
        } else if constexpr (std::is_same_v<A, core::FailCall>) {
          out.answer.kind = SocketAnswer::Kind::Refuse;
          out.answer.error = a.error;
        }
      },
      decision);
  return out;
}

std::vector<config::Address> Adopter::made(const std::string& app) const {
  std::vector<config::Address> out;
  if (const auto it = made_.find(app); it != made_.end()) {
    for (const Made& m : it->second) out.push_back(m.address);
  }
  return out;
}

void Adopter::keep_only(const config::Config& config) {
  for (auto it = made_.begin(); it != made_.end();) {
    const auto app = std::find_if(config.apps.begin(), config.apps.end(),
                                  [&](const config::AppSpec& a) { return a.name == it->first; });
    if (app != config.apps.end() && app->adopt_all) {
      ++it;
      continue;
    }
    for (const Made& m : it->second) {
      spdlog::info("{}: closing {}, made for adopt: all", it->first, m.address.text);
      host_.close(m.fd);
    }
    it = made_.erase(it);
  }
}

std::vector<HandedMadeSocket> Adopter::hand_over() const {
  std::vector<HandedMadeSocket> out;
  for (const auto& [app, made] : made_) {
    for (const Made& m : made) out.push_back({app, m.address.text, m.fd});
  }
  return out;
}

void Adopter::take_over(const std::vector<HandedMadeSocket>& handed, bool taking_back) {
  for (const HandedMadeSocket& h : handed) {
    const auto address = config::parse_address(h.address);
    if (!address.value) throw std::runtime_error("adopt: all: bad address " + h.address);
    // A worker may have shut the shared socket down (shutdown() of a listening socket): it is
    // still the app's, and the upgrade goes on.
    const std::string mismatch = host_.socket_mismatch(h.fd, *address.value, true);
    if (!mismatch.empty()) {
      const std::string why = "adopt: all: fd " + std::to_string(h.fd) + " is not the socket of " +
                              h.address + ": " + mismatch;
      if (!taking_back) throw std::runtime_error(why);
      spdlog::error("upgrade: taking the state back: {}; kept as it was", why);
    }
    made_[h.app].push_back({*address.value, h.fd, host_.socket_inode(h.fd)});
  }
}

}  // namespace clusterd::daemon
