// What to do about processes holding an address the master must listen on. A master killed
// with SIGKILL takes its workers with it (PR_SET_PDEATHSIG), but not what they started in a
// session of their own: without cgroups such a process can keep a listening socket, and the next
// master cannot bind. It may end such a process only when it can prove that it is a leftover of
// the previous master of this config, which is gone; anything else is named and left alone.
// Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace clusterd::core {

/// A process holding the address (or in the process group of one that does).
struct Occupant {
  int pid = 0;
  unsigned uid = 0;                     // effective
  bool one_uid = false;                 // its real, saved and filesystem uids are `uid` too
  std::string command;                  // "hello-worker --threads 1"
  std::optional<std::string> instance;  // CLUSTER_INSTANCE in its environment
};

/// The master that ran this config before (recorded beside the control socket).
struct PreviousMaster {
  std::string instance;         // its CLUSTER_INSTANCE
  std::optional<bool> running;  // nullopt: cannot be told (another pid namespace)
};

/// Why `o` may not be ended as a leftover of `previous`; nullopt when it may: it carries the
/// recorded instance of the previous master, which is gone, and it runs as the master's uid or
/// the app's user with all of its uids (anyone can write CLUSTER_INSTANCE into their own
/// environment: only those uids' processes are the master's to end).
std::optional<std::string> not_a_leftover(const Occupant& o,
                                          const std::optional<PreviousMaster>& previous,
                                          const std::vector<unsigned>& uids);

/// The decision about an address the master could not bind (or, with SO_REUSEPORT, would share).
struct AddressInUse {
  bool end = false;       // every holder is a leftover: end `pids`, then bind again
  std::vector<int> pids;  // the holders, and the leftovers in their process groups
  // To log when ending them ("held by pid 1234 (hello-worker), left by ..."); else the end of
  // the error ("by pid 1234 (python3 -m http.server): not started by clusterd ..."), empty when
  // no holder was found.
  std::string message;
};

/// Ends the holders only when every one of them is a leftover of `previous` and `not_now` is
/// empty (it says why not, else: the master is running, they survived SIGKILL); then also the
/// members of their process groups that are leftovers too (others there are left alone).
/// Otherwise names the holders, at most five, each with why it is not the master's to end.
AddressInUse judge_address_in_use(const std::vector<Occupant>& holders,
                                  const std::vector<Occupant>& group,
                                  const std::optional<PreviousMaster>& previous,
                                  const std::vector<unsigned>& uids,
                                  const std::optional<std::string>& not_now);

}  // namespace clusterd::core
