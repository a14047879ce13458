#include "supervisor/control/access.h"

#include <algorithm>

namespace clusterd::control {

namespace {

bool member(const Peer& peer, const std::vector<uid_t>& users, const std::vector<gid_t>& groups) {
  if (std::find(users.begin(), users.end(), peer.uid) != users.end()) return true;
  for (gid_t group : groups) {
    if (peer.gid == group) return true;
    if (std::find(peer.groups.begin(), peer.groups.end(), group) != peer.groups.end()) return true;
  }
  return false;
}

}  // namespace

std::optional<Role> role_of(const Peer& peer, const AccessList& access, uid_t daemon_uid) {
  if (peer.uid == 0 || peer.uid == daemon_uid) return Role::Admin;
  if (member(peer, access.admin_users, access.admin_groups)) return Role::Admin;
  if (member(peer, access.read_users, access.read_groups)) return Role::Read;
  return std::nullopt;
}

}  // namespace clusterd::control
