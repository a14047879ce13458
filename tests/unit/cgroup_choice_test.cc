// core/cgroup_choice.h: where per-worker cgroups go, one row per rule.
#include "supervisor/core/cgroup_choice.h"

#include <catch2/catch.hpp>

using namespace clusterd;
using Kind = core::CgroupChoice::Kind;

namespace {

struct Row {
  const char* what;
  core::CgroupFacts facts;
  Kind kind;
  const char* root;  // PerWorker only
  bool own;
  const char* text;
};

core::CgroupFacts facts(std::string setting, std::string own = "/system.slice/c.service",
                        bool writable = true, bool delegated = false, bool own_ns = false,
                        std::string mount = "/sys/fs/cgroup/unified", std::string unusable = "") {
  return {std::move(setting), std::move(mount), std::move(own),     writable,
          delegated,          own_ns,           std::move(unusable)};
}

}  // namespace

TEST_CASE("cgroup choice: each rule, with the line status and the log show", "[cgroups]") {
  const std::string m = "/sys/fs/cgroup/unified";
  const Row rows[] = {
      {"off is off, whatever the machine", facts("off", "/", true, true, true), Kind::Without, "",
       false, "no per-worker cgroups: cgroups: off"},
      {"auto without a v2 mount", facts("auto", "/x", true, true, false, ""), Kind::Without, "",
       false, "no per-worker cgroups: no cgroup v2 hierarchy is mounted"},
      {"auto, delegated by systemd", facts("auto", "/system.slice/c.service", true, true),
       Kind::PerWorker, "/sys/fs/cgroup/unified/system.slice/c.service", true,
       "per-worker cgroups under /sys/fs/cgroup/unified/system.slice/c.service/workers "
       "(delegated by systemd)"},
      {"auto, a container's own namespace at its root", facts("auto", "/", true, false, true),
       Kind::PerWorker, "/sys/fs/cgroup/unified", true,
       "per-worker cgroups under /sys/fs/cgroup/unified/workers (a container's cgroup "
       "namespace)"},
      {"auto, own namespace but not at its root", facts("auto", "/a", true, false, true),
       Kind::Without, "", false,
       "no per-worker cgroups: the master's cgroup /sys/fs/cgroup/unified/a is not delegated to "
       "it (Delegate=yes) and no cgroups: parent is set"},
      {"auto, the host's root cgroup, not a namespace", facts("auto", "/", true, false, false),
       Kind::Without, "", false,
       "no per-worker cgroups: the master's cgroup /sys/fs/cgroup/unified is not delegated to it "
       "(Delegate=yes) and no cgroups: parent is set"},
      {"auto, not writable even when delegated", facts("auto", "/s", false, true), Kind::Without,
       "", false,
       "no per-worker cgroups: the master's cgroup /sys/fs/cgroup/unified/s is not "
       "writable"},
      {"auto, delegated but the tree could not be made",
       facts("auto", "/s", true, true, false, m, "mkdir: Permission denied"), Kind::Without, "",
       false,
       "no per-worker cgroups: cannot use /sys/fs/cgroup/unified/s: mkdir: Permission "
       "denied"},
      {"a named parent under the mount", facts(m + "/apps"), Kind::PerWorker,
       "/sys/fs/cgroup/unified/apps", false,
       "per-worker cgroups under /sys/fs/cgroup/unified/apps/workers (cgroups: "
       "/sys/fs/cgroup/unified/apps)"},
      {"the mount itself", facts(m), Kind::PerWorker, "/sys/fs/cgroup/unified", false,
       "per-worker cgroups under /sys/fs/cgroup/unified/workers (cgroups: "
       "/sys/fs/cgroup/unified)"},
      {"a named parent beside the mount (a prefix is not a parent)", facts(m + "x/apps"),
       Kind::Refuse, "", false,
       "cgroups: /sys/fs/cgroup/unifiedx/apps cannot be used: cgroups: "
       "/sys/fs/cgroup/unifiedx/apps is not under the cgroup v2 mount /sys/fs/cgroup/unified"},
      {"a named parent without a v2 mount", facts("/sys/fs/cgroup/x", "/", true, true, true, ""),
       Kind::Refuse, "", false,
       "cgroups: /sys/fs/cgroup/x cannot be used: no cgroup v2 hierarchy is mounted"},
      {"a named parent that could not be prepared",
       facts(m + "/apps", "/", true, false, false, m, "mkdir: Read-only file system"), Kind::Refuse,
       "", false,
       "cgroups: /sys/fs/cgroup/unified/apps cannot be used: cannot use "
       "/sys/fs/cgroup/unified/apps: mkdir: Read-only file system"},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    const core::CgroupChoice choice = core::choose_cgroups(row.facts);
    CHECK(choice.kind == row.kind);
    CHECK(choice.text(row.facts.setting) == row.text);
    if (row.kind == Kind::PerWorker) {
      CHECK(choice.root == row.root);
      CHECK(choice.own == row.own);
    }
  }
}
