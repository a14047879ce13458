// How many control connections and follow streams each kind of peer may hold, so that read-only
// users, however many connections they open, can lock out neither the admins nor each other. Pure:
// the server asks before it admits a connection or starts a follow, and says when either ends.
//
// Of `max_clients` places, a quarter (at least one, from two places on) is kept for admins: the
// read role's connections together take at most the rest. Follow streams (`logs`/`events` with
// `follow`) are at most 8 per uid, whatever its role, and those of the read role together at most
// half the places. Other requests are bounded by the places alone.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "supervisor/control/commands.h"

namespace clusterd::control {

struct AdmissionLimits {
  std::size_t max_clients = 64;
  static constexpr std::size_t kFollowsPerUid = 8;
  /// Places only admins may take.
  std::size_t admin_reserve() const;
  /// Connections of read-role peers, together.
  std::size_t read_places() const;
  /// Follow streams of read-role peers, together.
  std::size_t read_follows() const;
};

class Admission {
 public:
  explicit Admission(AdmissionLimits limits = {}) : limits_(limits) {}
  void set_limits(AdmissionLimits limits) { limits_ = limits; }
  const AdmissionLimits& limits() const { return limits_; }

  /// What a newcomer of `role` needs before it may enter: nothing, or the place of an idle
  /// connection (no request in progress) of the read role (ReadPlace) or of any role (AnyPlace),
  /// closed for it.
  enum class Need { Nothing, ReadPlace, AnyPlace };
  Need need(Role role) const;
  /// The reply to a newcomer of `role` for whom no idle connection could be closed.
  std::string full(Role role) const;
  void enter(Role role);
  void leave(Role role);

  /// A follow stream for `uid` of `role`: nullopt when it may start (it is then counted), else
  /// the refusal.
  std::optional<std::string> start_follow(Role role, uid_t uid);
  void end_follow(Role role, uid_t uid);

  std::size_t clients() const { return clients_; }
  std::size_t readers() const { return readers_; }
  std::size_t follows_of(uid_t uid) const;

 private:
  AdmissionLimits limits_;
  std::size_t clients_ = 0;       // connections admitted, every role
  std::size_t readers_ = 0;       // of those, the read role's
  std::size_t read_follows_ = 0;  // follow streams of the read role
  std::map<uid_t, std::size_t> follows_;
};

}  // namespace clusterd::control
