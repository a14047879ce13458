#include "supervisor/core/cgroup_choice.h"

namespace clusterd::core {

namespace {

CgroupChoice without(const CgroupFacts& facts, std::string why) {
  const bool may_fall_back = facts.setting == "auto" || facts.setting == "off";
  return {may_fall_back ? CgroupChoice::Kind::Without : CgroupChoice::Kind::Refuse,
          {},
          false,
          std::move(why)};
}

CgroupChoice tree(const CgroupFacts& facts, std::string root, bool own, std::string reason) {
  if (!facts.unusable.empty()) return without(facts, "cannot use " + root + ": " + facts.unusable);
  return {CgroupChoice::Kind::PerWorker, std::move(root), own, std::move(reason)};
}

}  // namespace

std::string CgroupChoice::text(const std::string& setting) const {
  switch (kind) {
    case Kind::PerWorker:
      return "per-worker cgroups under " + root + "/workers (" + reason + ")";
    case Kind::Without:
      return "no per-worker cgroups: " + reason;
    case Kind::Refuse:
      break;
  }
  return "cgroups: " + setting + " cannot be used: " + reason;
}

CgroupChoice choose_cgroups(const CgroupFacts& facts) {
  if (facts.setting == "off") return without(facts, "cgroups: off");
  if (facts.mount.empty()) return without(facts, "no cgroup v2 hierarchy is mounted");
  if (facts.setting != "auto") {
    if (facts.setting != facts.mount && facts.setting.rfind(facts.mount + "/", 0) != 0) {
      return without(
          facts, "cgroups: " + facts.setting + " is not under the cgroup v2 mount " + facts.mount);
    }
    return tree(facts, facts.setting, false, "cgroups: " + facts.setting);
  }
  const std::string path = facts.own == "/" ? facts.mount : facts.mount + facts.own;
  if (!facts.own_writable)
    return without(facts, "the master's cgroup " + path + " is not writable");
  if (facts.delegated) return tree(facts, path, true, "delegated by systemd");
  if (facts.own == "/" && facts.own_namespace) {
    return tree(facts, path, true, "a container's cgroup namespace");
  }
  return without(facts, "the master's cgroup " + path +
                            " is not delegated to it (Delegate=yes) and no cgroups: parent is set");
}

}  // namespace clusterd::core
