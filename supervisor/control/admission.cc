#include "supervisor/control/admission.h"

#include <algorithm>

namespace clusterd::control {

std::size_t AdmissionLimits::admin_reserve() const {
  return max_clients < 2 ? 0 : std::max<std::size_t>(1, max_clients / 4);
}

std::size_t AdmissionLimits::read_places() const { return max_clients - admin_reserve(); }

std::size_t AdmissionLimits::read_follows() const {
  return std::max<std::size_t>(1, max_clients / 2);
}

Admission::Need Admission::need(Role role) const {
  if (role == Role::Read) {
    // Never an admin's place, even an idle one: those are the admins'.
    return readers_ >= limits_.read_places() || clients_ >= limits_.max_clients ? Need::ReadPlace
                                                                                : Need::Nothing;
  }
  return clients_ >= limits_.max_clients ? Need::AnyPlace : Need::Nothing;
}

std::string Admission::full(Role role) const {
  if (role == Role::Read) {
    return "too many clients of the read role (" + std::to_string(limits_.read_places()) +
           " places, every one busy); try again later";
  }
  return "too many clients (" + std::to_string(limits_.max_clients) + "); try again later";
}

void Admission::enter(Role role) {
  ++clients_;
  if (role == Role::Read) ++readers_;
}

void Admission::leave(Role role) {
  if (clients_ > 0) --clients_;
  if (role == Role::Read && readers_ > 0) --readers_;
}

std::optional<std::string> Admission::start_follow(Role role, uid_t uid) {
  std::size_t& mine = follows_[uid];
  if (mine >= AdmissionLimits::kFollowsPerUid) {
    return "too many follow streams for uid " + std::to_string(uid) + " (" +
           std::to_string(AdmissionLimits::kFollowsPerUid) + " open); end one first";
  }
  if (role == Role::Read && read_follows_ >= limits_.read_follows()) {
    if (mine == 0) follows_.erase(uid);
    return "too many follow streams of the read role (" + std::to_string(limits_.read_follows()) +
           " open); try again later";
  }
  ++mine;
  if (role == Role::Read) ++read_follows_;
  return std::nullopt;
}

void Admission::end_follow(Role role, uid_t uid) {
  const auto it = follows_.find(uid);
  if (it != follows_.end() && --it->second == 0) follows_.erase(it);
  if (role == Role::Read && read_follows_ > 0) --read_follows_;
}

std::size_t Admission::follows_of(uid_t uid) const {
  const auto it = follows_.find(uid);
  return it == follows_.end() ? 0 : it->second;
}

}  // namespace clusterd::control
