#include "supervisor/daemon/occupied.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace clusterd::daemon {

namespace {

std::vector<core::Occupant> facts(const std::vector<os::Occupant>& processes) {
  std::vector<core::Occupant> out;
  for (const os::Occupant& p : processes) {
    out.push_back({p.pid, static_cast<unsigned>(p.uid), p.one_uid, p.command, p.instance});
  }
  return out;
}

}  // namespace

void Occupied::starting(const std::string& record) {
  starting_ = true;
  record_ = record;
  previous_.reset();
  if (std::optional<std::string> id = host_.read_instance_record(record)) {
    previous_ = core::PreviousMaster{*id, host_.instance_running(*id)};
  }
}

void Occupied::started() {
  if (!starting_) return;
  starting_ = false;
  try {
    host_.write_instance_record(record_, host_.instance_id());
  } catch (const std::exception& e) {
    spdlog::warn(
        "cannot record this master's CLUSTER_INSTANCE: {}; if it is killed, the next master "
        "cannot tell what its workers leave behind from anyone else's",
        e.what());
  }
}

core::AddressInUse Occupied::judge(const config::Address& address, const AddressOwner& owner,
                                   const std::optional<std::string>& not_now) {
  occupants_ = host_.address_occupants(address);
  return core::judge_address_in_use(facts(occupants_.holders), facts(occupants_.group), previous_,
                                    owner.uids, not_now);
}

void Occupied::end(const std::string& label, const core::AddressInUse& verdict,
                   const AddressOwner& owner) {
  spdlog::warn("{}: {} (SIGTERM, SIGKILL after {} ms)", label, verdict.message,
               owner.grace.count());
  std::vector<os::Occupant> who;
  for (const std::vector<os::Occupant>* list : {&occupants_.holders, &occupants_.group}) {
    for (const os::Occupant& o : *list) {
      if (std::find(verdict.pids.begin(), verdict.pids.end(), o.pid) != verdict.pids.end()) {
        who.push_back(o);
      }
    }
  }
  const std::vector<int> left = host_.end_processes(who, owner.grace);
  if (left.empty()) {
    spdlog::info("{}: ended {} leftover process{}", label, who.size(), who.size() == 1 ? "" : "es");
    return;
  }
  std::string pids;
  for (int pid : left) pids += (pids.empty() ? "" : ", ") + std::to_string(pid);
  spdlog::error("{}: still there after SIGKILL: pid {}", label, pids);
}

void Occupied::in_use(const std::string& error, const config::Address& address,
                      const AddressOwner& owner, bool last) {
  std::optional<std::string> not_now;
  if (!starting_) not_now = "a running master ends no process it did not start";
  if (starting_ && last) not_now = "they are still there after SIGKILL";
  const core::AddressInUse verdict = judge(address, owner, not_now);
  if (!verdict.end) {
    throw std::runtime_error(verdict.message.empty() ? error : error + " " + verdict.message);
  }
  end(address.text, verdict, owner);
}

std::string Occupied::before_reuseport(const config::Address& address, const AddressOwner& owner) {
  if (!starting_ || address.family == config::Address::Family::Unix || address.port == 0) {
    return {};
  }
  const core::AddressInUse verdict = judge(address, owner, std::nullopt);
  if (!verdict.end) return verdict.message;
  end(address.text, verdict, owner);
  return {};
}

}  // namespace clusterd::daemon
