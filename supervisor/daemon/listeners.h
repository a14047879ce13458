// The listening sockets the master holds, by app and generation. A generation's listeners are
// shared with the previous generation's wherever a reload kept the address and mode, so a
// rollout hands the same socket to the old and the new workers and no connection is refused.
// Every socket is made through the host (its Sockets role), and closed through it when the last
// generation using it is forgotten.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "supervisor/core/reload_plan.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/occupied.h"

namespace clusterd::daemon {

class Adopter;

/// A socket the master holds, closed through the host when dropped.
class Fd {
 public:
  Fd() = default;
  Fd(Sockets& sockets, int fd) : host_(&sockets), fd_(fd) {}
  Fd(Fd&& other) noexcept : host_(other.host_), fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset();

 private:
  Sockets* host_ = nullptr;
  int fd_ = -1;
};

/// Whether a socket listens: the master stops a TCP socket listening (keeping its address) while
/// no worker will serve on it, so that no connection waits there. Unknown: taken over from the
/// previous master, which may have done either.
enum class Listening : char { Unknown, Yes, No };

/// A configured listener with the sockets the master holds for it.
struct Listener {
  config::ListenerSpec spec;
  std::vector<Fd> fds;               // shared: one; reuseport: one per slot; worker: none
  std::vector<Listening> listening;  // parallel to fds (missing: Unknown)
};

/// What the workers of one generation of an app need besides its spec.
struct Generation {
  std::string executable;
  std::optional<os::Ids> ids;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::vector<std::pair<std::shared_ptr<Listener>, int>> new_backlogs;  // applied when installed
};

class Listeners {
 public:
  Listeners(Sockets& sockets, Machine& machine, SystemdLink& systemd, Occupancy& occupancy);
  ~Listeners();  // removes the socket files of unix listeners the master created

  /// Takes the sockets systemd passed, before anything is bound.
  void adopt_passed();
  /// Closes (and names in the log) passed sockets no listener claimed.
  void close_unclaimed_passed();

  /// Resolves the command of `spec` and gets its listeners' sockets for `slots` slots: from
  /// `running` (a running generation) as `steps` say, else bound anew. `ids`: the credentials of
  /// its `user:`/`group:`, looked up already. Throws, naming the problem; whatever it bound is
  /// closed again then.
  Generation prepare(const config::AppSpec& spec, unsigned slots, const Generation* running,
                     const std::vector<core::ListenerStep>* steps, std::optional<os::Ids> ids,
                     const os::ResolvedNames& names);
  /// Sockets so that the reuseport listeners of `gen` cover `slots` slots, not yet installed.
  /// Throws, naming the problem; nothing is installed then.
  std::vector<std::pair<Listener*, std::vector<Fd>>> grow(const Generation& gen, unsigned slots);
  /// Installs what grow() made.
  void install(std::vector<std::pair<Listener*, std::vector<Fd>>> grown);
  /// Lets go of the reuseport sockets of slots >= `slots` in every generation of `app` (scale
  /// down, or a retired slot). Returns whether any was closed.
  bool shrink(std::map<unsigned, Generation>& generations, unsigned slots);
  /// A scale of `app` down to `slots`: shrink(), and the one warning when sockets closed while
  /// net.ipv4.tcp_migrate_req is 0 (their queued connections are reset).
  void scale_down(const std::string& app, std::map<unsigned, Generation>& generations,
                  unsigned slots);
  /// What installing a prepared generation changes in sockets it shares with a running one: a
  /// new backlog (listen() again; it cannot fail on a listening socket).
  void apply_backlogs(Generation& gen);

  /// Who holds an address that cannot be bound; at the start, the previous master's leftovers.
  Occupied& occupied() { return occupied_; }
  /// The workers' own binds under socket adoption, and the sockets `adopt: all` made.
  Adopter& adoption() { return *adoption_; }
  const Adopter& adoption() const { return *adoption_; }

  /// Whether the master created the socket file at `address` (removed at its exit).
  bool created_file(const config::Address& address) const;
  /// A socket file the previous master created: this one removes it at its exit (an upgrade).
  void keep_socket_file(const config::Address& address) { socket_files_.push_back(address); }

  /// The fd store's wanted contents: "listener/slot" -> fd, for the given generations.
  static void store_names(const Generation& gen, std::map<std::string, int>& out);

  /// Which sockets should listen: per listener, per socket index.
  using Wanted = std::map<const Listener*, std::vector<bool>>;
  /// Adds the sockets a serving worker of `gen` in slot `slot` takes connections from.
  static void want(const Generation& gen, unsigned slot, Wanted& wanted);
  /// Makes each TCP socket of `generations` listen when `wanted` has it, and stop listening
  /// otherwise: connections queued on a socket that stops move to another socket of its
  /// SO_REUSEPORT group where net.ipv4.tcp_migrate_req is on, else they are reset; new ones go
  /// to the group's other sockets, or are refused. (A Unix socket that stopped could not listen
  /// again: those always listen.)
  void apply(std::map<unsigned, Generation>& generations, const Wanted& wanted);
  /// Makes the sockets a worker of `gen` in slot `slot` gets listen, before it starts.
  void listen_for(const Generation& gen, unsigned slot);
  /// Connections queued on a reuseport socket the master stops should move to the socket's
  /// peers instead of being reset: turns net.ipv4.tcp_migrate_req on, once, the first time
  /// `reuseport` (a config has a reuseport listener).
  void migrate_queues(bool reuseport);

 private:
  Fd take_passed(const config::ListenerSpec& spec, unsigned slot);
  void set_listening(Listener& listener, std::size_t index, bool on);
  Fd bind(const config::ListenerSpec& spec, const config::Address& address, bool reuseport,
          const os::SocketAccess& access, const AddressOwner& owner);
  std::shared_ptr<Listener> bind_listener(const std::string& app, const config::ListenerSpec& spec,
                                          unsigned slots, bool beside,
                                          const os::SocketAccess& access,
                                          const AddressOwner& owner);
  AddressOwner owner_of(const std::optional<os::Ids>& ids, config::Duration grace);

  Sockets& sockets_;
  Machine& machine_;
  SystemdLink& systemd_;
  Occupied occupied_;
  std::unique_ptr<Adopter> adoption_;
  std::multimap<std::string, Fd> passed_;      // by name, until claimed
  std::vector<config::Address> socket_files_;  // unix sockets the master created
  bool migrate_checked_ = false;               // migrate_queues() looked at tcp_migrate_req
};

}  // namespace clusterd::daemon
