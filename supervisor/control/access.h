// Who may use the control socket, and for what: a peer's role from its credentials. Pure.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

#include "supervisor/control/commands.h"

namespace clusterd::control {

/// Who is asking (SO_PEERCRED, and SO_PEERGROUPS for the supplementary groups).
struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

/// Users and groups granted each role (from `control: { read: [...], admin: [...] }`, names
/// resolved to ids). Root and the daemon's own uid are always admin.
struct AccessList {
  std::vector<uid_t> admin_users;
  std::vector<gid_t> admin_groups;
  std::vector<uid_t> read_users;
  std::vector<gid_t> read_groups;
};

/// The role of `peer`, or nullopt when it may not connect at all.
std::optional<Role> role_of(const Peer& peer, const AccessList& access, uid_t daemon_uid);

}  // namespace clusterd::control
