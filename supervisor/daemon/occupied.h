// Addresses another process holds: who it is, in the error; and at the start, what a master
// killed with SIGKILL left behind (docs/reliability.md). The master records its id
// (CLUSTER_INSTANCE, which every worker carries) beside its control socket; the next one reads
// it before binding, and ends the processes holding its addresses when the core finds every one
// of them a leftover of that master, which is gone (core/leftovers.h). Nothing else is touched.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/leftovers.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

/// Who may own a leftover on an address: the master's uid and the app's `user:`, and how long
/// it gets between SIGTERM and SIGKILL (the app's stop_timeout).
struct AddressOwner {
  std::vector<unsigned> uids;
  std::chrono::milliseconds grace{0};
};

class Occupied {
 public:
  explicit Occupied(Occupancy& host) : host_(host) {}

  /// A fresh start, before any bind: the previous master of this config is the one recorded in
  /// `record`. Until started(), leftovers of it may be ended.
  void starting(const std::string& record);
  /// The master's own workers are about to start: records this master in the record, and from
  /// now on nothing is ended, only named. Logs a warning when the record cannot be written.
  void started();

  /// `address` could not be bound: it is in use (EADDRINUSE, `error` says so). Returns when it
  /// ended the holders, leftovers of the previous master (bind again); else throws
  /// std::runtime_error: `error` and who holds the address, and why each is not ours to end.
  /// `last`: ending them has been tried enough; they are only named then.
  void in_use(const std::string& error, const config::Address& address, const AddressOwner& owner,
              bool last);
  /// Before the first SO_REUSEPORT socket of `address` is bound at the start (that bind succeeds
  /// beside sockets of the same uid, and would share their connections): ends the leftovers of
  /// the previous master holding it. Returns who else holds it ("by pid 1234 (...): ..."), to
  /// warn about if the bind succeeds; empty when nobody does.
  std::string before_reuseport(const config::Address& address, const AddressOwner& owner);

 private:
  core::AddressInUse judge(const config::Address& address, const AddressOwner& owner,
                           const std::optional<std::string>& not_now);
  void end(const std::string& label, const core::AddressInUse& verdict, const AddressOwner& owner);

  Occupancy& host_;
  bool starting_ = false;
  std::string record_;
  std::optional<core::PreviousMaster> previous_;
  os::Occupants occupants_;  // of the last judge()
};

}  // namespace clusterd::daemon
