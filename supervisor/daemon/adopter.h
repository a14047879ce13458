// Socket adoption in the daemon (docs/adoption.md): which of the master's sockets a worker's own
// bind() gets, by the rules of core/adoption.h, and the sockets `adopt: all` made for each app.
// The host reads each call and carries out the answer (loop/adoption_calls.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/adoption.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/listeners.h"

namespace clusterd::daemon {

class Adopter {
 public:
  explicit Adopter(Sockets& sockets) : host_(sockets) {}
  ~Adopter();  // closes the sockets made for `adopt: all`
  Adopter(const Adopter&) = delete;
  Adopter& operator=(const Adopter&) = delete;

  /// The worker that called: its app as its generation runs it, and its slot.
  struct Caller {
    const config::AppSpec& spec;
    const Generation& gen;
    unsigned slot = 0;
    bool privileged = false;  // it could bind a port below ip_unprivileged_port_start itself
  };
  struct Answered {
    SocketAnswer answer;
    bool listening = false;  // a listen() on one of the master's sockets: `ready: listen`
    bool made = false;       // `adopt: all` made a socket for this call
    std::string what;        // for the log: "bind(0.0.0.0:8080): ... "
  };
  /// The answer to one call of `caller`. Throws nothing a worker can cause: a socket `adopt:
  /// all` cannot bind fails the caller's bind with that error.
  Answered answer(const Caller& caller, const os::SocketCall& call);

  /// The addresses `adopt: all` made for `app`, in the order made.
  std::vector<config::Address> made(const std::string& app) const;
  /// After a reload: closes what was made for an app that is gone or no longer `adopt: all`.
  void keep_only(const config::Config& config);

  /// A live upgrade: what was made, for the next master, which takes it. Throws when a socket
  /// handed over is not what it says (an address that does not parse, an fd bound elsewhere).
  std::vector<HandedMadeSocket> hand_over() const;
  void take_over(const std::vector<HandedMadeSocket>& made, bool taking_back = false);

 private:
  struct Made {
    config::Address address;
    int fd = -1;
    std::uint64_t inode = 0;
  };
  int fd_of(const Caller& caller, std::size_t listener) const;
  std::optional<core::HeldSocket> held_by(const Caller& caller, const os::SocketCall& call,
                                          const std::vector<Made>& made) const;

  Sockets& host_;
  std::map<std::string, std::vector<Made>> made_;  // by app name
};

}  // namespace clusterd::daemon
